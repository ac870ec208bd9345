"""Answers in Ollama's shapes: a stream of NDJSON chunks (no opening chunk; text as it comes; tool
calls whole, with object arguments, in the chunk before the last; a last chunk with `done: true`,
its reason, counts and nanosecond durations), or the same fields in one object. An error inside a
stream is one `{"error": ...}` line."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from server.engine.engine import EventStream
from server.engine.sampling import TokenLogprob
from server.engine.sequence import Event, TextDelta, Usage
from server.formats.message import ParsedMessage
from server.formats.parser import MessageDelta
from server.ids import random_id
from server.pipeline.chat_pipeline import ParsedChunks, PreparedChat
from server.pipeline.stream_envelope import StreamStyle
from server.pipeline.tools import arguments_object
from server.protocols.ollama.wire import (
    ChatChunk,
    GenerateChunk,
    Logprob,
    MessageOut,
    ToolCallFunctionOut,
    ToolCallOut,
    timestamp,
)
from server.protocols.ollama.wire import (
    TokenLogprob as WireTokenLogprob,
)
from server.service.errors import APIError
from server.service.transports.ndjson import NDJSON

log = logging.getLogger("localchat.api")
TokenBytes = Callable[[int], bytes]
_NS = 1_000_000_000

OLLAMA_NDJSON = NDJSON(exclude_none=True)


def error_line(exc: APIError) -> list[str]:
    log.warning("stream ended with error: %s", exc.message)
    return [json.dumps({"error": exc.message}) + "\n"]


OLLAMA_STREAM = StreamStyle(OLLAMA_NDJSON, failed_early=error_line)


@dataclass
class Timing:
    """When a request arrived, got its model, saw its first token and ended (perf_counter seconds):
    the durations of Ollama's last chunk."""

    arrived: float = field(default_factory=time.perf_counter)
    model_ready: float | None = None
    first_token: float | None = None

    def ready(self) -> None:
        self.model_ready = time.perf_counter()

    def token(self) -> None:
        if self.first_token is None:
            self.first_token = time.perf_counter()

    def metrics(self, usage: Usage) -> dict[str, int]:
        end = time.perf_counter()
        ready = self.model_ready if self.model_ready is not None else self.arrived
        first = self.first_token if self.first_token is not None else end
        return {
            "total_duration": _ns(end - self.arrived),
            "load_duration": _ns(ready - self.arrived),
            "prompt_eval_count": usage.prompt_tokens,
            "prompt_eval_duration": _ns(first - ready),
            "eval_count": usage.completion_tokens,
            "eval_duration": _ns(end - first),
        }

    def metrics_of_prompt(self, num_tokens: int) -> dict[str, int]:
        """An embedding's: the whole time, the load, and the tokens read."""
        end = time.perf_counter()
        ready = self.model_ready if self.model_ready is not None else self.arrived
        return {
            "total_duration": _ns(end - self.arrived),
            "load_duration": _ns(ready - self.arrived),
            "prompt_eval_count": num_tokens,
        }


def _ns(seconds: float) -> int:
    return max(int(seconds * _NS), 0)


def done_reason(reason: str) -> str:
    # Ollama says "stop" for an answer that ends in tool calls too.
    return "length" if reason == "length" else "stop"


def wire_logprobs(entries: Sequence[TokenLogprob], token_bytes: TokenBytes) -> list[Logprob]:
    def one(token: int, logprob: float) -> WireTokenLogprob:
        raw = token_bytes(token)
        return WireTokenLogprob(token=raw.decode("utf-8", errors="replace"), logprob=logprob, bytes=list(raw))

    return [
        Logprob(
            **one(entry.token, entry.logprob).model_dump(),
            top_logprobs=[one(token, logprob) for token, logprob in entry.top] or None,
        )
        for entry in entries
    ]


def tool_calls_out(calls: Sequence[tuple[str, str, str]]) -> list[ToolCallOut] | None:
    """(id, name, JSON arguments) as Ollama's calls: arguments an object, an index each."""
    return [
        ToolCallOut(
            id=call_id, function=ToolCallFunctionOut(index=index, name=name, arguments=arguments_object(args))
        )
        for index, (call_id, name, args) in enumerate(calls)
    ] or None


def ollama_call_id() -> str:
    return random_id("call", num_hex=8)


def whole_message(message: ParsedMessage) -> MessageOut:
    calls = [(ollama_call_id(), call.name, call.arguments) for call in message.tool_calls]
    return MessageOut(
        content=message.content, thinking=message.reasoning or None, tool_calls=tool_calls_out(calls)
    )


class _Calls:
    """Tool-call deltas gathered into whole calls: Ollama's clients take each call in one piece."""

    def __init__(self) -> None:
        self._calls: dict[int, list[str]] = {}  # index -> [name, arguments so far]

    def feed(self, delta: MessageDelta) -> None:
        for call in delta.tool_calls:
            entry = self._calls.setdefault(call.index, ["", ""])
            if call.name:
                entry[0] = call.name
            entry[1] += call.arguments

    def take(self) -> list[ToolCallOut] | None:
        calls = [(ollama_call_id(), name, arguments) for name, arguments in self._calls.values()]
        self._calls.clear()
        return tool_calls_out(calls)


async def timed(events: EventStream, timing: Timing) -> AsyncIterator[Event]:
    """The events, noting when the first token came (where prompt processing ended)."""
    try:
        async for event in events:
            if isinstance(event, TextDelta):
                timing.token()
            yield event
    finally:
        await events.aclose()


class ChatChunks(ParsedChunks):
    """/api/chat's stream: each parsed delta a chunk with its content and thinking."""

    def __init__(
        self, prepared: PreparedChat, model_name: str, timing: Timing, *, wants_logprobs: bool
    ) -> None:
        super().__init__(prepared)
        self._model = prepared.model
        self._model_name = model_name
        self._timing = timing
        self._wants_logprobs = wants_logprobs
        self._calls = _Calls()

    def opening(self) -> list[BaseModel]:
        return []

    def _chunk(self, message: MessageOut, **fields: Any) -> ChatChunk:
        return ChatChunk(model=self._model_name, created_at=timestamp(), message=message, **fields)

    def message_delta(
        self, delta: MessageDelta, logprobs: tuple[TokenLogprob, ...] | None
    ) -> list[BaseModel]:
        self._calls.feed(delta)
        formatted = (
            wire_logprobs(logprobs, self._model.runtime.token_bytes)
            if self._wants_logprobs and logprobs
            else None
        )
        if not (delta.content or delta.reasoning or formatted):
            return []
        message = MessageOut(content=delta.content, thinking=delta.reasoning or None)
        return [self._chunk(message, done=False, logprobs=formatted)]

    def message_finish(self, reason: str, usage: Usage, stop_sequence: str | None) -> list[BaseModel]:
        chunks: list[BaseModel] = []
        calls = self._calls.take()
        if calls is not None:
            chunks.append(self._chunk(MessageOut(tool_calls=calls), done=False))
        metrics = self._timing.metrics(usage)
        chunks.append(self._chunk(MessageOut(), done=True, done_reason=done_reason(reason), **metrics))
        return chunks

    def failure(self, exc: APIError) -> list[str]:
        return error_line(exc)


class GenerateChunks(ParsedChunks):
    """/api/generate's stream through a chat template: text in `response`, reasoning in `thinking`."""

    def __init__(
        self, prepared: PreparedChat, model_name: str, timing: Timing, *, wants_logprobs: bool
    ) -> None:
        super().__init__(prepared)
        self._text = TextChunks(model_name, prepared.model.runtime.token_bytes, timing, wants_logprobs)

    def opening(self) -> list[BaseModel]:
        return []

    def message_delta(
        self, delta: MessageDelta, logprobs: tuple[TokenLogprob, ...] | None
    ) -> list[BaseModel]:
        return self._text.chunk(delta.content, delta.reasoning, logprobs or ())

    def message_finish(self, reason: str, usage: Usage, stop_sequence: str | None) -> list[BaseModel]:
        return self._text.finish(reason, usage, stop_sequence)

    def failure(self, exc: APIError) -> list[str]:
        return error_line(exc)


class TextChunks:
    """/api/generate's stream of raw text (raw mode, or a model without a template)."""

    def __init__(
        self, model_name: str, token_bytes: TokenBytes, timing: Timing, wants_logprobs: bool
    ) -> None:
        self._model_name = model_name
        self._token_bytes = token_bytes
        self._timing = timing
        self._wants_logprobs = wants_logprobs

    def opening(self) -> list[BaseModel]:
        return []

    def chunk(self, text: str, thinking: str, logprobs: Sequence[TokenLogprob]) -> list[BaseModel]:
        formatted = wire_logprobs(logprobs, self._token_bytes) if self._wants_logprobs and logprobs else None
        if not (text or thinking or formatted):
            return []
        return [
            GenerateChunk(
                model=self._model_name,
                created_at=timestamp(),
                response=text,
                thinking=thinking or None,
                done=False,
                logprobs=formatted,
            )
        ]

    def delta(self, text: str, logprobs: tuple[TokenLogprob, ...]) -> list[BaseModel]:
        return self.chunk(text, "", logprobs)

    def finish(self, reason: str, usage: Usage, stop_sequence: str | None) -> list[BaseModel]:
        return [
            GenerateChunk(
                model=self._model_name,
                created_at=timestamp(),
                response="",
                done=True,
                done_reason=done_reason(reason),
                **self._timing.metrics(usage),
            )
        ]

    def failure(self, exc: APIError) -> list[str]:
        return error_line(exc)
