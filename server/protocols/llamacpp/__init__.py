"""llama-server's own routes, for the clients written against it: tokenize and detokenize."""

from server.protocols import WireProtocol
from server.protocols.llamacpp.tokenize import router

PROTOCOL = WireProtocol(name="llamacpp", routers=(router,))
