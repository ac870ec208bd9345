"""POST /v1/completions: raw text continuation, the honest endpoint for base models."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel

from server.api.errors import APIError, invalid_request
from server.api.generation import (
    check_single_choice,
    collect_unless_disconnected,
    max_new_tokens,
    model_name,
    parse_stops,
    sampling_params,
    start_generation,
    usage_info,
)
from server.api.logprobs import completion_logprobs
from server.api.model_lease import respond_with_model
from server.api.protocol import Completion, CompletionChoice, CompletionRequest, RenderResponse, new_id
from server.api.render import render_response
from server.api.sse import openai_stream_failure, stream_envelope
from server.engine.sampling import TokenLogprob
from server.engine.sequence import GenerationRequest, Usage
from server.models.pool import LoadedModel

router = APIRouter()
# OpenAI's default for the legacy completions endpoint
DEFAULT_COMPLETION_TOKENS = 16


def _prompt_tokens(body: CompletionRequest, model: LoadedModel) -> tuple[list[int], str]:
    prompt = body.prompt
    if isinstance(prompt, list) and prompt and isinstance(prompt[0], str | list):
        if len(prompt) != 1:
            raise invalid_request("Only one prompt per request is supported.", param="prompt")
        prompt = prompt[0]
    if isinstance(prompt, str):
        if not prompt:
            raise invalid_request("The prompt must not be empty.", param="prompt")
        return model.tokenize(prompt, parse_special=True), prompt
    tokens = list(prompt)
    if not tokens:
        raise invalid_request("The prompt must not be empty.", param="prompt")
    if any(not 0 <= token < model.runtime.n_vocab for token in tokens):
        raise invalid_request("The prompt contains token ids outside the vocabulary.", param="prompt")
    text = b"".join(model.runtime.token_bytes(token) for token in tokens).decode("utf-8", errors="replace")
    return tokens, text


class _CompletionChunks:
    def __init__(
        self, completion_id: str, model: LoadedModel, *, echo: str, wants_logprobs: bool, include_usage: bool
    ) -> None:
        self._id = completion_id
        self._include_usage = include_usage
        self._model = model
        self._echo = echo
        self._wants_logprobs = wants_logprobs
        self._offset = len(echo)

    def _chunk(self, choice: CompletionChoice | None, usage: Usage | None = None) -> Completion:
        return Completion(
            id=self._id,
            model=self._model.name,
            choices=[choice] if choice is not None else [],
            usage=usage_info(usage) if usage is not None else None,
        )

    def opening(self) -> list[BaseModel]:
        return [self._chunk(CompletionChoice(text=self._echo))] if self._echo else []

    def delta(self, text: str, logprobs: tuple[TokenLogprob, ...]) -> list[BaseModel]:
        formatted = None
        if self._wants_logprobs:
            formatted = completion_logprobs(
                logprobs, self._model.runtime.token_bytes, start_offset=self._offset
            )
        self._offset += len(text)
        return [self._chunk(CompletionChoice(text=text, logprobs=formatted))]

    def finish(self, reason: str, usage: Usage, stop_sequence: str | None) -> list[BaseModel]:
        chunks: list[BaseModel] = [self._chunk(CompletionChoice(text="", finish_reason=reason))]
        if self._include_usage:
            chunks.append(self._chunk(None, usage))
        return chunks

    def failure(self, exc: APIError) -> list[dict[str, Any]]:
        return openai_stream_failure(exc)


def _check_request(body: CompletionRequest) -> None:
    """Refuse what /v1/completions does not support; its render route refuses the same bodies."""
    check_single_choice(body)
    if body.best_of is not None and body.best_of > 1:
        raise invalid_request("Only best_of=1 is supported.", param="best_of", code="unsupported_value")
    if body.suffix:
        raise invalid_request(
            "suffix (insertion) is not supported.", param="suffix", code="unsupported_value"
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
    name = model_name(model, body.model, request.app.state.settings)
    return await respond_with_model(
        request, name, is_stream=body.stream, respond=lambda loaded: _complete(request, body, loaded)
    )


@router.post("/v1/completions/render", response_model=RenderResponse)
async def render_completion(
    request: Request, body: CompletionRequest, model: str | None = Query(None)
) -> Any:
    """localchat extension: the prompt's tokens exactly as /v1/completions would feed them."""
    _check_request(body)
    name = model_name(model, body.model, request.app.state.settings)
    return await respond_with_model(
        request, name, is_stream=False, respond=lambda loaded: _render(body, loaded)
    )


async def _render(body: CompletionRequest, loaded: LoadedModel) -> RenderResponse:
    tokens, prompt_text = await asyncio.to_thread(_prompt_tokens, body, loaded)
    return render_response(
        loaded, prompt=prompt_text, tokens=tokens, uses_template=False, stops=(), chat_format=None
    )


async def _complete(request: Request, body: CompletionRequest, loaded: LoadedModel) -> Any:
    """The answer, or for a stream its SSE events, with the model already leased."""
    settings = request.app.state.settings
    tokens, prompt_text = await asyncio.to_thread(_prompt_tokens, body, loaded)
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
        return stream_envelope(events, chunks)
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
