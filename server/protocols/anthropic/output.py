"""A chat answer as an Anthropic message: whole (content blocks, stop reason, usage) or as the
documented event sequence: message_start, then for each block content_block_start, its deltas and
content_block_stop, then message_delta with the stop reason and message_stop."""

from __future__ import annotations

import logging
from typing import Any

from pydantic import BaseModel

from server.engine.sampling import TokenLogprob
from server.engine.sequence import Usage
from server.formats.parser import MessageDelta, ToolCallDelta
from server.ids import random_id
from server.pipeline.chat_pipeline import ChatAnswer, ParsedChunks, PreparedChat
from server.pipeline.stream_envelope import StreamStyle
from server.pipeline.tools import arguments_object
from server.protocols.anthropic.errors import anthropic_error_body
from server.protocols.anthropic.wire import (
    ContentBlock,
    MessageObject,
    MessageUsage,
    StopReason,
    StreamEvent,
    TextBlock,
    ThinkingBlock,
    ToolUseBlock,
)
from server.service.errors import APIError
from server.service.transports.sse import NAMED_EVENTS

log = logging.getLogger("localchat.api")


def stop_reason(
    reason: str, stop_sequence: str | None, user_stops: tuple[str, ...]
) -> tuple[StopReason, str | None]:
    """Anthropic's stop reason, and the stop sequence when one of the client's ended the answer (the
    template's own stops, such as the end-of-turn marker, are a plain end of turn)."""
    if reason == "tool_calls":
        return "tool_use", None
    if reason == "length":
        return "max_tokens", None
    if stop_sequence is not None and stop_sequence in user_stops:
        return "stop_sequence", stop_sequence
    return "end_turn", None


def usage(totals: Usage) -> MessageUsage:
    return MessageUsage(
        input_tokens=totals.prompt_tokens,
        output_tokens=totals.completion_tokens,
        cache_read_input_tokens=totals.cached_tokens,
    )


def answer_message(answer: ChatAnswer, model: str, user_stops: tuple[str, ...]) -> MessageObject:
    message = answer.message
    content: list[ContentBlock] = []
    if message.reasoning:
        content.append(ThinkingBlock(thinking=message.reasoning))
    if message.content:
        content.append(TextBlock(text=message.content))
    for call, call_id in zip(message.tool_calls, answer.call_ids, strict=True):
        content.append(
            ToolUseBlock(id=_tool_use_id(call_id), name=call.name, input=arguments_object(call.arguments))
        )
    reason, sequence = stop_reason(answer.finish_reason, answer.stop_sequence, user_stops)
    return MessageObject(
        id=random_id("msg"),
        model=model,
        content=content,
        stop_reason=reason,
        stop_sequence=sequence,
        usage=usage(answer.usage),
    )


def _tool_use_id(call_id: str) -> str:
    # Ids of calls are the chat parser's ("call_…"); Anthropic clients expect "toolu_…".
    return f"toolu_{call_id.removeprefix('call_')}"


class MessageEvents(ParsedChunks):
    """The events of one streamed message."""

    def __init__(self, prepared: PreparedChat, user_stops: tuple[str, ...]) -> None:
        super().__init__(prepared)
        self._model = prepared.model.name
        self._num_prompt = len(prepared.tokens)
        self._user_stops = user_stops
        self._index = -1
        # The kind of the block now open ("text", "thinking", "tool_use"), or None.
        self._open: str | None = None

    def opening(self) -> list[BaseModel]:
        message = MessageObject(
            id=random_id("msg"),
            model=self._model,
            content=[],
            stop_reason=None,
            stop_sequence=None,
            usage=MessageUsage(input_tokens=self._num_prompt, output_tokens=0),
        )
        return [StreamEvent(type="message_start", message=message)]

    def message_delta(
        self, delta: MessageDelta, logprobs: tuple[TokenLogprob, ...] | None
    ) -> list[BaseModel]:
        events: list[BaseModel] = []
        if delta.reasoning:
            events += self._into("thinking", ThinkingBlock(thinking=""))
            events.append(self._delta({"type": "thinking_delta", "thinking": delta.reasoning}))
        if delta.content:
            events += self._into("text", TextBlock(text=""))
            events.append(self._delta({"type": "text_delta", "text": delta.content}))
        for call in delta.tool_calls:
            events += self._call(call)
        return events

    def _into(self, kind: str, empty: ContentBlock) -> list[BaseModel]:
        """Events that open a block of `kind` unless one is open already."""
        if self._open == kind:
            return []
        events = self._close()
        self._index += 1
        self._open = kind
        return [*events, StreamEvent(type="content_block_start", index=self._index, content_block=empty)]

    def _call(self, call: ToolCallDelta) -> list[BaseModel]:
        events: list[BaseModel] = []
        if call.id is not None:  # a call's first delta names it: always a new block
            events += self._close()
            block = ToolUseBlock(id=_tool_use_id(call.id), name=call.name or "", input={})
            events += self._into("tool_use", block)
        if call.arguments:
            events.append(self._delta({"type": "input_json_delta", "partial_json": call.arguments}))
        return events

    def _delta(self, delta: dict[str, Any]) -> StreamEvent:
        return StreamEvent(type="content_block_delta", index=self._index, delta=delta)

    def _close(self) -> list[BaseModel]:
        if self._open is None:
            return []
        events: list[BaseModel] = []
        if self._open == "thinking":
            # Clients send thinking back with its signature; there is none to give, but the
            # sequence is the documented one.
            events.append(self._delta({"type": "signature_delta", "signature": ""}))
        self._open = None
        return [*events, StreamEvent(type="content_block_stop", index=self._index)]

    def message_finish(self, reason: str, totals: Usage, stop_sequence: str | None) -> list[BaseModel]:
        anthropic_reason, sequence = stop_reason(reason, stop_sequence, self._user_stops)
        return [
            *self._close(),
            StreamEvent(
                type="message_delta",
                delta={"stop_reason": anthropic_reason, "stop_sequence": sequence},
                usage=usage(totals),
            ),
            StreamEvent(type="message_stop"),
        ]

    def failure(self, exc: APIError) -> list[dict[str, Any]]:
        return stream_error(exc)


def stream_error(exc: APIError) -> list[dict[str, Any]]:
    return [NAMED_EVENTS.frame(StreamEvent(**anthropic_error_body(exc)))]


MESSAGES_STREAM = StreamStyle(NAMED_EVENTS, failed_early=stream_error)
