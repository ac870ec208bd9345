"""Anthropic's Messages API on the chat pipeline: POST /v1/messages (whole or streamed) and
POST /v1/messages/count_tokens. Errors on these routes take Anthropic's envelope (see errors.py)."""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Query, Request

from server.api.anthropic_input import chat_request
from server.api.anthropic_output import MessageEvents, answer_message, stream_error
from server.api.anthropic_protocol import CountTokensRequest, MessagesRequest, TokenCount
from server.api.chat_pipeline import answer_chat, prepare_chat, start_chat
from server.api.generation import model_name
from server.api.model_lease import respond_with_model
from server.api.protocol import ChatCompletionRequest
from server.api.sse import NAMED_EVENTS, stream_envelope
from server.models.pool import LoadedModel

router = APIRouter()


@router.post("/v1/messages", response_model=None)
async def create_message(request: Request, body: MessagesRequest, model: str | None = Query(None)) -> Any:
    chat = chat_request(body)
    name = model_name(model, body.model, request.app.state.settings)
    return await respond_with_model(
        request,
        name,
        is_stream=body.stream,
        respond=lambda loaded: _respond(request, body, chat, loaded),
        stream_failure=stream_error,
    )


async def _respond(
    request: Request, body: MessagesRequest, chat: ChatCompletionRequest, loaded: LoadedModel
) -> Any:
    run = await start_chat(request, chat, loaded)
    user_stops = tuple(body.stop_sequences or ())
    if body.stream:
        return stream_envelope(run.events, MessageEvents(run.prepared, user_stops), NAMED_EVENTS)
    answer = await answer_chat(request, run)
    return answer_message(answer, loaded.name, user_stops)


@router.post("/v1/messages/count_tokens", response_model=TokenCount)
async def count_tokens(request: Request, body: CountTokensRequest, model: str | None = Query(None)) -> Any:
    chat = chat_request(body)
    name = model_name(model, body.model, request.app.state.settings)

    async def count(loaded: LoadedModel) -> TokenCount:
        # The prompt exactly as /v1/messages would send it, tools and template included.
        prepared = await asyncio.to_thread(prepare_chat, loaded, chat)
        return TokenCount(input_tokens=len(prepared.tokens))

    return await respond_with_model(request, name, is_stream=False, respond=count)
