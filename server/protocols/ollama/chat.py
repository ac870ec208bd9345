"""POST /api/chat on the one chat pipeline: Ollama's messages, tools, format, think and options in;
NDJSON chunks (streamed by default) or one object out."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from server.models.pool import LoadedModel
from server.pipeline.chat_pipeline import ChatRun, answer_chat, start_chat
from server.pipeline.chat_request import ChatCompletionRequest
from server.pipeline.model_lease import respond_with_model
from server.pipeline.stream_envelope import stream_envelope
from server.protocols.ollama.input import chat_request
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
    ChatChunks,
    Timing,
    timed,
    whole_message,
    wire_logprobs,
)
from server.protocols.ollama.output import done_reason as ollama_done_reason
from server.protocols.ollama.wire import (
    API_PREFIX,
    ChatChunk,
    ChatRequest,
    MessageOut,
    does_not_support,
    timestamp,
)

router = APIRouter()
CHAT_PATH = f"{API_PREFIX}/chat"


@router.post(CHAT_PATH, response_model=ChatChunk, response_model_exclude_none=True)
async def chat(request: Request, body: ChatRequest) -> Any:
    timing = Timing()
    name = requested_name(request, body.model)
    entry = find_model(request, name)
    keep_alive = KeepAliveRule(body.keep_alive)
    if not body.messages:
        return await load_or_unload(
            request,
            entry,
            keep_alive,
            lambda reason: ChatChunk(
                model=name, created_at=timestamp(), message=MessageOut(), done=True, done_reason=reason
            ),
        )
    info = pool_of(request).catalog.info(entry.name)
    if info.kind == "embedding":
        raise does_not_support(name, "chat", param="model")
    internal = chat_request(body, info, name)
    keep_alive.apply_before(pool_of(request), entry.name)
    is_streamed = body.stream is not False
    return await respond_with_model(
        request,
        None,
        entry.name,
        respond=lambda loaded: _respond(
            request, body, name, internal, loaded, timing, keep_alive, is_streamed
        ),
        stream=OLLAMA_STREAM if is_streamed else None,
    )


async def _respond(
    request: Request,
    body: ChatRequest,
    name: str,
    internal: ChatCompletionRequest,
    loaded: LoadedModel,
    timing: Timing,
    keep_alive: KeepAliveRule,
    is_streamed: bool,
) -> Any:
    timing.ready()
    await keep_alive.apply_while_leased(pool_of(request), loaded.name)
    run = await start_chat(request, internal, loaded, tokens_up_to=True)
    run = ChatRun(run.prepared, timed(run.events, timing))
    if is_streamed:
        chunks = ChatChunks(run.prepared, name, timing, wants_logprobs=body.logprobs)
        return stream_envelope(run.events, chunks, OLLAMA_NDJSON)
    answer = await answer_chat(request, run)
    return ollama_json(
        ChatChunk(
            model=name,
            created_at=timestamp(),
            message=whole_message(answer.message),
            done=True,
            done_reason=ollama_done_reason(answer.finish_reason),
            logprobs=wire_logprobs(answer.logprobs, loaded.runtime.token_bytes) if body.logprobs else None,
            **timing.metrics(answer.usage),
        )
    )
