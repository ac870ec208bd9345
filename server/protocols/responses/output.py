"""A chat answer as Responses output: whole (output items and usage) or as the documented event
sequence, where each item is added, filled by deltas, and done before the response completes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from server.engine.sampling import TokenLogprob
from server.engine.sequence import Usage
from server.formats.parser import MessageDelta, ToolCallDelta
from server.pipeline.chat_pipeline import ChatAnswer, ParsedChunks, PreparedChat
from server.pipeline.stream_envelope import StreamStyle
from server.protocols.responses.wire import (
    FunctionCallItem,
    IncompleteDetails,
    InputTokensDetails,
    ItemStatus,
    MessageItem,
    OutputItem,
    OutputText,
    ReasoningItem,
    ReasoningText,
    ResponseErrorInfo,
    ResponseObject,
    ResponseUsage,
    StreamEvent,
    item_id,
)
from server.service.errors import APIError
from server.service.transports.sse import NAMED_EVENTS

# Called with the finished response (completed or incomplete) before its last event is sent.
OnFinished = Callable[[ResponseObject], None]


def response_usage(usage: Usage) -> ResponseUsage:
    return ResponseUsage(
        input_tokens=usage.prompt_tokens,
        input_tokens_details=InputTokensDetails(cached_tokens=usage.cached_tokens),
        output_tokens=usage.completion_tokens,
        total_tokens=usage.total_tokens,
    )


def finished(skeleton: ResponseObject, output: list[OutputItem], reason: str, usage: Usage) -> ResponseObject:
    """The response once generation ended: "incomplete" when it ran out of output tokens."""
    is_cut = reason == "length"
    return skeleton.model_copy(
        update={
            "status": "incomplete" if is_cut else "completed",
            "incomplete_details": IncompleteDetails(reason="max_output_tokens") if is_cut else None,
            "output": output,
            "usage": response_usage(usage),
        }
    )


def answer_output(answer: ChatAnswer) -> list[OutputItem]:
    """Output items of a whole answer, in the order a stream adds them: reasoning, text, calls. An
    answer cut by max_output_tokens leaves its last item "incomplete", as a stream does."""
    message = answer.message
    output: list[OutputItem] = []
    if message.reasoning:
        output.append(
            ReasoningItem(
                id=item_id("rs"), content=[ReasoningText(text=message.reasoning)], status="completed"
            )
        )
    if message.content:
        output.append(
            MessageItem(id=item_id("msg"), status="completed", content=[OutputText(text=message.content)])
        )
    for call, call_id in zip(message.tool_calls, answer.call_ids, strict=True):
        output.append(
            FunctionCallItem(
                id=item_id("fc"),
                call_id=call_id,
                name=call.name,
                arguments=call.arguments,
                status="completed",
            )
        )
    if output and answer.finish_reason == "length":
        output[-1] = output[-1].model_copy(update={"status": "incomplete"})
    return output


class ResponseEvents(ParsedChunks):
    """The events of one streamed response, numbered in order."""

    def __init__(self, prepared: PreparedChat, skeleton: ResponseObject, on_finished: OnFinished) -> None:
        super().__init__(prepared)
        self._skeleton = skeleton
        self._on_finished = on_finished
        self._sequence = 0
        self._output: list[OutputItem] = []
        # The item deltas go to now; another kind of delta closes it first.
        self._open: OutputItem | None = None
        self._text = ""

    def _event(self, kind: str, **fields: Any) -> StreamEvent:
        event = StreamEvent(type=kind, sequence_number=self._sequence, **fields)
        self._sequence += 1
        return event

    def _item_event(self, kind: str, item: OutputItem, **fields: Any) -> StreamEvent:
        return self._event(kind, item_id=item.id, output_index=self._output.index(item), **fields)

    def opening(self) -> list[BaseModel]:
        return [
            self._event("response.created", response=self._skeleton),
            self._event("response.in_progress", response=self._skeleton),
        ]

    def message_delta(
        self, delta: MessageDelta, logprobs: tuple[TokenLogprob, ...] | None
    ) -> list[BaseModel]:
        events: list[BaseModel] = []
        if delta.reasoning:
            events += self._text_delta(ReasoningItem, delta.reasoning)
        if delta.content:
            events += self._text_delta(MessageItem, delta.content)
        for call in delta.tool_calls:
            events += self._call_delta(call)
        return events

    def _add(self, item: OutputItem) -> list[BaseModel]:
        events = self._close()
        self._output.append(item)
        self._open, self._text = item, ""
        return [
            *events,
            self._event("response.output_item.added", output_index=len(self._output) - 1, item=item),
        ]

    def _text_delta(self, kind: type[MessageItem] | type[ReasoningItem], text: str) -> list[BaseModel]:
        events: list[BaseModel] = []
        if not isinstance(self._open, kind):
            if kind is MessageItem:
                item: OutputItem = MessageItem(id=item_id("msg"), status="in_progress", content=[])
                part: BaseModel = OutputText(text="")
            else:
                item, part = (
                    ReasoningItem(id=item_id("rs"), status="in_progress", content=[]),
                    ReasoningText(text=""),
                )
            events += self._add(item)
            events.append(self._item_event("response.content_part.added", item, content_index=0, part=part))
        assert self._open is not None
        self._text += text
        if kind is MessageItem:
            events.append(
                self._item_event(
                    "response.output_text.delta", self._open, content_index=0, delta=text, logprobs=[]
                )
            )
        else:
            events.append(
                self._item_event("response.reasoning_text.delta", self._open, content_index=0, delta=text)
            )
        return events

    def _call_delta(self, call: ToolCallDelta) -> list[BaseModel]:
        events: list[BaseModel] = []
        if call.id is not None:  # a call's first delta names it
            item = FunctionCallItem(
                id=item_id("fc"), call_id=call.id, name=call.name or "", arguments="", status="in_progress"
            )
            events += self._add(item)
        assert isinstance(self._open, FunctionCallItem)
        if call.arguments:
            self._text += call.arguments
            events.append(
                self._item_event("response.function_call_arguments.delta", self._open, delta=call.arguments)
            )
        return events

    def _close(self, status: ItemStatus = "completed") -> list[BaseModel]:
        """Events that finish the open item; an answer cut by max_output_tokens leaves it
        "incomplete", as a non-streamed one says."""
        item, text = self._open, self._text
        if item is None:
            return []
        self._open = None
        events: list[BaseModel] = []
        if isinstance(item, MessageItem):
            part = OutputText(text=text)
            done: OutputItem = item.model_copy(update={"status": status, "content": [part]})
            events.append(
                self._item_event("response.output_text.done", item, content_index=0, text=text, logprobs=[])
            )
            events.append(self._item_event("response.content_part.done", item, content_index=0, part=part))
        elif isinstance(item, ReasoningItem):
            reasoning = ReasoningText(text=text)
            done = item.model_copy(update={"status": status, "content": [reasoning]})
            events.append(self._item_event("response.reasoning_text.done", item, content_index=0, text=text))
            events.append(
                self._item_event("response.content_part.done", item, content_index=0, part=reasoning)
            )
        else:
            done = item.model_copy(update={"status": status, "arguments": text})
            events.append(
                self._item_event(
                    "response.function_call_arguments.done", item, name=item.name, arguments=text
                )
            )
        index = self._output.index(item)
        self._output[index] = done
        events.append(self._event("response.output_item.done", output_index=index, item=done))
        return events

    def message_finish(self, reason: str, usage: Usage, stop_sequence: str | None) -> list[BaseModel]:
        events = self._close("incomplete" if reason == "length" else "completed")
        response = finished(self._skeleton, self._output, reason, usage)
        self._on_finished(response)
        return [*events, self._event(f"response.{response.status}", response=response)]

    def failure(self, exc: APIError) -> list[dict[str, Any]]:
        failed = self._skeleton.model_copy(
            update={
                "status": "failed",
                "error": ResponseErrorInfo(code=exc.code or "server_error", message=exc.message),
                "output": self._output,
            }
        )
        return [NAMED_EVENTS.frame(self._event("response.failed", response=failed))]


def stream_error(exc: APIError) -> list[dict[str, Any]]:
    """The one event of a stream that failed before its response began (the model would not load)."""
    event = StreamEvent(type="error", sequence_number=0, code=exc.code, message=exc.message, param=exc.param)
    return [NAMED_EVENTS.frame(event)]


RESPONSES_STREAM = StreamStyle(NAMED_EVENTS, failed_early=stream_error)
