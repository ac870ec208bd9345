"""POST /api/generate: a prompt through the model's chat template (its system and prompt as one
turn), or, in raw mode and for a model without a template, the text as it is (a base model's
`{{ .System }}` paragraph, then `{{ .Prompt }}`); with a `suffix`, the prompt and the suffix through
the model's fill-in-the-middle tokens. Streamed by default, as Ollama does."""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from fastapi import APIRouter, Request

from server.engine.sequence import GenerationRequest
from server.models.capabilities import capabilities
from server.models.pool import LoadedModel
from server.pipeline.chat_pipeline import ChatRun, answer_chat, internal_chat_request, start_chat
from server.pipeline.chat_request import ResponseFormat, SamplingRequest
from server.pipeline.generation import (
    collect_unless_disconnected,
    max_new_tokens,
    refuse_unless_it_may_fit,
    start_generation,
)
from server.pipeline.infill import infill_tokens
from server.pipeline.model_lease import respond_with_model
from server.pipeline.sampling import parse_stops, sampling_params
from server.pipeline.stream_envelope import stream_envelope
from server.protocols.ollama.input import (
    PARAM_NAMES,
    generate_chat_request,
    response_format,
    sampling_fields,
    think_fields,
)
from server.protocols.ollama.model_use import (
    KeepAliveRule,
    find_model,
    load_or_unload,
    ollama_json,
    pool_of,
    requested_name,
)
from server.protocols.ollama.output import (
    OLLAMA_NDJSON,
    OLLAMA_STREAM,
    GenerateChunks,
    TextChunks,
    Timing,
    done_reason,
    timed,
    wire_logprobs,
)
from server.protocols.ollama.wire import (
    API_PREFIX,
    GenerateChunk,
    GenerateRequest,
    does_not_support,
    timestamp,
)
from server.service.errors import invalid_request

router = APIRouter()
GENERATE_PATH = f"{API_PREFIX}/generate"


def base_prompt(body: GenerateRequest) -> str:
    """The text a model without a chat template continues: the system text as its own paragraph."""
    prompt = body.prompt or ""
    return f"{body.system}\n\n{prompt}" if body.system and not body.raw else prompt


def _check_request(body: GenerateRequest, name: str) -> None:
    if body.template is not None:
        raise invalid_request(
            "'template' overrides are Ollama Go templates, which localchat does not run: it renders the "
            "model's own chat template. Send raw: true with a prompt you formatted instead.",
            param="template",
            code="unsupported_value",
        )
    if body.context:
        raise invalid_request(
            "'context' (token ids of an earlier answer, deprecated by Ollama) is not supported; send the "
            "conversation to /api/chat as messages.",
            param="context",
            code="unsupported_value",
        )
    if body.raw and body.system:
        raise invalid_request("raw mode does not support template, system, or context", param="system")
    if body.images:
        raise invalid_request("Images are not supported yet.", param="images", code="unsupported_content")


@router.post(GENERATE_PATH, response_model=GenerateChunk, response_model_exclude_none=True)
async def generate(request: Request, body: GenerateRequest) -> Any:
    timing = Timing()
    name = requested_name(request, body.model)
    entry = find_model(request, name)
    keep_alive = KeepAliveRule(body.keep_alive)
    _check_request(body, name)
    if not body.prompt:
        return await load_or_unload(
            request,
            entry,
            keep_alive,
            lambda reason: GenerateChunk(
                model=name, created_at=timestamp(), response="", done=True, done_reason=reason
            ),
        )
    info = pool_of(request).catalog.info(entry.name)
    if info.kind == "embedding":
        raise does_not_support(name, "generate", param="model")
    if body.suffix and "insert" not in capabilities(info):
        raise does_not_support(name, "insert", param="suffix")
    # With a suffix the prompt is the model's fill-in-the-middle layout, not a conversation turn.
    is_templated = not body.raw and not body.suffix and info.template is not None
    think_fields(body.think, info, name)  # a model that cannot think refuses think: true either way
    keep_alive.apply_before(pool_of(request), entry.name)
    is_streamed = body.stream is not False

    async def respond(loaded: LoadedModel) -> Any:
        timing.ready()
        await keep_alive.apply_while_leased(pool_of(request), loaded.name)
        if is_templated:
            return await _templated(request, body, name, loaded, timing, is_streamed)
        return await _raw(request, body, name, loaded, timing, is_streamed)

    return await respond_with_model(
        request, None, entry.name, respond=respond, stream=OLLAMA_STREAM if is_streamed else None
    )


async def _templated(
    request: Request, body: GenerateRequest, name: str, loaded: LoadedModel, timing: Timing, is_streamed: bool
) -> Any:
    internal = generate_chat_request(body, loaded.info, name)
    run = await start_chat(request, internal, loaded, tokens_up_to=True)
    run = ChatRun(run.prepared, timed(run.events, timing))
    if is_streamed:
        chunks = GenerateChunks(run.prepared, name, timing, wants_logprobs=body.logprobs)
        return stream_envelope(run.events, chunks, OLLAMA_NDJSON)
    answer = await answer_chat(request, run)
    return ollama_json(
        GenerateChunk(
            model=name,
            created_at=timestamp(),
            response=answer.message.content,
            thinking=answer.message.reasoning or None,
            done=True,
            done_reason=done_reason(answer.finish_reason),
            logprobs=wire_logprobs(answer.logprobs, loaded.runtime.token_bytes) if body.logprobs else None,
            **timing.metrics(answer.usage),
        )
    )


def _raw_tokens(body: GenerateRequest, loaded: LoadedModel) -> list[int]:
    if body.suffix:
        order = loaded.info.entry.infill_order
        return infill_tokens(
            loaded, prefix=body.prompt or "", suffix=body.suffix, order=order, param="suffix"
        )
    text = base_prompt(body)
    refuse_unless_it_may_fit(text, loaded, param="prompt")
    return loaded.tokenize(text, parse_special=True)


async def _raw(
    request: Request, body: GenerateRequest, name: str, loaded: LoadedModel, timing: Timing, is_streamed: bool
) -> Any:
    fields = sampling_fields(body.options)
    fields.pop("tool_choice", None)
    sampling = internal_chat_request(fields, PARAM_NAMES, shape=SamplingRequest)
    wanted_format = response_format(body.format)
    tokens = await asyncio.to_thread(functools.partial(_raw_tokens, body, loaded))
    generation = GenerationRequest(
        prompt_tokens=tuple(tokens),
        sampling=sampling_params(
            sampling,
            loaded,
            top_logprobs=(body.top_logprobs or 0) if body.logprobs else None,
            response_format=ResponseFormat.model_validate(wanted_format) if wanted_format else None,
        ),
        max_tokens=max_new_tokens(
            sampling.max_tokens, len(tokens), loaded, request.app.state.settings, up_to=True
        ),
        stops=parse_stops(sampling.stop),
    )
    events = timed(start_generation(loaded, generation), timing)
    chunks = TextChunks(name, loaded.runtime.token_bytes, timing, body.logprobs)
    if is_streamed:
        return stream_envelope(events, chunks, OLLAMA_NDJSON)
    result = await collect_unless_disconnected(request, events)
    return ollama_json(
        GenerateChunk(
            model=name,
            created_at=timestamp(),
            response=result.text,
            done=True,
            done_reason=done_reason(result.finish_reason),
            logprobs=wire_logprobs(result.logprobs, loaded.runtime.token_bytes) if body.logprobs else None,
            **timing.metrics(result.usage),
        )
    )
