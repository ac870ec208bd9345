"""Server-sent events: the transport of OpenAI's, the Responses API's and Anthropic's streams.

A protocol picks its framing: bare `data:` lines (OpenAI's chat and completions) or events named after
each chunk's `type` (Responses, Anthropic), and the data line, if any, that closes every stream. Comment
lines keep the connection alive while nothing else is sent.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import BaseModel
from sse_starlette.sse import EventSourceResponse, ServerSentEvent

from server.service.transports.transport import RunsOnClose

SSE_MEDIA_TYPE = "text/event-stream"
DEFAULT_PING_SECONDS = 15.0


@dataclass(frozen=True)
class SSE:
    is_named: bool = False
    # The last data line of every stream, even one that ended with an error event.
    done: str | None = None

    media_type: ClassVar[str] = SSE_MEDIA_TYPE
    # An SSE comment line (": keep-alive"): clients skip it, proxies see the connection is alive.
    keep_alive: ClassVar[dict[str, Any]] = {"comment": "keep-alive"}

    def frame(self, chunk: BaseModel) -> dict[str, Any]:
        data = chunk.model_dump_json(exclude_unset=False)
        if self.is_named:
            return {"event": getattr(chunk, "type"), "data": data}  # noqa: B009  # every named event has one
        return {"data": data}

    @property
    def closing(self) -> tuple[dict[str, Any], ...]:
        return ({"data": self.done},) if self.done is not None else ()

    def response(
        self,
        stream: AsyncIterator[Any],
        *,
        ping_seconds: float = DEFAULT_PING_SECONDS,
        on_close: Callable[[], None] | None = None,
    ) -> EventSourceResponse:
        return _SSEResponse(stream, ping_seconds=ping_seconds, on_close=on_close)


# Events named after their type, closed by nothing: the Responses and Anthropic APIs' framing.
NAMED_EVENTS = SSE(is_named=True)


class _SSEResponse(RunsOnClose, EventSourceResponse):
    def __init__(
        self,
        stream: AsyncIterator[dict[str, Any]],
        *,
        ping_seconds: float,
        on_close: Callable[[], None] | None,
    ) -> None:
        super().__init__(
            stream,
            ping=ping_seconds,
            sep="\n",
            ping_message_factory=lambda: ServerSentEvent(comment=SSE.keep_alive["comment"], sep="\n"),
        )
        self._on_close = on_close
