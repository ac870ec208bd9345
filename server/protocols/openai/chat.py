"""POST /v1/chat/completions and POST /v1/chat/render (localchat extension: the prompt the model sees)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel

from server.engine.sampling import TokenLogprob
from server.engine.sequence import Usage
from server.formats.message import ParsedMessage
from server.formats.parser import MessageDelta
from server.models.pool import LoadedModel
from server.pipeline.chat_pipeline import ParsedChunks, PreparedChat, answer_chat, prepare_chat, start_chat
from server.pipeline.chat_request import ChatCompletionRequest
from server.pipeline.model_lease import respond_with_model
from server.pipeline.stream_envelope import stream_envelope
from server.protocols.openai.common import ChunkEnvelope, check_single_choice, usage_info
from server.protocols.openai.logprobs import chat_logprobs
from server.protocols.openai.render import render_response
from server.protocols.openai.stream import OPENAI_SSE, OPENAI_STREAM, stream_failure
from server.protocols.openai.wire import (
    AssistantMessage,
    ChatChoice,
    ChatChunkChoice,
    ChatCompletion,
    ChatCompletionChunk,
    ChunkDelta,
    FunctionCall,
    FunctionCallDelta,
    RenderResponse,
    ToolCall,
    ToolCallChunk,
    new_id,
)
from server.service.errors import APIError, invalid_request

router = APIRouter()


class _ChatChunks(ParsedChunks):
    """Chunks of one streamed answer: text deltas go through the model family's output parser, so
    reasoning and tool calls arrive in their own fields."""

    def __init__(
        self, completion_id: str, prepared: PreparedChat, *, wants_logprobs: bool, include_usage: bool
    ) -> None:
        super().__init__(prepared)
        self._model = prepared.model
        self._wants_logprobs = wants_logprobs
        self._envelope = ChunkEnvelope(
            ChatCompletionChunk, completion_id, prepared.model.name, include_usage=include_usage
        )

    def opening(self) -> list[BaseModel]:
        return [self._envelope.chunk(ChatChunkChoice(delta=ChunkDelta(role="assistant", content="")))]

    def message_delta(
        self, delta: MessageDelta, logprobs: tuple[TokenLogprob, ...] | None
    ) -> list[BaseModel]:
        formatted = (
            chat_logprobs(logprobs, self._model.runtime.token_bytes)
            if self._wants_logprobs and logprobs is not None
            else None
        )
        if delta.is_empty and formatted is None:
            return []
        return [self._envelope.chunk(ChatChunkChoice(delta=chunk_delta(delta), logprobs=formatted))]

    def message_finish(self, reason: str, usage: Usage, stop_sequence: str | None) -> list[BaseModel]:
        return self._envelope.ending(ChatChunkChoice(delta=ChunkDelta(), finish_reason=reason), usage)

    def failure(self, exc: APIError) -> list[dict[str, Any]]:
        return stream_failure(exc)


def chunk_delta(delta: MessageDelta) -> ChunkDelta:
    return ChunkDelta(
        content=delta.content or None,
        reasoning_content=delta.reasoning or None,
        reasoning=delta.reasoning or None,
        tool_calls=[
            ToolCallChunk(
                index=call.index,
                id=call.id,
                type="function" if call.id is not None else None,
                function=FunctionCallDelta(name=call.name, arguments=call.arguments),
            )
            for call in delta.tool_calls
        ]
        or None,
    )


def answer_message(message: ParsedMessage, call_ids: list[str]) -> AssistantMessage:
    calls = [
        ToolCall(id=call_id, function=FunctionCall(name=call.name, arguments=call.arguments))
        for call, call_id in zip(message.tool_calls, call_ids, strict=True)
    ]
    return AssistantMessage(
        content=None if calls and not message.content else message.content,
        tool_calls=calls or None,
        reasoning_content=message.reasoning or None,
        reasoning=message.reasoning or None,
    )


@router.post("/v1/chat/completions", response_model=None)
async def create_chat_completion(
    request: Request, body: ChatCompletionRequest, model: str | None = Query(None)
) -> Any:
    check_single_choice(body)
    if body.top_logprobs is not None and not body.logprobs:
        raise invalid_request("top_logprobs requires logprobs to be true.", param="top_logprobs")
    return await respond_with_model(
        request,
        model,
        body.model,
        respond=lambda loaded: _complete(request, body, loaded),
        stream=OPENAI_STREAM if body.stream else None,
    )


async def _complete(request: Request, body: ChatCompletionRequest, loaded: LoadedModel) -> Any:
    """The answer, or for a stream its SSE events, with the model already leased."""
    run = await start_chat(request, body, loaded)
    completion_id = new_id("chatcmpl")
    if body.stream:
        chunks = _ChatChunks(
            completion_id,
            run.prepared,
            wants_logprobs=body.logprobs,
            include_usage=bool(body.stream_options and body.stream_options.include_usage),
        )
        return stream_envelope(run.events, chunks, OPENAI_SSE)
    answer = await answer_chat(request, run)
    return ChatCompletion(
        id=completion_id,
        model=loaded.name,
        choices=[
            ChatChoice(
                message=answer_message(answer.message, answer.call_ids),
                logprobs=(
                    chat_logprobs(answer.logprobs, loaded.runtime.token_bytes) if body.logprobs else None
                ),
                finish_reason=answer.finish_reason,
            )
        ],
        usage=usage_info(answer.usage),
    )


@router.post("/v1/chat/render", response_model=RenderResponse)
async def render_chat(request: Request, body: ChatCompletionRequest, model: str | None = Query(None)) -> Any:
    return await respond_with_model(request, model, body.model, respond=lambda loaded: _render(loaded, body))


async def _render(loaded: LoadedModel, body: ChatCompletionRequest) -> RenderResponse:
    # Rendering and tokenizing a long or hostile prompt must not hold the event loop.
    prepared = await asyncio.to_thread(prepare_chat, loaded, body)
    return render_response(
        loaded,
        prompt=prepared.prompt.text,
        tokens=prepared.tokens,
        uses_template=prepared.prompt.uses_template,
        stops=prepared.prompt.stops,
        chat_format=prepared.fmt.name,
    )
