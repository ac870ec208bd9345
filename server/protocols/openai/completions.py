"""POST /v1/completions: raw text continuation, the honest endpoint for base models; with `suffix`,
fill-in-the-middle through the pipeline's one FIM prompt (server/pipeline/infill.py)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel

from server.engine.sampling import TokenLogprob
from server.engine.sequence import GenerationRequest, Usage
from server.models.pool import LoadedModel
from server.pipeline.generation import (
    collect_unless_disconnected,
    max_new_tokens,
    refuse_unless_it_may_fit,
    start_generation,
)
from server.pipeline.infill import infill_tokens
from server.pipeline.model_lease import respond_with_model
from server.pipeline.sampling import check_token_ids, parse_stops, sampling_params
from server.pipeline.stream_envelope import stream_envelope
from server.protocols.openai.common import ChunkEnvelope, check_single_choice, usage_info
from server.protocols.openai.logprobs import completion_logprobs
from server.protocols.openai.render import render_response
from server.protocols.openai.stream import OPENAI_SSE, OPENAI_STREAM, stream_failure
from server.protocols.openai.wire import (
    Completion,
    CompletionChoice,
    CompletionRequest,
    RenderResponse,
    new_id,
)
from server.service.errors import APIError, invalid_request

router = APIRouter()
# OpenAI's default for the legacy completions endpoint
DEFAULT_COMPLETION_TOKENS = 16


def _infill_tokens(body: CompletionRequest, model: LoadedModel) -> tuple[list[int], str]:
    """`suffix`: the prompt is the text before the gap, through the model's fill-in-the-middle tokens."""
    prompt = body.prompt
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
        prompt = prompt[0]
    if not isinstance(prompt, str):
        raise invalid_request("With a suffix, the prompt must be one text.", param="prompt")
    assert body.suffix is not None
    tokens = infill_tokens(
        model, prefix=prompt, suffix=body.suffix, order=model.info.entry.infill_order, param="suffix"
    )
    text = b"".join(model.runtime.token_bytes_special(token) for token in tokens)
    return tokens, text.decode("utf-8", errors="replace")


def _prompt_tokens(body: CompletionRequest, model: LoadedModel, *, must_fit: bool) -> tuple[list[int], str]:
    if body.suffix:
        return _infill_tokens(body, model)
    prompt = body.prompt
    if isinstance(prompt, list) and prompt and isinstance(prompt[0], str | list):
        if len(prompt) != 1:
            raise invalid_request("Only one prompt per request is supported.", param="prompt")
        prompt = prompt[0]
    if isinstance(prompt, str):
        if not prompt:
            raise invalid_request("The prompt must not be empty.", param="prompt")
        if must_fit:
            refuse_unless_it_may_fit(prompt, model, param="prompt")
        return model.tokenize(prompt, parse_special=True), prompt
    tokens = list(prompt)
    if not tokens:
        raise invalid_request("The prompt must not be empty.", param="prompt")
    check_token_ids(tokens, model, what="The prompt", param="prompt")
    text = b"".join(model.runtime.token_bytes(token) for token in tokens).decode("utf-8", errors="replace")
    return tokens, text


class _CompletionChunks:
    def __init__(
        self, completion_id: str, model: LoadedModel, *, echo: str, wants_logprobs: bool, include_usage: bool
    ) -> None:
        self._model = model
        self._echo = echo
        self._wants_logprobs = wants_logprobs
        self._offset = len(echo)
        self._envelope = ChunkEnvelope(Completion, completion_id, model.name, include_usage=include_usage)

    def opening(self) -> list[BaseModel]:
        return [self._envelope.chunk(CompletionChoice(text=self._echo))] if self._echo else []

    def delta(self, text: str, logprobs: tuple[TokenLogprob, ...]) -> list[BaseModel]:
        formatted = None
        if self._wants_logprobs:
            formatted = completion_logprobs(
                logprobs, self._model.runtime.token_bytes, start_offset=self._offset
            )
        self._offset += len(text)
        return [self._envelope.chunk(CompletionChoice(text=text, logprobs=formatted))]

    def finish(self, reason: str, usage: Usage, stop_sequence: str | None) -> list[BaseModel]:
        return self._envelope.ending(CompletionChoice(text="", finish_reason=reason), usage)

    def failure(self, exc: APIError) -> list[dict[str, Any]]:
        return stream_failure(exc)


def _check_request(body: CompletionRequest) -> None:
    """Refuse what /v1/completions does not support; its render route refuses the same bodies."""
    check_single_choice(body)
    if body.best_of is not None and body.best_of > 1:
        raise invalid_request("Only best_of=1 is supported.", param="best_of", code="unsupported_value")
    if body.suffix and body.echo:
        raise invalid_request(
            "echo with a suffix is not supported: the prompt is the model's fill-in-the-middle layout.",
            param="echo",
            code="unsupported_value",
        )
    if body.echo and body.logprobs is not None:
        raise invalid_request(
            "echo together with logprobs (prompt logprobs) is not supported yet.",
            param="logprobs",
            code="unsupported_value",
        )


@router.post("/v1/completions", response_model=None)
async def create_completion(
    request: Request, body: CompletionRequest, model: str | None = Query(None)
) -> Any:
    _check_request(body)
    return await respond_with_model(
        request,
        model,
        body.model,
        respond=lambda loaded: _complete(request, body, loaded),
        stream=OPENAI_STREAM if body.stream else None,
    )


@router.post("/v1/completions/render", response_model=RenderResponse)
async def render_completion(
    request: Request, body: CompletionRequest, model: str | None = Query(None)
) -> Any:
    """localchat extension: the prompt's tokens exactly as /v1/completions would feed them."""
    _check_request(body)
    return await respond_with_model(request, model, body.model, respond=lambda loaded: _render(body, loaded))


async def _render(body: CompletionRequest, loaded: LoadedModel) -> RenderResponse:
    tokens, prompt_text = await asyncio.to_thread(_prompt_tokens, body, loaded, must_fit=False)
    return render_response(
        loaded, prompt=prompt_text, tokens=tokens, uses_template=False, stops=(), chat_format=None
    )


async def _complete(request: Request, body: CompletionRequest, loaded: LoadedModel) -> Any:
    """The answer, or for a stream its SSE events, with the model already leased."""
    settings = request.app.state.settings
    tokens, prompt_text = await asyncio.to_thread(_prompt_tokens, body, loaded, must_fit=True)
    requested = body.max_tokens if body.max_tokens is not None else DEFAULT_COMPLETION_TOKENS
    generation = GenerationRequest(
        prompt_tokens=tuple(tokens),
        sampling=sampling_params(body, loaded, top_logprobs=body.logprobs),
        max_tokens=max_new_tokens(requested, len(tokens), loaded, settings),
        stops=parse_stops(body.stop),
    )
    completion_id = new_id("cmpl")
    echo = prompt_text if body.echo else ""
    events = start_generation(loaded, generation)
    if body.stream:
        chunks = _CompletionChunks(
            completion_id,
            loaded,
            echo=echo,
            wants_logprobs=body.logprobs is not None,
            include_usage=bool(body.stream_options and body.stream_options.include_usage),
        )
        return stream_envelope(events, chunks, OPENAI_SSE)
    result = await collect_unless_disconnected(request, events)
    logprobs = None
    if body.logprobs is not None:
        logprobs = completion_logprobs(result.logprobs, loaded.runtime.token_bytes, start_offset=0)
    return Completion(
        id=completion_id,
        model=loaded.name,
        choices=[
            CompletionChoice(text=echo + result.text, logprobs=logprobs, finish_reason=result.finish_reason)
        ],
        usage=usage_info(result.usage),
    )
