"""POST /v1/chat/completions and POST /v1/chat/render (localchat extension: the prompt the model sees)."""

from __future__ import annotations

from dataclasses import dataclass
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
from server.api.logprobs import chat_logprobs
from server.api.model_lease import respond_with_model
from server.api.protocol import (
    AssistantMessage,
    ChatChoice,
    ChatChunkChoice,
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionRequest,
    ChatMessage,
    ChunkDelta,
    RenderResponse,
    new_id,
)
from server.api.sse import stream_envelope
from server.engine.sampling import TokenLogprob
from server.engine.sequence import GenerationRequest, Usage
from server.models.pool import LoadedModel
from server.templates.chat_template import TemplateError
from server.templates.prompt import ChatPrompt

router = APIRouter()


def _message_dict(message: ChatMessage, position: int) -> dict[str, Any]:
    content = message.content
    if isinstance(content, list):
        texts = []
        for part in content:
            if part.type != "text" or part.text is None:
                raise invalid_request(
                    f"Content parts of type '{part.type}' are not supported; only 'text'.",
                    param=f"messages.{position}.content",
                    code="unsupported_content",
                )
            texts.append(part.text)
        content = "".join(texts)
    data = message.model_dump(exclude_none=True)
    data["content"] = content if content is not None else ""
    return data


@dataclass(frozen=True)
class PreparedChat:
    model: LoadedModel
    prompt: ChatPrompt
    tokens: list[int]


def _prepare(model: LoadedModel, body: ChatCompletionRequest) -> PreparedChat:
    if model.info.template_error is not None:
        raise APIError(
            409,
            f"The chat template of model '{model.name}' is broken: {model.info.template_error}. "
            "Fix it with a chat_template override in models.yaml, or use /v1/completions.",
            param="model",
            code="chat_template_invalid",
        )
    messages = [_message_dict(message, position) for position, message in enumerate(body.messages)]
    try:
        prompt = model.format_chat(messages, tools=body.tools)
    except TemplateError as exc:
        raise invalid_request(str(exc), param="messages", code="chat_template_error") from exc
    return PreparedChat(model, prompt, model.tokenize(prompt.text, parse_special=prompt.parse_special))


class _ChatChunks:
    def __init__(self, completion_id: str, model: LoadedModel, *, wants_logprobs: bool) -> None:
        self._id = completion_id
        self._model = model
        self._wants_logprobs = wants_logprobs

    def _chunk(self, choice: ChatChunkChoice | None, usage: Usage | None = None) -> ChatCompletionChunk:
        return ChatCompletionChunk(
            id=self._id,
            model=self._model.name,
            choices=[choice] if choice is not None else [],
            usage=usage_info(usage) if usage is not None else None,
        )

    def opening(self) -> BaseModel:
        return self._chunk(ChatChunkChoice(delta=ChunkDelta(role="assistant", content="")))

    def delta(self, text: str, logprobs: tuple[TokenLogprob, ...]) -> BaseModel:
        formatted = chat_logprobs(logprobs, self._model.runtime.token_bytes) if self._wants_logprobs else None
        return self._chunk(ChatChunkChoice(delta=ChunkDelta(content=text), logprobs=formatted))

    def finish(self, reason: str) -> BaseModel:
        return self._chunk(ChatChunkChoice(delta=ChunkDelta(), finish_reason=reason))

    def usage(self, usage: Usage) -> BaseModel:
        return self._chunk(None, usage)


@router.post("/v1/chat/completions", response_model=None)
async def create_chat_completion(
    request: Request, body: ChatCompletionRequest, model: str | None = Query(None)
) -> Any:
    check_single_choice(body)
    if body.top_logprobs is not None and not body.logprobs:
        raise invalid_request("top_logprobs requires logprobs to be true.", param="top_logprobs")
    name = model_name(model, body.model, request.app.state.settings)
    return await respond_with_model(
        request, name, is_stream=body.stream, respond=lambda loaded: _complete(request, body, loaded)
    )


async def _complete(request: Request, body: ChatCompletionRequest, loaded: LoadedModel) -> Any:
    """The answer, or for a stream its SSE events, with the model already leased."""
    prepared = _prepare(loaded, body)
    requested = body.max_completion_tokens if body.max_completion_tokens is not None else body.max_tokens
    generation = GenerationRequest(
        prompt_tokens=tuple(prepared.tokens),
        sampling=sampling_params(
            body,
            loaded,
            top_logprobs=(body.top_logprobs or 0) if body.logprobs else None,
            response_format=body.response_format,
        ),
        max_tokens=max_new_tokens(requested, len(prepared.tokens), loaded, request.app.state.settings),
        stops=parse_stops(body.stop) + prepared.prompt.stops,
        strip_leading=prepared.prompt.strip_leading,
    )
    completion_id = new_id("chatcmpl")
    events = start_generation(loaded, generation)
    if body.stream:
        chunks = _ChatChunks(completion_id, loaded, wants_logprobs=body.logprobs)
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        return stream_envelope(events, chunks, include_usage=include_usage)
    result = await collect_unless_disconnected(request, events)
    return ChatCompletion(
        id=completion_id,
        model=loaded.name,
        choices=[
            ChatChoice(
                message=AssistantMessage(content=result.text),
                logprobs=chat_logprobs(result.logprobs, loaded.runtime.token_bytes)
                if body.logprobs
                else None,
                finish_reason=result.finish_reason,
            )
        ],
        usage=usage_info(result.usage),
    )


@router.post("/v1/chat/render", response_model=RenderResponse)
async def render_chat(request: Request, body: ChatCompletionRequest, model: str | None = Query(None)) -> Any:
    name = model_name(model, body.model, request.app.state.settings)
    return await respond_with_model(
        request, name, is_stream=False, respond=lambda loaded: _render(loaded, body)
    )


async def _render(loaded: LoadedModel, body: ChatCompletionRequest) -> RenderResponse:
    prepared = _prepare(loaded, body)
    return RenderResponse(
        model=prepared.model.name,
        prompt=prepared.prompt.text,
        tokens=prepared.tokens,
        num_tokens=len(prepared.tokens),
        uses_template=prepared.prompt.uses_template,
        stops=list(prepared.prompt.stops),
    )
