"""Counts the requests in flight, and once shutdown has begun turns new ones away with a 503.

The open paths (/health, /metrics) stay open while draining: they are how the outside sees the shutdown.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.types import ASGIApp, Receive, Scope, Send

from server.service.errors import APIError, error_response
from server.service.shutdown import ShutdownState

RETRY_AFTER_SECONDS = 5


class ShutdownGate:
    def __init__(self, app: ASGIApp, state: ShutdownState, is_open: Callable[[str], bool]) -> None:
        self.app = app
        self.state = state
        self._is_open = is_open

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self._is_open(scope["path"]):
            await self.app(scope, receive, send)
            return
        if self.state.is_shutting_down:
            error = APIError(
                503,
                "The server is shutting down and takes no new requests.",
                code="shutting_down",
                headers={"Retry-After": str(RETRY_AFTER_SECONDS), "Connection": "close"},
            )
            await error_response(error, scope)(scope, receive, send)
            return
        self.state.num_in_flight += 1
        try:
            await self.app(scope, receive, send)
        finally:
            self.state.num_in_flight -= 1
