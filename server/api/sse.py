"""The one stream envelope shared by chat and completions: opening chunk, deltas, finish chunk,
optional usage chunk, and always `[DONE]`, even after an error event."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable, Iterable
from typing import Any, Protocol

from pydantic import BaseModel
from sse_starlette.sse import EventSourceResponse, ServerSentEvent
from starlette.types import Receive, Scope, Send

from server.api.errors import APIError
from server.api.generation import engine_failure, finish_reason
from server.api.request_tracking import note_event
from server.engine.sampling import TokenLogprob
from server.engine.sequence import Event, Failed, Finished, TextDelta, Usage

log = logging.getLogger("localchat.api")
DONE = "[DONE]"
# An SSE comment line (": keep-alive"): clients skip it, proxies see the connection is alive.
KEEP_ALIVE = {"comment": "keep-alive"}
DEFAULT_PING_SECONDS = 15.0


class ChunkFactory(Protocol):
    """Builds the endpoint's chunk objects; the envelope decides when each is sent."""

    def opening(self) -> BaseModel | None: ...

    # Chat may turn one text delta into no chunk (text held back by its output parser) or several.
    def delta(self, text: str, logprobs: tuple[TokenLogprob, ...]) -> Iterable[BaseModel]: ...

    def finish(self, reason: str) -> Iterable[BaseModel]: ...

    def usage(self, usage: Usage) -> BaseModel: ...


def _data(chunk: BaseModel) -> dict[str, Any]:
    return {"data": chunk.model_dump_json(exclude_unset=False)}


async def stream_envelope(
    events: AsyncIterator[Event], chunks: ChunkFactory, *, include_usage: bool
) -> AsyncIterator[dict[str, Any]]:
    try:
        opening = chunks.opening()
        if opening is not None:
            yield _data(opening)
        async for event in events:
            note_event(event)
            if isinstance(event, TextDelta):
                for chunk in chunks.delta(event.text, event.logprobs):
                    yield _data(chunk)
            elif isinstance(event, Finished):
                for chunk in chunks.finish(finish_reason(event)):
                    yield _data(chunk)
                if include_usage:
                    yield _data(chunks.usage(event.usage))
            elif isinstance(event, Failed):
                yield error_event(engine_failure(event))
    except APIError as exc:
        yield error_event(exc)
    finally:
        await events.aclose()  # type: ignore[attr-defined]
    yield {"data": DONE}


def error_event(exc: APIError) -> dict[str, Any]:
    log.warning("stream ended with error: %s", exc.message)
    return {"event": "error", "data": json.dumps(exc.to_dict())}


class _SSEResponse(EventSourceResponse):
    """Runs `on_close` once the response is over, however it ended: done, failed or disconnected,
    even if the stream never started."""

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
            ping_message_factory=lambda: ServerSentEvent(comment=KEEP_ALIVE["comment"], sep="\n"),
        )
        self._on_close = on_close

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            if self._on_close is not None:
                self._on_close()


def sse_response(
    stream: AsyncIterator[dict[str, Any]],
    *,
    ping_seconds: float = DEFAULT_PING_SECONDS,
    on_close: Callable[[], None] | None = None,
) -> EventSourceResponse:
    return _SSEResponse(stream, ping_seconds=ping_seconds, on_close=on_close)
