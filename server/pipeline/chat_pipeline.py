"""The one chat pipeline behind every conversational route (chat completions, Responses, Anthropic
Messages): a request in the internal chat shape is rendered through the model's template, generated,
and its output parsed into content, reasoning and tool calls. The routes only translate wire shapes."""

from __future__ import annotations

import asyncio
import functools
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError

from server.engine.engine import EventStream
from server.engine.sampling import TokenLogprob
from server.engine.sequence import GenerationRequest, Usage
from server.formats.chat_format import ChatFormat, ParseOptions
from server.formats.constrain import CallConstraint, call_constraint
from server.formats.message import ParsedMessage
from server.formats.parser import MessageDelta, MessageStream, is_passthrough, opens_reasoning, parse_complete
from server.formats.registry import tool_prompt_for
from server.models.pool import LoadedModel
from server.pipeline.chat_request import ChatCompletionRequest, SamplingRequest
from server.pipeline.constraints import check_schema_size
from server.pipeline.generation import (
    collect_unless_disconnected,
    max_new_tokens,
    refuse_unless_it_may_fit,
    start_generation,
)
from server.pipeline.sampling import parse_stops, sampling_params
from server.pipeline.tools import ToolUse, template_messages, template_variables, tool_use, with_system_text
from server.service.errors import APIError, invalid_request
from server.service.validation_errors import describe_validation_errors
from server.templates.chat_template import TemplateError
from server.templates.prompt import ChatPrompt

Shape = TypeVar("Shape", bound=SamplingRequest)


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


def prepare_chat(model: LoadedModel, body: ChatCompletionRequest, *, must_fit: bool = False) -> PreparedChat:
    """The prompt and output rules of a chat request: its messages through the model's template, its
    tools through the model family's call format. `must_fit`: refuse a prompt too long for the
    context before tokenizing it (a render or a token count still tokenizes it whole)."""
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
    system_text = tool_prompt_for(fmt, tools.tools) if tools.is_calling else None
    if system_text is not None:
        messages = with_system_text(messages, system_text)
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
    if must_fit:
        refuse_unless_it_may_fit(prompt.text, model, param="messages")
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


def internal_chat_request(
    data: dict[str, Any], renamed: dict[str, str], *, shape: type[Shape] = ChatCompletionRequest  # type: ignore[assignment]
) -> Shape:
    """Another protocol's request, translated to chat fields, as the internal chat request (or, with
    `shape`, as the sampling fields alone). A value the chat rules refuse is a 400 that names the
    field as the client spelled it (`renamed` maps chat field names back)."""
    try:
        return shape.model_validate(data)
    except ValidationError as exc:
        problem = describe_validation_errors(exc.errors(), data, renamed)
        raise invalid_request(problem.message, param=problem.param, code=problem.code) from None


def finish_with_calls(reason: str, has_calls: bool) -> str:
    return "tool_calls" if has_calls and reason == "stop" else reason


@dataclass(frozen=True)
class ChatRun:
    """A chat request whose generation has started."""

    prepared: PreparedChat
    events: EventStream


async def start_chat(
    request: Request, body: ChatCompletionRequest, loaded: LoadedModel, *, tokens_up_to: bool = False
) -> ChatRun:
    """Render, tokenize and start generating. `tokens_up_to`: max_tokens is a ceiling that the
    context may lower (see max_new_tokens), not a demand refused when it does not fit."""
    # Rendering and tokenizing a long or hostile prompt must not hold the event loop.
    prepared = await asyncio.to_thread(functools.partial(prepare_chat, loaded, body, must_fit=True))
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
        max_tokens=max_new_tokens(
            requested, len(prepared.tokens), loaded, request.app.state.settings, up_to=tokens_up_to
        ),
        stops=parse_stops(body.stop) + prepared.prompt.stops,
        strip_leading=prepared.prompt.strip_leading,
        render_special=not is_passthrough(prepared.fmt, prepared.output),
    )
    return ChatRun(prepared, start_generation(loaded, generation))


@dataclass(frozen=True)
class ChatAnswer:
    """A whole, parsed answer: what a non-streamed response is made of."""

    message: ParsedMessage
    call_ids: list[str]
    # "tool_calls" when the answer calls tools, else the engine's reason ("stop", "length").
    finish_reason: str
    usage: Usage
    logprobs: list[TokenLogprob] = field(default_factory=list)
    stop_sequence: str | None = None


async def answer_chat(request: Request, run: ChatRun) -> ChatAnswer:
    result = await collect_unless_disconnected(request, run.events)
    is_cut = result.finish_reason == "length"
    message, call_ids = parse_complete(result.text, run.prepared.fmt, run.prepared.output, is_cut=is_cut)
    return ChatAnswer(
        message,
        call_ids,
        finish_with_calls(result.finish_reason, bool(message.tool_calls)),
        result.usage,
        result.logprobs,
        result.stop_sequence,
    )


class ParsedChunks(ABC):
    """A stream's events built from parsed message deltas (content, reasoning, tool calls) rather than
    raw text: what the chat, Responses and Anthropic streams have in common."""

    def __init__(self, prepared: PreparedChat) -> None:
        self._message = MessageStream(prepared.fmt, prepared.output)

    @property
    def has_calls(self) -> bool:
        return bool(self._message.message.tool_calls)

    def delta(self, text: str, logprobs: tuple[TokenLogprob, ...]) -> Iterable[BaseModel]:
        return self.message_delta(self._message.feed(text), logprobs)

    def finish(self, reason: str, usage: Usage, stop_sequence: str | None) -> Iterable[BaseModel]:
        last = list(self.message_delta(self._message.finish(is_cut=reason == "length"), None))
        return [*last, *self.message_finish(finish_with_calls(reason, self.has_calls), usage, stop_sequence)]

    @abstractmethod
    def message_delta(
        self, delta: MessageDelta, logprobs: tuple[TokenLogprob, ...] | None
    ) -> Iterable[BaseModel]:
        """The events for one parsed delta (which may be empty: text held back by the parser);
        `logprobs` is None for the parser's last flush, which has no tokens of its own."""

    @abstractmethod
    def message_finish(self, reason: str, usage: Usage, stop_sequence: str | None) -> Iterable[BaseModel]:
        """The closing events, once the last delta is out."""
