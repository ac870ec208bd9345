"""The one stream envelope every generating route shares: opening events, deltas, finish events, and
the protocol's closing (`[DONE]` for OpenAI's chat and completions), even after an error event."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
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
    """Builds one protocol's stream events; the envelope decides when each is sent."""

    def opening(self) -> Iterable[BaseModel]: ...

    # A parsed protocol may turn one text delta into no event (text held back by its output parser)
    # or several.
    def delta(self, text: str, logprobs: tuple[TokenLogprob, ...]) -> Iterable[BaseModel]: ...

    def finish(self, reason: str, usage: Usage, stop_sequence: str | None) -> Iterable[BaseModel]: ...

    # Already framed: an error is the one event whose shape differs between protocols.
    def failure(self, exc: APIError) -> Iterable[dict[str, Any]]: ...


@dataclass(frozen=True)
class Framing:
    """How a protocol puts its events on the wire: OpenAI's chat and completions send bare `data:`
    lines ending in `[DONE]`; the Responses and Anthropic APIs name each event after its `type`."""

    is_named: bool = False
    done: str | None = DONE


OPENAI_CHUNKS = Framing()
NAMED_EVENTS = Framing(is_named=True, done=None)


def frame(chunk: BaseModel, framing: Framing) -> dict[str, Any]:
    data = chunk.model_dump_json(exclude_unset=False)
    if framing.is_named:
        return {"event": getattr(chunk, "type"), "data": data}  # noqa: B009  # every named event has one
    return {"data": data}


async def stream_envelope(
    events: AsyncIterator[Event], chunks: ChunkFactory, framing: Framing = OPENAI_CHUNKS
) -> AsyncIterator[dict[str, Any]]:
    try:
        for chunk in chunks.opening():
            yield frame(chunk, framing)
        async for event in events:
            note_event(event)
            if isinstance(event, TextDelta):
                for chunk in chunks.delta(event.text, event.logprobs):
                    yield frame(chunk, framing)
            elif isinstance(event, Finished):
                for chunk in chunks.finish(finish_reason(event), event.usage, event.stop_sequence):
                    yield frame(chunk, framing)
            elif isinstance(event, Failed):
                for framed in chunks.failure(engine_failure(event)):
                    yield framed
    except APIError as exc:
        for framed in chunks.failure(exc):
            yield framed
    finally:
        await events.aclose()  # type: ignore[attr-defined]
    if framing.done is not None:
        yield {"data": framing.done}


def error_event(exc: APIError) -> dict[str, Any]:
    log.warning("stream ended with error: %s", exc.message)
    return {"event": "error", "data": json.dumps(exc.to_dict())}


def openai_stream_failure(exc: APIError) -> list[dict[str, Any]]:
    """The error event of OpenAI's chat and completions streams: `[DONE]` follows it."""
    return [error_event(exc)]


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
