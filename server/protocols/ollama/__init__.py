"""Ollama's native API under /api: chat and generate (NDJSON streams by default), embeddings, the
model listing routes, pull, copy and delete on the catalog, with Ollama's `{"error": ...}` envelope
on every /api path, whose bodies are JSON whatever their Content-Type says (as Ollama reads them).
`GET /` says "Ollama is running" to clients that probe for it, and /api/version is open without a
key, as clients check the connection with it before they send one."""

from server.protocols import WireProtocol
from server.protocols.ollama.chat import router as chat_router
from server.protocols.ollama.embed import router as embed_router
from server.protocols.ollama.generate import router as generate_router
from server.protocols.ollama.models import router as models_router
from server.protocols.ollama.pull import router as pull_router
from server.protocols.ollama.wire import API_PREFIX, VERSION_PATH, ollama_error_body

PROTOCOL = WireProtocol(
    name="ollama",
    routers=(chat_router, generate_router, embed_router, models_router, pull_router),
    error_envelopes={API_PREFIX: ollama_error_body},
    keyless_paths=frozenset({VERSION_PATH}),
    root_text="Ollama is running",
    json_body_prefixes=(API_PREFIX,),
)
