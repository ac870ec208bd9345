"""Holding a model for exactly one response.

The name is resolved (404) and the file checked (409) before any response starts. The lease is then
held until the response is over: for a plain answer when the handler returns, for a stream when its
last byte is sent or the client goes away. A stream whose model must be loaded first starts at once
and sends keep-alive comments while it waits; an error after that arrives as the stream's error event.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any

from fastapi import Request

from server.api.errors import APIError
from server.api.generation import model_not_found
from server.api.sse import DONE, KEEP_ALIVE, openai_stream_failure, sse_response
from server.models.catalog import ModelEntry, ModelNotFound
from server.models.pool import Lease, LoadedModel, ModelNotDownloaded, ModelPool, ModelUnavailable

# Builds the answer with the model in hand: a response body, or the SSE events of a stream.
Respond = Callable[[LoadedModel], Awaitable[Any]]
# A stream's last events when it fails before its answer began (the model would not load).
StreamFailure = Callable[[APIError], Iterable[dict[str, Any]]]


def openai_failure_and_done(exc: APIError) -> list[dict[str, Any]]:
    return [*openai_stream_failure(exc), {"data": DONE}]


def model_unavailable(exc: ModelUnavailable) -> APIError:
    code = "model_not_downloaded" if isinstance(exc, ModelNotDownloaded) else "model_unavailable"
    return APIError(409, str(exc), param="model", code=code)


def resolve_servable(pool: ModelPool, name: str) -> ModelEntry:
    try:
        entry = pool.catalog.resolve(name)
        pool.check_servable(entry)
        pool.check_readable(entry)
    except ModelNotFound as exc:
        raise model_not_found(exc) from exc
    except ModelUnavailable as exc:
        raise model_unavailable(exc) from exc
    return entry


async def acquire_lease(pool: ModelPool, name: str) -> Lease:
    try:
        return await pool.acquire(name)
    except ModelNotFound as exc:
        raise model_not_found(exc) from exc
    except ModelUnavailable as exc:
        raise model_unavailable(exc) from exc


async def respond_with_model(
    request: Request,
    name: str,
    *,
    is_stream: bool,
    respond: Respond,
    stream_failure: StreamFailure = openai_failure_and_done,
) -> Any:
    """Run `respond` with the model leased; for a stream, `respond` returns the SSE events."""
    pool: ModelPool = request.app.state.pool
    ping_seconds: float = request.app.state.settings.sse_ping_seconds
    entry = resolve_servable(pool, name)
    if is_stream and not pool.is_ready(entry.name):
        events = _after_load(pool, entry.name, respond, ping_seconds, stream_failure)
        return sse_response(events, ping_seconds=ping_seconds)
    lease = await acquire_lease(pool, entry.name)
    try:
        result = await respond(lease.model)
    except BaseException:
        lease.release()
        raise
    if not is_stream:
        lease.release()
        return result
    return sse_response(result, ping_seconds=ping_seconds, on_close=lease.release)


async def _after_load(
    pool: ModelPool, name: str, respond: Respond, ping_seconds: float, stream_failure: StreamFailure
) -> AsyncIterator[dict[str, Any]]:
    acquiring = asyncio.ensure_future(acquire_lease(pool, name))
    try:
        while not acquiring.done():
            yield KEEP_ALIVE
            await asyncio.wait({acquiring}, timeout=ping_seconds)
        events = await respond(acquiring.result().model)
        async with contextlib.aclosing(events):  # a client gone mid-stream cancels its generation now
            async for event in events:
                yield event
    except APIError as exc:
        for event in stream_failure(exc):
            yield event
    finally:
        if not acquiring.done():
            acquiring.cancel()  # the client left; the load itself goes on for the next request
        elif not acquiring.cancelled() and acquiring.exception() is None:
            acquiring.result().release()
