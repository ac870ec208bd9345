"""Anthropic's Messages API on the chat pipeline: POST /v1/messages (whole or streamed) and
POST /v1/messages/count_tokens. Errors on these routes take Anthropic's envelope (see errors.py)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Query, Request

from server.models.pool import LoadedModel
from server.pipeline.chat_pipeline import answer_chat, prepare_chat, start_chat
from server.pipeline.chat_request import ChatCompletionRequest
from server.pipeline.model_lease import respond_with_model
from server.pipeline.stream_envelope import stream_envelope
from server.protocols.anthropic.errors import COUNT_TOKENS_PATH, MESSAGES_PATH
from server.protocols.anthropic.input import chat_request
from server.protocols.anthropic.output import MESSAGES_STREAM, MessageEvents, answer_message
from server.protocols.anthropic.wire import CountTokensRequest, MessagesRequest, TokenCount

router = APIRouter()


@router.post(MESSAGES_PATH, response_model=None)
async def create_message(request: Request, body: MessagesRequest, model: str | None = Query(None)) -> Any:
    chat = chat_request(body)
    return await respond_with_model(
        request,
        model,
        body.model,
        respond=lambda loaded: _respond(request, body, chat, loaded),
        stream=MESSAGES_STREAM if body.stream else None,
    )


async def _respond(
    request: Request, body: MessagesRequest, chat: ChatCompletionRequest, loaded: LoadedModel
) -> Any:
    run = await start_chat(request, chat, loaded)
    user_stops = tuple(body.stop_sequences or ())
    if body.stream:
        events = MessageEvents(run.prepared, user_stops)
        return stream_envelope(run.events, events, MESSAGES_STREAM.transport)
    answer = await answer_chat(request, run)
    return answer_message(answer, loaded.name, user_stops)


@router.post(COUNT_TOKENS_PATH, response_model=TokenCount)
async def count_tokens(request: Request, body: CountTokensRequest, model: str | None = Query(None)) -> Any:
    chat = chat_request(body)

    async def count(loaded: LoadedModel) -> TokenCount:
        # The prompt exactly as /v1/messages would send it, tools and template included.
        prepared = await asyncio.to_thread(prepare_chat, loaded, chat)
        return TokenCount(input_tokens=len(prepared.tokens))

    return await respond_with_model(request, model, body.model, respond=count)
