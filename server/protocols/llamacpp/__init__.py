"""llama-server's own routes, for the clients written against it: tokenize and detokenize, and
fill-in-the-middle (/infill)."""

from fastapi import FastAPI

from server.protocols import WireProtocol
from server.protocols.llamacpp.infill import INFILL_PATH
from server.protocols.llamacpp.infill import router as infill_router
from server.protocols.llamacpp.tokenize import router as tokenize_router
from server.service.middleware.json_body import AssumeJSONBody


def _read_infill_bodies_as_json(app: FastAPI) -> None:
    # Editors' requests to /infill, like llama-server's examples, are `curl -d` bodies.
    app.add_middleware(AssumeJSONBody, prefixes=(INFILL_PATH,))


PROTOCOL = WireProtocol(
    name="llamacpp", routers=(tokenize_router, infill_router), on_create=_read_infill_bodies_as_json
)
