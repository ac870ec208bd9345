"""Anthropic's Messages API: its routes, its wire shapes, its translation to and from the one chat
pipeline, and its error envelope on its own paths."""

from server.protocols import WireProtocol
from server.protocols.anthropic.errors import MESSAGES_PATH, anthropic_error_body
from server.protocols.anthropic.routes import router

PROTOCOL = WireProtocol(
    name="anthropic", routers=(router,), error_envelopes={MESSAGES_PATH: anthropic_error_body}
)
