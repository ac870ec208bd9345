"""What a stream transport is: how a protocol's chunks go on the wire, the items that close every
stream, the keep-alive sent while a model loads, and the response that carries the stream.

Transports know nothing of any protocol; a protocol picks one (server/service/transports/sse.py,
ndjson.py) and builds its chunks."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any, Protocol

from pydantic import BaseModel
from starlette.responses import Response
from starlette.types import Receive, Scope, Send


class Transport(Protocol):
    media_type: str
    # Sent while the stream waits for its model to load; None where the framing has no such line.
    keep_alive: Any | None

    def frame(self, chunk: BaseModel) -> Any: ...

    @property
    def closing(self) -> tuple[Any, ...]: ...

    def response(
        self,
        stream: AsyncIterator[Any],
        *,
        ping_seconds: float = ...,
        on_close: Callable[[], None] | None = None,
    ) -> Response: ...


class RunsOnClose:
    """Mixed into a streaming response: runs `on_close` once the response is over, however it ended
    (done, failed or disconnected), even if the stream never started."""

    _on_close: Callable[[], None] | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)  # type: ignore[misc]
        finally:
            if self._on_close is not None:
                self._on_close()
