"""The one stream envelope every generating route shares: opening events, deltas, finish events, and
the transport's closing (`[DONE]` for OpenAI's chat and completions), even after an error event.

A protocol brings its chunks (ChunkFactory) and its transport; the envelope decides when each event is
sent. `StreamStyle` is what a protocol hands the model lease: its transport, and the events of a
stream that failed before its answer began (the model would not load)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import BaseModel

from server.engine.sampling import TokenLogprob
from server.engine.sequence import Event, Failed, Finished, TextDelta, Usage
from server.pipeline.generation import engine_failure, finish_reason
from server.service.errors import APIError
from server.service.middleware.request_tracking import note_event
from server.service.transports.transport import Transport


class ChunkFactory(Protocol):
    """Builds one protocol's stream events; the envelope decides when each is sent."""

    def opening(self) -> Iterable[BaseModel]: ...

    # A parsed protocol may turn one text delta into no event (text held back by its output parser)
    # or several.
    def delta(self, text: str, logprobs: tuple[TokenLogprob, ...]) -> Iterable[BaseModel]: ...

    def finish(self, reason: str, usage: Usage, stop_sequence: str | None) -> Iterable[BaseModel]: ...

    # Already framed: an error is the one event whose shape differs between protocols.
    def failure(self, exc: APIError) -> Iterable[Any]: ...


@dataclass(frozen=True)
class StreamStyle:
    transport: Transport
    # The framed events of a stream that failed before its answer began; the closing follows them.
    failed_early: Callable[[APIError], Iterable[Any]]


async def stream_envelope(
    events: AsyncIterator[Event], chunks: ChunkFactory, transport: Transport
) -> AsyncIterator[Any]:
    try:
        for chunk in chunks.opening():
            yield transport.frame(chunk)
        async for event in events:
            note_event(event)
            if isinstance(event, TextDelta):
                for chunk in chunks.delta(event.text, event.logprobs):
                    yield transport.frame(chunk)
            elif isinstance(event, Finished):
                for chunk in chunks.finish(finish_reason(event), event.usage, event.stop_sequence):
                    yield transport.frame(chunk)
            elif isinstance(event, Failed):
                for framed in chunks.failure(engine_failure(event)):
                    yield framed
    except APIError as exc:
        for framed in chunks.failure(exc):
            yield framed
    finally:
        await events.aclose()  # type: ignore[attr-defined]
    for closing in transport.closing:
        yield closing
