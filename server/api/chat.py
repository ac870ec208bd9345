"""POST /v1/chat/completions and POST /v1/chat/render (localchat extension: the prompt the model sees)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel

from server.api.errors import APIError, invalid_request
from server.api.generation import (
    check_schema_size,
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
    ChunkDelta,
    FunctionCall,
    FunctionCallDelta,
    RenderResponse,
    ToolCall,
    ToolCallChunk,
    new_id,
)
from server.api.render import render_response
from server.api.sse import stream_envelope
from server.api.tools import ToolUse, template_messages, template_variables, tool_use, with_system_text
from server.engine.sampling import TokenLogprob
from server.engine.sequence import GenerationRequest, Usage
from server.formats.chat_format import ChatFormat, ParseOptions
from server.formats.constrain import CallConstraint, call_constraint
from server.formats.families.generic import tool_prompt
from server.formats.message import ParsedMessage
from server.formats.parser import (
    MessageDelta,
    MessageStream,
    is_passthrough,
    opens_reasoning,
    parse_complete,
)
from server.models.pool import LoadedModel
from server.templates.chat_template import TemplateError
from server.templates.prompt import ChatPrompt

router = APIRouter()


@dataclass(frozen=True)
class PreparedChat:
    model: LoadedModel
    prompt: ChatPrompt
    tokens: list[int]
    tool_use: ToolUse
    output: ParseOptions
    calls: CallConstraint | None

    @property
    def fmt(self) -> ChatFormat:
        return self.model.info.chat_format


def _prepare(model: LoadedModel, body: ChatCompletionRequest) -> PreparedChat:
    if model.info.template_error is not None:
        raise APIError(
            409,
            f"The chat template of model '{model.name}' is broken: {model.info.template_error}. "
            "Fix it with a chat_template override in models.yaml, or use /v1/completions.",
            param="model",
            code="chat_template_invalid",
        )
    tools = tool_use(body)
    fmt = model.info.chat_format
    messages = template_messages(body.messages)
    if tools.is_calling and fmt.needs_tool_prompt:
        messages = with_system_text(messages, tool_prompt(tools.tools))
    try:
        prompt = model.format_chat(
            messages, tools=list(tools.definitions) or None, variables=template_variables(body)
        )
    except TemplateError as exc:
        raise invalid_request(str(exc), param="messages", code="chat_template_error") from exc
    output = ParseOptions(
        parse_tools=tools.is_calling,
        parse_reasoning=body.reasoning_format != "none",
        is_reasoning_open=fmt.reasoning_markers is not None
        and opens_reasoning(prompt.text, fmt.reasoning_markers),
        tools=tools.tools,
    )
    calls = _call_constraint(tools, fmt, output) if tools.is_calling else None
    tokens = model.tokenize(prompt.text, parse_special=prompt.parse_special)
    return PreparedChat(model, prompt, tokens, tools, output, calls)


def _call_constraint(tools: ToolUse, fmt: ChatFormat, output: ParseOptions) -> CallConstraint:
    for position, tool in enumerate(tools.tools):
        check_schema_size(tool.parameters, f"tools.{position}.function.parameters")
    try:
        return call_constraint(
            fmt,
            tools.allowed,
            is_parallel=tools.is_parallel,
            is_forced=tools.is_forced,
            is_reasoning_open=output.is_reasoning_open,
        )
    except Exception as exc:
        # Tool parameters go through llama-cpp-python's schema converter, which asserts on schemas it
        # does not know ({"type": "weird"}) and may raise anything else on hostile ones.
        detail = str(exc)[:200]
        raise invalid_request(
            f"Cannot build a grammar for these tools' parameters: {type(exc).__name__}"
            f"{f': {detail}' if detail else ''}.",
            param="tools",
            code="invalid_grammar",
        ) from exc


class _ChatChunks:
    """Chunks of one streamed answer: text deltas go through the model family's output parser, so
    reasoning and tool calls arrive in their own fields."""

    def __init__(self, completion_id: str, prepared: PreparedChat, *, wants_logprobs: bool) -> None:
        self._id = completion_id
        self._model = prepared.model
        self._wants_logprobs = wants_logprobs
        self._message = MessageStream(prepared.fmt, prepared.output)

    def _chunk(self, choice: ChatChunkChoice | None, usage: Usage | None = None) -> ChatCompletionChunk:
        return ChatCompletionChunk(
            id=self._id,
            model=self._model.name,
            choices=[choice] if choice is not None else [],
            usage=usage_info(usage) if usage is not None else None,
        )

    def opening(self) -> BaseModel:
        return self._chunk(ChatChunkChoice(delta=ChunkDelta(role="assistant", content="")))

    def delta(self, text: str, logprobs: tuple[TokenLogprob, ...]) -> list[BaseModel]:
        formatted = chat_logprobs(logprobs, self._model.runtime.token_bytes) if self._wants_logprobs else None
        delta = self._message.feed(text)
        if delta.is_empty and formatted is None:
            return []
        return [self._chunk(ChatChunkChoice(delta=chunk_delta(delta), logprobs=formatted))]

    def finish(self, reason: str) -> list[BaseModel]:
        delta = self._message.finish()
        chunks: list[BaseModel] = []
        if not delta.is_empty:
            chunks.append(self._chunk(ChatChunkChoice(delta=chunk_delta(delta))))
        reason = finish_with_calls(reason, bool(self._message.message.tool_calls))
        chunks.append(self._chunk(ChatChunkChoice(delta=ChunkDelta(), finish_reason=reason)))
        return chunks

    def usage(self, usage: Usage) -> BaseModel:
        return self._chunk(None, usage)


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


def finish_with_calls(reason: str, has_calls: bool) -> str:
    return "tool_calls" if has_calls and reason == "stop" else reason


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
    name = model_name(model, body.model, request.app.state.settings)
    return await respond_with_model(
        request, name, is_stream=body.stream, respond=lambda loaded: _complete(request, body, loaded)
    )


async def _complete(request: Request, body: ChatCompletionRequest, loaded: LoadedModel) -> Any:
    """The answer, or for a stream its SSE events, with the model already leased."""
    # Rendering and tokenizing a long or hostile prompt must not hold the event loop.
    prepared = await asyncio.to_thread(_prepare, loaded, body)
    requested = body.max_completion_tokens if body.max_completion_tokens is not None else body.max_tokens
    generation = GenerationRequest(
        prompt_tokens=tuple(prepared.tokens),
        sampling=sampling_params(
            body,
            loaded,
            top_logprobs=(body.top_logprobs or 0) if body.logprobs else None,
            response_format=body.response_format,
            calls=prepared.calls,
        ),
        max_tokens=max_new_tokens(requested, len(prepared.tokens), loaded, request.app.state.settings),
        stops=parse_stops(body.stop) + prepared.prompt.stops,
        strip_leading=prepared.prompt.strip_leading,
        render_special=not is_passthrough(prepared.fmt, prepared.output),
    )
    completion_id = new_id("chatcmpl")
    events = start_generation(loaded, generation)
    if body.stream:
        chunks = _ChatChunks(completion_id, prepared, wants_logprobs=body.logprobs)
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        return stream_envelope(events, chunks, include_usage=include_usage)
    result = await collect_unless_disconnected(request, events)
    message, call_ids = parse_complete(result.text, prepared.fmt, prepared.output)
    return ChatCompletion(
        id=completion_id,
        model=loaded.name,
        choices=[
            ChatChoice(
                message=answer_message(message, call_ids),
                logprobs=chat_logprobs(result.logprobs, loaded.runtime.token_bytes)
                if body.logprobs
                else None,
                finish_reason=finish_with_calls(result.finish_reason, bool(message.tool_calls)),
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
    # Rendering and tokenizing a long or hostile prompt must not hold the event loop.
    prepared = await asyncio.to_thread(_prepare, loaded, body)
    return render_response(
        loaded,
        prompt=prepared.prompt.text,
        tokens=prepared.tokens,
        uses_template=prepared.prompt.uses_template,
        stops=prepared.prompt.stops,
        chat_format=prepared.fmt.name,
    )
