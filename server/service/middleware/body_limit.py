"""A ceiling on request bodies: 413 in the path's error envelope, before the app parses anything, and 408
for a body that takes longer than its deadline to arrive (a slowloris client sending a byte at a
time holds nothing for long).

A declared Content-Length over the limit is refused without reading. Otherwise the body is read
here, counted chunk by chunk, so a chunked upload without Content-Length is stopped as soon as it
passes the limit rather than after it has been buffered whole. The app then receives the body as
one message; later receive() calls go to the server as before (the disconnect watchers need that).
"""

from __future__ import annotations

import asyncio

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.service.errors import APIError, error_response


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server rejects a malformed length itself
    return None


def _too_large(max_bytes: int) -> APIError:
    return APIError(
        413,
        f"The request body is too large: this server accepts at most {max_bytes} bytes.",
        code="request_too_large",
    )


def _too_slow(seconds: float) -> APIError:
    return APIError(
        408,
        f"The request body did not arrive within {seconds:g} seconds.",
        code="request_timeout",
        headers={"Connection": "close"},
    )


class BodySizeLimit:
    def __init__(self, app: ASGIApp, max_bytes: int, timeout_seconds: float = 30.0) -> None:
        if max_bytes < 1:
            raise ValueError("max_bytes must be at least 1")
        self.app = app
        self.max_bytes = max_bytes
        self.timeout_seconds = timeout_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _declared_length(scope)
        if declared is not None and declared > self.max_bytes:
            await error_response(_too_large(self.max_bytes), scope)(scope, receive, send)
            return
        try:
            async with asyncio.timeout(self.timeout_seconds):
                first = await self._read_body(receive)
        except TimeoutError:
            await error_response(_too_slow(self.timeout_seconds), scope)(scope, receive, send)
            return
        if first is None:
            await error_response(_too_large(self.max_bytes), scope)(scope, receive, send)
            return
        pending: list[Message] = [first]

        async def replay() -> Message:
            return pending.pop() if pending else await receive()

        await self.app(scope, replay, send)

    async def _read_body(self, receive: Receive) -> Message | None:
        """The whole body as one message (or the disconnect that cut it short); None past the limit."""
        parts: list[bytes] = []
        num_bytes = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return message
            body = message.get("body", b"")
            num_bytes += len(body)
            if num_bytes > self.max_bytes:
                return None
            parts.append(body)
            if not message.get("more_body", False):
                return {"type": "http.request", "body": b"".join(parts), "more_body": False}
