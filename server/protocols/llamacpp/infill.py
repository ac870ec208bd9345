"""POST /infill in llama-server's shape, for the editors written against it (llama.vscode, llama.vim):
the code before and after the cursor (`input_prefix`, `input_suffix`), other files (`input_extra`),
the text typed so far on the line (`prompt`), through the pipeline's one fill-in-the-middle prompt;
the answer as llama-server's /completion answers (`content`, `tokens`, `stop_type`, `timings`, ...),
whole, as a list for `n_cmpl` > 1, or streamed as bare SSE data lines without [DONE]."""

from __future__ import annotations

import asyncio
import functools
import json
import time
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from server.engine.sampling import TokenLogprob
from server.engine.sequence import GenerationRequest, TextDelta, Usage
from server.models.loader import LoadedModel
from server.pipeline.chat_request import SamplingRequest
from server.pipeline.generation import collect_unless_disconnected, max_new_tokens, start_generation
from server.pipeline.infill import ExtraFile, infill_tokens
from server.pipeline.model_lease import respond_with_model
from server.pipeline.sampling import parse_stops, sampling_params
from server.pipeline.stream_envelope import StreamStyle, stream_envelope
from server.pipeline.wire import RequestModel
from server.service.errors import APIError, invalid_request
from server.service.transports.sse import SSE

router = APIRouter()
INFILL_PATH = "/infill"
BARE_SSE = SSE()
# llama-server's sampling defaults (common.h), for what an editor leaves out.
DEFAULTS = {"temperature": 0.8, "top_k": 40, "top_p": 0.95, "min_p": 0.05}


class ExtraChunk(RequestModel):
    text: str
    filename: str = "tmp"


class InfillRequest(SamplingRequest):
    input_prefix: str
    input_suffix: str
    input_extra: list[ExtraChunk] = Field(default_factory=list, max_length=256)
    prompt: str = ""
    # -1: until the model stops or the context is full.
    n_predict: int = Field(-1, ge=-1)
    # Several answers from one request (llama.vscode asks for 3).
    n_cmpl: int = Field(1, ge=1, le=16)
    return_tokens: bool = False
    # Only these fields of the answer, each under its path as the key ("timings/prompt_n"), as
    # llama-server answers llama.vim.
    response_fields: list[str] | None = Field(None, max_length=64)


class Timings(BaseModel):
    prompt_n: int
    prompt_ms: float
    predicted_n: int
    predicted_ms: float
    prompt_per_second: float
    predicted_per_second: float


class InfillAnswer(BaseModel):
    index: int
    content: str
    tokens: list[int]
    stop: bool = True
    model: str
    tokens_predicted: int
    tokens_evaluated: int
    prompt: str
    has_new_line: bool
    truncated: bool = False
    # "eos": the model ended; "word": a stop string did; "limit": n_predict or the context did.
    stop_type: str
    stopping_word: str
    tokens_cached: int
    timings: Timings


class InfillPartial(BaseModel):
    index: int = 0
    content: str
    tokens: list[int]
    stop: bool = False


def _sampling(body: InfillRequest) -> SamplingRequest:
    given = body.model_dump(exclude_unset=True, exclude={"input_prefix", "input_suffix", "input_extra"})
    return SamplingRequest.model_validate({**DEFAULTS, **given, "stream": False}, strict=False)


def _prompt(body: InfillRequest, loaded: LoadedModel) -> list[int]:
    return infill_tokens(
        loaded,
        prefix=body.input_prefix,
        suffix=body.input_suffix,
        prompt=body.prompt,
        extra=[ExtraFile(chunk.text, chunk.filename) for chunk in body.input_extra],
        order=loaded.info.entry.infill_order,
    )


def _prompt_text(tokens: list[int], loaded: LoadedModel) -> str:
    raw = b"".join(loaded.runtime.token_bytes_special(token) for token in tokens)
    return raw.decode("utf-8", errors="replace")


def _fields(answer: dict[str, Any], paths: list[str] | None) -> dict[str, Any]:
    """The answer, or only the fields `paths` name (a missing one is left out)."""
    if paths is None:
        return answer
    picked: dict[str, Any] = {}
    for path in paths:
        value: Any = answer
        for part in path.split("/"):
            if not isinstance(value, dict) or part not in value:
                break
            value = value[part]
        else:
            picked[path] = value
    return picked


def _stop_type(reason: str, stop_sequence: str | None) -> str:
    if reason == "length":
        return "limit"
    return "word" if stop_sequence is not None else "eos"


@dataclass
class _Clock:
    started: float = field(default_factory=time.perf_counter)
    first_token: float | None = None

    def timings(self, usage: Usage) -> Timings:
        end = time.perf_counter()
        first = self.first_token or end
        prompt_ms, predicted_ms = (first - self.started) * 1000, (end - first) * 1000
        return Timings(
            prompt_n=usage.prompt_tokens - usage.cached_tokens,
            prompt_ms=prompt_ms,
            predicted_n=usage.completion_tokens,
            predicted_ms=predicted_ms,
            prompt_per_second=(usage.prompt_tokens - usage.cached_tokens) / (prompt_ms / 1000 or 1),
            predicted_per_second=usage.completion_tokens / (predicted_ms / 1000 or 1),
        )


def _generation(
    body: InfillRequest, loaded: LoadedModel, tokens: list[int], index: int, settings: Any
) -> GenerationRequest:
    sampling = _sampling(body)
    if sampling.seed is not None:
        sampling = sampling.model_copy(update={"seed": sampling.seed + index})  # each answer its own stream
    requested = body.n_predict if body.n_predict > 0 else None
    return GenerationRequest(
        prompt_tokens=tuple(tokens),
        sampling=sampling_params(sampling, loaded, top_logprobs=0 if body.return_tokens else None),
        # n_predict 0 (editors warming the cache with their files) reads the prompt; one token is
        # generated and not sent.
        max_tokens=max_new_tokens(requested, len(tokens), loaded, settings, up_to=True)
        if body.n_predict
        else 1,
        stops=parse_stops(sampling.stop),
    )


async def _timed(events: Any, clock: _Clock) -> Any:
    try:
        async for event in events:
            if isinstance(event, TextDelta) and clock.first_token is None:
                clock.first_token = time.perf_counter()
            yield event
    finally:
        await events.aclose()


async def _answer(
    request: Request, body: InfillRequest, loaded: LoadedModel, tokens: list[int], index: int
) -> InfillAnswer:
    clock = _Clock()
    generation = _generation(body, loaded, tokens, index, request.app.state.settings)
    result = await collect_unless_disconnected(request, _timed(start_generation(loaded, generation), clock))
    if body.n_predict == 0:
        result.text, result.logprobs = "", []
        result.usage = Usage(result.usage.prompt_tokens, 0, result.usage.cached_tokens)
    return InfillAnswer(
        index=index,
        content=result.text,
        tokens=[entry.token for entry in result.logprobs] if body.return_tokens else [],
        model=loaded.name,
        tokens_predicted=result.usage.completion_tokens,
        tokens_evaluated=result.usage.prompt_tokens,
        prompt=_prompt_text(tokens, loaded),
        has_new_line="\n" in result.text,
        stop_type=_stop_type(result.finish_reason, result.stop_sequence),
        stopping_word=result.stop_sequence or "",
        tokens_cached=result.usage.prompt_tokens + result.usage.completion_tokens,
        timings=clock.timings(result.usage),
    )


class _InfillChunks:
    def __init__(self, loaded: LoadedModel, tokens: list[int], return_tokens: bool) -> None:
        self._loaded = loaded
        self._tokens = tokens
        self._return_tokens = return_tokens
        self._clock = _Clock()
        self._text: list[str] = []

    def opening(self) -> list[BaseModel]:
        return []

    def delta(self, text: str, logprobs: tuple[TokenLogprob, ...]) -> list[BaseModel]:
        self._clock.first_token = self._clock.first_token or time.perf_counter()
        self._text.append(text)
        ids = [entry.token for entry in logprobs] if self._return_tokens else []
        return [InfillPartial(content=text, tokens=ids)]

    def finish(self, reason: str, usage: Usage, stop_sequence: str | None) -> list[BaseModel]:
        text = "".join(self._text)
        return [
            InfillAnswer(
                index=0,
                content="",
                tokens=[],
                model=self._loaded.name,
                tokens_predicted=usage.completion_tokens,
                tokens_evaluated=usage.prompt_tokens,
                prompt=_prompt_text(self._tokens, self._loaded),
                has_new_line="\n" in text,
                stop_type=_stop_type(reason, stop_sequence),
                stopping_word=stop_sequence or "",
                tokens_cached=usage.prompt_tokens + usage.completion_tokens,
                timings=self._clock.timings(usage),
            )
        ]

    def failure(self, exc: APIError) -> list[dict[str, Any]]:
        return _failure(exc)


def _failure(exc: APIError) -> list[dict[str, Any]]:
    return [{"data": json.dumps(exc.to_dict())}]


INFILL_STREAM = StreamStyle(BARE_SSE, failed_early=_failure)


@router.post(INFILL_PATH, response_model=None)
async def infill(request: Request, body: InfillRequest, model: str | None = Query(None)) -> Any:
    if body.stream and body.n_cmpl > 1:
        raise invalid_request("n_cmpl above 1 is answered whole, not streamed.", param="n_cmpl")

    async def respond(loaded: LoadedModel) -> Any:
        tokens = await asyncio.to_thread(functools.partial(_prompt, body, loaded))
        if body.stream:
            generation = _generation(body, loaded, tokens, 0, request.app.state.settings)
            chunks = _InfillChunks(loaded, tokens, body.return_tokens)
            return stream_envelope(start_generation(loaded, generation), chunks, BARE_SSE)
        answers = await asyncio.gather(
            *(_answer(request, body, loaded, tokens, i) for i in range(body.n_cmpl))
        )
        shaped = [_fields(answer.model_dump(), body.response_fields) for answer in answers]
        return shaped[0] if body.n_cmpl == 1 else shaped

    return await respond_with_model(
        request, model, body.model, respond=respond, stream=INFILL_STREAM if body.stream else None
    )
