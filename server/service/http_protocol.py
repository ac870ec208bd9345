"""uvicorn's h11 protocol with a deadline on request headers: a client that opens a connection and
sends its headers a byte at a time (slowloris) is disconnected instead of holding the connection
for ever. uvicorn times out idle keep-alive connections, but not a request that never finishes
arriving; the body has its own deadline (server/service/middleware/body_limit.py). Broken HTTP is
answered in the default JSON error envelope: before any request, no protocol owns the connection."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from server.service.errors import invalid_request

_BROKEN_HTTP = json.dumps(
    invalid_request(
        "Invalid HTTP request: its request line, headers or framing (such as Content-Length) could not "
        "be read. The connection is closed.",
        code="invalid_http_request",
    ).to_dict()
).encode()


class HeaderDeadlineProtocol(H11Protocol):
    header_seconds: float = 10.0

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timer: asyncio.TimerHandle | None = None

    @property
    def _awaits_headers(self) -> bool:
        return self.cycle is None or self.cycle.response_complete

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._watch_headers()

    def data_received(self, data: bytes) -> None:
        super().data_received(data)
        self._watch_headers()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_watching()
        super().connection_lost(exc)

    def _watch_headers(self) -> None:
        if not self._awaits_headers:
            self._stop_watching()
        elif self._header_timer is None:
            self._header_timer = self.loop.call_later(self.header_seconds, self._headers_too_slow)

    def _stop_watching(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def send_400_response(self, msg: str) -> None:
        # uvicorn's own answer is plain text, which clients that parse every error as JSON choke on.
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(_BROKEN_HTTP)).encode()),
            (b"connection", b"close"),
        ]
        events = (
            h11.Response(status_code=400, headers=headers, reason=b"Bad Request"),
            h11.Data(data=_BROKEN_HTTP),
            h11.EndOfMessage(),
        )
        try:
            for event in events:
                self.transport.write(self.conn.send(event))
        except h11.LocalProtocolError:
            pass  # a response was already under way on this connection: closing is all that is left
        self.transport.close()

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if self._awaits_headers and not self.transport.is_closing():
            self.transport.close()


def header_deadline_protocol(seconds: float) -> type[HeaderDeadlineProtocol]:
    return type("HeaderDeadlineProtocol", (HeaderDeadlineProtocol,), {"header_seconds": seconds})
