"""The one stream envelope shared by chat and completions: opening chunk, deltas, finish chunk,
optional usage chunk, and always `[DONE]`, even after an error event."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any, Protocol

from pydantic import BaseModel
from sse_starlette.sse import EventSourceResponse

from server.api.errors import APIError
from server.api.generation import engine_failure, finish_reason
from server.engine.sampling import TokenLogprob
from server.engine.sequence import Event, Failed, Finished, TextDelta, Usage

log = logging.getLogger("localchat.api")
DONE = "[DONE]"


class ChunkFactory(Protocol):
    """Builds the endpoint's chunk objects; the envelope decides when each is sent."""

    def opening(self) -> BaseModel | None: ...

    def delta(self, text: str, logprobs: tuple[TokenLogprob, ...]) -> BaseModel: ...

    def finish(self, reason: str) -> BaseModel: ...

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
            if isinstance(event, TextDelta):
                yield _data(chunks.delta(event.text, event.logprobs))
            elif isinstance(event, Finished):
                yield _data(chunks.finish(finish_reason(event)))
                if include_usage:
                    yield _data(chunks.usage(event.usage))
            elif isinstance(event, Failed):
                yield _error(engine_failure(event))
    except APIError as exc:
        yield _error(exc)
    finally:
        await events.aclose()  # type: ignore[attr-defined]
    yield {"data": DONE}


def _error(exc: APIError) -> dict[str, Any]:
    log.warning("stream ended with error: %s", exc.message)
    return {"event": "error", "data": json.dumps(exc.to_dict())}


def sse_response(stream: AsyncIterator[dict[str, Any]]) -> EventSourceResponse:
    return EventSourceResponse(stream, ping=15, sep="\n")
