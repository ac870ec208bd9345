"""What chat and completions share: picking the model, checking limits, building the engine request,
and collecting a non-streamed answer."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from starlette.requests import Request

from server.api.errors import APIError, invalid_request
from server.api.protocol import (
    MAX_STOP_CHARS,
    MAX_STOPS,
    PromptTokensDetails,
    ResponseFormat,
    Stop,
    UsageInfo,
    _SamplingRequest,
)
from server.api.request_tracking import note_event, note_model
from server.config import Settings
from server.engine.engine import EventStream, QueueFull
from server.engine.grammar import GrammarError, check_grammar, json_object_grammar, json_schema_grammar
from server.engine.sampling import SamplingParams, TokenLogprob
from server.engine.sequence import Event, Failed, Finished, GenerationRequest, TextDelta, Usage
from server.formats.constrain import CallConstraint
from server.models.catalog import ModelNotFound
from server.models.pool import LoadedModel

T = TypeVar("T")


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


def parse_stops(stop: Stop) -> tuple[str, ...]:
    stops = [stop] if isinstance(stop, str) else list(stop or [])
    if len(stops) > MAX_STOPS:
        raise invalid_request(f"'stop' takes at most {MAX_STOPS} sequences.", param="stop")
    if any(not item or len(item) > MAX_STOP_CHARS for item in stops):
        raise invalid_request(f"Each stop sequence must have 1 to {MAX_STOP_CHARS} characters.", param="stop")
    return tuple(stops)


def check_single_choice(body: _SamplingRequest) -> None:
    if body.n is not None and body.n > 1:
        raise invalid_request("Only n=1 is supported.", param="n", code="unsupported_value")


def request_grammar(
    body: _SamplingRequest,
    model: LoadedModel,
    response_format: ResponseFormat | None,
    calls: CallConstraint | None = None,
) -> tuple[str | None, tuple[str, ...]]:
    """The grammar a request constrains its output with (its own `grammar`, response_format's, or
    its tool calls'), and the triggers that make it lazy."""
    grammar, param = body.grammar, "grammar"
    has_format = response_format is not None and response_format.type != "text"
    if calls is not None and (grammar is not None or has_format):
        if not calls.triggers:
            raise invalid_request(
                "A forced tool_choice cannot be combined with grammar or response_format.",
                param="tool_choice",
            )
        calls = None  # "auto": the request's own format wins; calls are still parsed
    if calls is not None:
        try:
            check_grammar(model.runtime, calls.grammar, calls.triggers)
        except GrammarError as exc:
            raise invalid_request(
                f"Cannot build a grammar for these tools: {exc}", param="tools", code="invalid_grammar"
            ) from exc
        return calls.grammar, calls.triggers
    try:
        if response_format is not None and response_format.type != "text":
            if grammar is not None:
                raise invalid_request("Give either grammar or response_format, not both.", param="grammar")
            param = "response_format"
            if response_format.type == "json_object":
                grammar = json_object_grammar()
            elif response_format.json_schema is None:
                raise invalid_request("response_format json_schema needs a json_schema.", param=param)
            else:
                grammar = schema_grammar(response_format.json_schema.schema_, param)
        if grammar is not None:
            check_grammar(model.runtime, grammar)
    except GrammarError as exc:
        raise invalid_request(str(exc), param=param, code="invalid_grammar") from exc
    return grammar, ()


# JSON-schema counts that llama-cpp-python's converter spells out one repetition at a time: minLength
# 10**8 builds a string of half a gigabyte before any length check, and 2**63 overflows. No grammar
# longer than the engine's limit (64 KiB) can be used anyway, so larger counts can only do harm.
MAX_SCHEMA_REPEAT = 8192
_REPEAT_KEYS = frozenset({"minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties"})
# Regex quantifiers in a "pattern": a{100000000} is the same hazard spelled differently.
_QUANTIFIER_COUNTS = re.compile(r"\{\s*(\d+)\s*(?:,\s*(\d*)\s*)?\}")


def _is_too_large(count: str) -> bool:
    # Compare digits before int(): Python refuses to parse integers of more than 4300 digits.
    return len(count) > len(str(MAX_SCHEMA_REPEAT)) or int(count) > MAX_SCHEMA_REPEAT


def check_schema_size(schema: Any, param: str) -> None:
    """A 400 for a JSON schema whose grammar would be too large to build; walked without recursion."""
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        if not isinstance(node, dict):
            continue
        for key, value in node.items():
            count_too_large = (
                key in _REPEAT_KEYS
                and isinstance(value, int | float)
                and not isinstance(value, bool)
                and not -MAX_SCHEMA_REPEAT <= value <= MAX_SCHEMA_REPEAT
            )
            pattern_too_large = (
                key == "pattern"
                and isinstance(value, str)
                and any(
                    _is_too_large(count)
                    for match in _QUANTIFIER_COUNTS.finditer(value)
                    for count in match.groups()
                    if count
                )
            )
            if count_too_large or pattern_too_large:
                raise invalid_request(
                    f"The JSON schema's '{key}' asks for more than {MAX_SCHEMA_REPEAT} repetitions.",
                    param=param,
                    code="invalid_grammar",
                )
            stack.append(value)


def schema_grammar(schema: dict[str, Any], param: str) -> str:
    check_schema_size(schema, param)
    try:
        return json_schema_grammar(schema)
    except GrammarError:
        raise
    except Exception as exc:
        # The converter is not ours and not written for hostile schemas: whatever else it raises
        # (OverflowError, IndexError, AttributeError on odd shapes...) is a bad schema, not a crash.
        raise GrammarError(f"cannot turn this JSON schema into a grammar: {type(exc).__name__}") from exc


def sampling_params(
    body: _SamplingRequest,
    model: LoadedModel,
    *,
    top_logprobs: int | None,
    response_format: ResponseFormat | None = None,
    calls: CallConstraint | None = None,
) -> SamplingParams:
    logit_bias: dict[int, float] = {}
    for key, bias in (body.logit_bias or {}).items():
        try:
            token = int(key)
        except ValueError:
            raise invalid_request(
                f"logit_bias keys must be token ids; got '{key}'.", param="logit_bias"
            ) from None
        if not 0 <= token < model.runtime.n_vocab:
            raise invalid_request(
                f"logit_bias token {token} is outside the vocabulary (0..{model.runtime.n_vocab - 1}).",
                param="logit_bias",
            )
        if not -100.0 <= bias <= 100.0:
            raise invalid_request("logit_bias values must be between -100 and 100.", param="logit_bias")
        logit_bias[token] = bias
    temperature = 1.0 if body.temperature is None else body.temperature
    top_p = 1.0 if body.top_p is None else body.top_p
    top_k = body.top_k or 0
    if top_p == 0.0:  # OpenAI accepts 0: only the most likely token survives
        top_p, top_k = 1.0, 1
    grammar, triggers = request_grammar(body, model, response_format, calls)
    return SamplingParams(
        temperature=temperature,
        top_p=top_p,
        top_k=top_k,
        min_p=body.min_p or 0.0,
        presence_penalty=body.presence_penalty or 0.0,
        frequency_penalty=body.frequency_penalty or 0.0,
        seed=body.seed,
        logit_bias=logit_bias,
        top_logprobs=top_logprobs,
        grammar=grammar,
        grammar_triggers=triggers,
    )


def max_new_tokens(requested: int | None, num_prompt: int, model: LoadedModel, settings: Settings) -> int:
    """The completion budget, or a 400 that says exactly why the request cannot fit."""
    n_ctx = model.n_ctx
    if num_prompt >= n_ctx:
        raise invalid_request(
            f"This model's maximum context length is {n_ctx} tokens. However, your prompt has "
            f"{num_prompt} tokens. Please reduce the length of the messages or prompt.",
            param="messages",
            code="context_length_exceeded",
        )
    if requested is None:
        return min(n_ctx - num_prompt, settings.max_tokens_limit)
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


def usage_info(usage: Usage) -> UsageInfo:
    return UsageInfo(
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        total_tokens=usage.total_tokens,
        prompt_tokens_details=PromptTokensDetails(cached_tokens=usage.cached_tokens),
    )


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
