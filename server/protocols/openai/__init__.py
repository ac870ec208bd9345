"""OpenAI's API: chat completions, completions, embeddings and models, and localchat's render routes
beside them. Its errors take the default envelope, which is OpenAI's shape."""

from server.protocols import WireProtocol
from server.protocols.openai import chat, completions, embeddings, models

PROTOCOL = WireProtocol(
    name="openai", routers=(chat.router, completions.router, embeddings.router, models.router)
)
