"""Picking the model for a request and holding it for exactly one response.

The name (query parameter > body > default) is resolved (404) and the file checked (409) before any
response starts. The lease is then held until the response is over: for a plain answer when the
handler returns, for a stream when its last byte is sent or the client goes away. A stream whose model
must be loaded first starts at once and sends its transport's keep-alive while it waits; an error after
that arrives as the stream's error event, in the protocol's own shape.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from fastapi import Request

from server.config import Settings
from server.models.catalog import ModelEntry, ModelNotFound
from server.models.pool import Lease, LoadedModel, ModelNotDownloaded, ModelPool, ModelUnavailable
from server.pipeline.stream_envelope import StreamStyle
from server.service.errors import APIError

# Builds the answer with the model in hand: a response body, or the framed events of a stream.
Respond = Callable[[LoadedModel], Awaitable[Any]]


def model_name(query_model: str | None, body_model: str | None, settings: Settings) -> str:
    """Query parameter > body > default, so clients can switch models without touching their code."""
    return query_model or body_model or settings.default_model


def model_not_found(exc: ModelNotFound) -> APIError:
    available = ", ".join(exc.available) or "none"
    return APIError(
        404,
        f"The model '{exc.name}' does not exist. Available models: {available}.",
        param="model",
        code="model_not_found",
    )


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
    query_model: str | None,
    body_model: str | None,
    *,
    respond: Respond,
    stream: StreamStyle | None = None,
) -> Any:
    """Run `respond` with the model leased. For a stream (`stream` names its style) `respond` returns
    the framed events, and the answer is the transport's streaming response."""
    pool: ModelPool = request.app.state.pool
    settings: Settings = request.app.state.settings
    ping_seconds = settings.sse_ping_seconds
    entry = resolve_servable(pool, model_name(query_model, body_model, settings))
    if stream is not None and not pool.is_ready(entry.name):
        events = _after_load(pool, entry.name, respond, ping_seconds, stream)
        return stream.transport.response(events, ping_seconds=ping_seconds)
    lease = await acquire_lease(pool, entry.name)
    try:
        result = await respond(lease.model)
    except BaseException:
        lease.release()
        raise
    if stream is None:
        lease.release()
        return result
    return stream.transport.response(result, ping_seconds=ping_seconds, on_close=lease.release)


async def _after_load(
    pool: ModelPool, name: str, respond: Respond, ping_seconds: float, stream: StreamStyle
) -> AsyncIterator[Any]:
    acquiring = asyncio.ensure_future(acquire_lease(pool, name))
    keep_alive = stream.transport.keep_alive
    try:
        while not acquiring.done():
            if keep_alive is not None:
                yield keep_alive
            await asyncio.wait({acquiring}, timeout=ping_seconds)
        events = await respond(acquiring.result().model)
        async with contextlib.aclosing(events):  # a client gone mid-stream cancels its generation now
            async for event in events:
                yield event
    except APIError as exc:
        for event in stream.failed_early(exc):
            yield event
        for event in stream.transport.closing:
            yield event
    finally:
        if not acquiring.done():
            acquiring.cancel()  # the client left; the load itself goes on for the next request
        elif not acquiring.cancelled() and acquiring.exception() is None:
            acquiring.result().release()
