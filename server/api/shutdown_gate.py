"""Counts the requests in flight, and once shutdown has begun turns new ones away with a 503.

/health and /metrics stay open while draining: they are how the outside sees the shutdown.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

from server.api.errors import APIError
from server.shutdown import ShutdownState

ALWAYS_OPEN_PATHS = frozenset({"/health", "/metrics"})
RETRY_AFTER_SECONDS = 5


class ShutdownGate:
    def __init__(self, app: ASGIApp, state: ShutdownState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in ALWAYS_OPEN_PATHS:
            await self.app(scope, receive, send)
            return
        if self.state.is_shutting_down:
            error = APIError(
                503,
                "The server is shutting down and takes no new requests.",
                code="shutting_down",
                headers={"Retry-After": str(RETRY_AFTER_SECONDS), "Connection": "close"},
            )
            await error.to_response(scope.get("path", ""))(scope, receive, send)
            return
        self.state.num_in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.state.num_in_flight -= 1
