"""Generation as every route runs it: start it on the model's engine (429 when its queue is full),
the completion budget, and collecting a whole answer unless the client goes away first."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass, field
from typing import TypeVar

from starlette.requests import Request

from server.config import Settings
from server.engine.engine import EventStream, QueueFull
from server.engine.sampling import TokenLogprob
from server.engine.sequence import Event, Failed, Finished, GenerationRequest, TextDelta, Usage
from server.models.pool import LoadedModel
from server.service.errors import APIError, invalid_request
from server.service.middleware.request_tracking import note_event, note_model

T = TypeVar("T")

RETRY_AFTER_SECONDS = 1


def start_generation(model: LoadedModel, request: GenerationRequest) -> EventStream:
    if model.info.kind == "embedding":
        # An embedding model's head makes vectors, not next-token scores worth sampling.
        raise invalid_request(
            f"Model '{model.name}' is an embedding model; it answers /v1/embeddings, not generation.",
            param="model",
            code="model_not_generative",
        )
    note_model(model.name)
    try:
        return model.engine.generate(request)
    except QueueFull as exc:
        raise APIError(
            429,
            f"Model '{model.name}' is busy ({exc}). Retry shortly.",
            code="queue_full",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        ) from exc


async def collect_unless_disconnected(request: Request, events: EventStream) -> Collected:
    try:
        return await unless_disconnected(request, collect(events))
    finally:
        await events.aclose()


def _prompt_too_long(model: LoadedModel, num_tokens: str, param: str) -> APIError:
    return invalid_request(
        f"This model's maximum context length is {model.n_ctx} tokens. However, your prompt has "
        f"{num_tokens} tokens. Please reduce the length of the messages or prompt.",
        param=param,
        code="context_length_exceeded",
    )


def refuse_unless_it_may_fit(text: str, model: LoadedModel, *, param: str) -> None:
    """Refuse a prompt that cannot fit the context whatever its tokens, before tokenizing it: no token
    stands for more than the vocabulary's longest text, so a text of more bytes than n_ctx such
    tokens hold is too long. Tokenizing megabytes takes seconds of a core that others wait for."""
    if len(text) < model.n_ctx:
        return  # fewer characters than positions: it may fit, and the bound cannot say otherwise
    at_least = model.runtime.vocabulary_facts.min_tokens(text)
    if at_least >= model.n_ctx:
        raise _prompt_too_long(model, f"at least {at_least}", param)


def max_new_tokens(
    requested: int | None, num_prompt: int, model: LoadedModel, settings: Settings, *, up_to: bool = False
) -> int:
    """The completion budget, or a 400 that says exactly why the request cannot fit. With `up_to`,
    the request is a ceiling, not a demand: the answer stops where the context or the server's limit
    does (Ollama's num_predict)."""
    n_ctx = model.n_ctx
    if num_prompt >= n_ctx:
        raise _prompt_too_long(model, str(num_prompt), "messages")
    if requested is None or up_to:
        return min(n_ctx - num_prompt, settings.max_tokens_limit, requested or n_ctx)
    if requested > settings.max_tokens_limit:
        raise invalid_request(
            f"max_tokens is too large: {requested}. This server allows at most {settings.max_tokens_limit}.",
            param="max_tokens",
            code="invalid_value",
        )
    if num_prompt + requested > n_ctx:
        raise invalid_request(
            f"This model's maximum context length is {n_ctx} tokens. However, you requested "
            f"{num_prompt + requested} tokens ({num_prompt} in the prompt, {requested} for the completion). "
            "Please reduce the prompt or max_tokens.",
            param="max_tokens",
            code="context_length_exceeded",
        )
    return requested


def engine_failure(event: Failed) -> APIError:
    return APIError(500, event.message, code="generation_failed")


@dataclass
class Collected:
    text: str = ""
    logprobs: list[TokenLogprob] = field(default_factory=list)
    finish_reason: str = "stop"
    usage: Usage = field(default_factory=lambda: Usage(0, 0))
    stop_sequence: str | None = None


async def collect(events: AsyncIterator[Event]) -> Collected:
    collected = Collected()
    parts: list[str] = []
    async for event in events:
        note_event(event)
        if isinstance(event, TextDelta):
            parts.append(event.text)
            collected.logprobs.extend(event.logprobs)
        elif isinstance(event, Finished):
            collected.finish_reason = finish_reason(event)
            collected.usage = event.usage
            collected.stop_sequence = event.stop_sequence
        else:
            raise engine_failure(event)
    collected.text = "".join(parts)
    return collected


def finish_reason(event: Finished) -> str:
    # "cancelled" only reaches a client that is still there at shutdown; for it the answer just ends.
    return "stop" if event.reason == "cancelled" else event.reason


async def unless_disconnected(request: Request, work: Awaitable[T]) -> T:
    """Run `work`, cancelling it (and so its sequence) if the client goes away first."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_wait_for_disconnect(request))
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
    if not task.done():
        task.cancel()
        raise APIError(499, "client closed the request", code="client_disconnected")
    return task.result()


async def _wait_for_disconnect(request: Request) -> None:
    # The body is already read, so the next ASGI message can only be the disconnect.
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return
