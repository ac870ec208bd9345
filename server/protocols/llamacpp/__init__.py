"""llama-server's own routes, for the clients written against it: tokenize and detokenize, and
fill-in-the-middle (/infill)."""

from server.protocols import WireProtocol
from server.protocols.llamacpp.infill import INFILL_PATH
from server.protocols.llamacpp.infill import router as infill_router
from server.protocols.llamacpp.tokenize import router as tokenize_router

PROTOCOL = WireProtocol(
    name="llamacpp",
    routers=(tokenize_router, infill_router),
    # Editors' requests to /infill, like llama-server's examples, are `curl -d` bodies.
    json_body_prefixes=(INFILL_PATH,),
)
