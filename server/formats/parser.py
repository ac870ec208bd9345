"""The one parser every family shares: raw model output -> reasoning, content and tool calls.

`parse_message` is a pure function of the text so far. While output is still arriving it holds back
whatever could yet turn out to be a marker, so each partial result is a prefix of the final one;
`MessageStream` re-parses after every delta and sends only the difference. That is how a call split
across any token boundary streams exactly like the whole answer, with no per-family state machine.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
import string
from dataclasses import dataclass, field

from server.formats.chat_format import ChatFormat, ParseOptions
from server.formats.cursor import CallSink, Cursor, Incomplete, Malformed, ParsedCall
from server.formats.message import ParsedMessage, Reasoning, Segment, Text, assemble
from server.ids import random_id

log = logging.getLogger("localchat.formats")


def partial_marker_length(text: str, markers: tuple[str, ...]) -> int:
    """How many trailing characters could be the start of one of the markers."""
    longest = 0
    for marker in markers:
        for size in range(min(len(marker) - 1, len(text)), longest, -1):
            if text.endswith(marker[:size]):
                longest = size
                break
    return longest


def parse_message(text: str, fmt: ChatFormat, options: ParseOptions, *, is_final: bool) -> ParsedMessage:
    if fmt.segmenter is not None:
        segments = fmt.segmenter(text, options, is_final)
    else:
        segments = split_segments(text, fmt, options, is_final=is_final)
    return assemble(segments, is_final=is_final)


def split_segments(text: str, fmt: ChatFormat, options: ParseOptions, *, is_final: bool) -> list[Segment]:
    segments: list[Segment] = []
    pos = 0
    if fmt.reasoning_markers is not None and options.parse_reasoning:
        reasoning, pos, is_held = _reasoning(text, fmt.reasoning_markers, options, is_final=is_final)
        if reasoning is not None:
            segments.append(Reasoning(reasoning))
        if is_held:
            return segments
    if options.parse_tools and fmt.parse_calls is not None:
        segments.extend(_answer_with_calls(text, pos, fmt, is_final=is_final, is_cut=options.is_cut))
    else:
        segments.append(Text(text[pos:]))
    return segments


def opens_reasoning(prompt: str, markers: tuple[str, str]) -> bool:
    """Whether the prompt ends inside a reasoning block, as templates that force thinking do."""
    start, end = markers
    tail = prompt.rstrip()
    return tail.endswith(start) and not tail.endswith(end)


def _reasoning(
    text: str, markers: tuple[str, str], options: ParseOptions, *, is_final: bool
) -> tuple[str | None, int, bool]:
    """(reasoning text or None, where the answer starts, whether everything after is held back)."""
    start_marker, end_marker = markers
    if options.is_reasoning_open:
        body_start = 0
    else:
        lead = len(text) - len(text.lstrip())
        if text.startswith(start_marker, lead):
            body_start = lead + len(start_marker)
        elif (not is_final or options.is_cut) and start_marker.startswith(text[lead:]):
            return None, 0, True  # may still become "<think>" (or would have, but for max_tokens)
        else:
            return None, 0, False
    end = text.find(end_marker, body_start)
    if end >= 0:
        return text[body_start:end], end + len(end_marker), False
    if is_final:
        return text[body_start:], len(text), False
    held = partial_marker_length(text, (end_marker,))
    return text[body_start : len(text) - held], len(text), True


def _answer_with_calls(
    text: str, pos: int, fmt: ChatFormat, *, is_final: bool, is_cut: bool = False
) -> list[Segment]:
    assert fmt.parse_calls is not None
    segments: list[Segment] = []
    answer_start = pos
    while True:
        opener_at = _find_opener(text, pos, answer_start, fmt)
        if opener_at is None:
            tail = text[pos:]
            if not is_final or is_cut:
                # Held while more may come; cut by max_tokens, half an opener was a call attempt.
                tail = tail[: len(tail) - _held_opener_length(text, pos, answer_start, fmt)]
            segments.append(Text(tail))
            return segments
        segments.append(Text(text[pos:opener_at]))
        cursor = Cursor(text, opener_at)
        sink = CallSink(attempt_start=opener_at)
        try:
            fmt.parse_calls(cursor, sink)
        except Incomplete:
            segments.extend(sink.calls)
            if is_final and not sink.attempt_has_call and not is_cut:
                # An unfinished opener is just text (from the opener itself if nothing was a call);
                # cut by max_tokens, it was a call that never got its arguments (ParseOptions.is_cut).
                segments.append(Text(text[sink.attempt_start if sink.calls else opener_at :]))
            return segments
        except Malformed as exc:
            segments.extend(sink.calls)
            if sink.attempt_has_call:
                # The call already streamed: it ends where it broke, and what follows is text.
                if sink.has_open_call:
                    sink.calls[-1].is_complete = False
                pos = exc.pos
            else:
                # Never a call: the attempt is text, and the search for openers goes on after it.
                start = sink.attempt_start if sink.calls else opener_at
                pos = max(exc.pos, start + 1)
                segments.append(Text(text[start:pos]))
            continue
        segments.extend(sink.calls)
        pos = cursor.pos


def _find_opener(text: str, pos: int, answer_start: int, fmt: ChatFormat) -> int | None:
    if fmt.is_call_anchored:
        lead = len(text) - len(text[answer_start:].lstrip()) if pos == answer_start else -1
        if lead >= 0 and any(text.startswith(opener, lead) for opener in fmt.call_openers):
            return lead
        return None
    found = [index for opener in fmt.call_openers if (index := text.find(opener, pos)) >= 0]
    return min(found) if found else None


def _held_opener_length(text: str, pos: int, answer_start: int, fmt: ChatFormat) -> int:
    if fmt.is_call_anchored:
        if pos != answer_start:
            return 0
        answer = text[answer_start:].lstrip()
        is_prefix = any(opener.startswith(answer) for opener in fmt.call_openers)
        return len(text) - answer_start if answer and is_prefix else 0
    return partial_marker_length(text[pos:], fmt.call_openers)


# -- streaming ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ToolCallDelta:
    index: int
    arguments: str
    # Only in a call's first delta.
    id: str | None = None
    name: str | None = None


@dataclass(frozen=True)
class MessageDelta:
    reasoning: str = ""
    content: str = ""
    tool_calls: tuple[ToolCallDelta, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not (self.reasoning or self.content or self.tool_calls)


def is_passthrough(fmt: ChatFormat, options: ParseOptions) -> bool:
    """Nothing to parse: every delta is content as it comes."""
    has_reasoning = fmt.reasoning_markers is not None and options.parse_reasoning
    has_calls = options.parse_tools and fmt.has_tool_calls
    return not has_reasoning and not has_calls and fmt.segmenter is None


def new_call_id(fmt: ChatFormat | None = None) -> str:
    if fmt is not None and fmt.has_short_call_ids:
        return "".join(secrets.choice(_ID_CHARS) for _ in range(9))
    return random_id("call")


_ID_CHARS = string.ascii_letters + string.digits


@dataclass
class MessageStream:
    """Feeds text deltas through parse_message and yields what is new since the last delta."""

    fmt: ChatFormat
    options: ParseOptions
    text: str = ""
    sent: ParsedMessage = field(default_factory=ParsedMessage)
    call_ids: list[str] = field(default_factory=list)
    # Times a re-parse contradicted text already sent (a parser bug; tests assert it stays 0).
    num_contradictions: int = 0

    @property
    def is_passthrough(self) -> bool:
        return is_passthrough(self.fmt, self.options)

    def feed(self, delta: str) -> MessageDelta:
        self.text += delta
        if self.is_passthrough:
            self.sent.content += delta
            return MessageDelta(content=delta)
        return self._diff(parse_message(self.text, self.fmt, self.options, is_final=False))

    def finish(self, *, is_cut: bool = False) -> MessageDelta:
        """The last delta; `is_cut` when the answer ended at max_tokens (see ParseOptions.is_cut)."""
        if self.is_passthrough:
            return MessageDelta()
        options = dataclasses.replace(self.options, is_cut=is_cut)
        return self._diff(parse_message(self.text, self.fmt, options, is_final=True))

    @property
    def message(self) -> ParsedMessage:
        return self.sent

    def _diff(self, new: ParsedMessage) -> MessageDelta:
        reasoning = self._suffix(self.sent.reasoning, new.reasoning, "reasoning")
        content = self._suffix(self.sent.content, new.content, "content")
        self.sent.reasoning += reasoning
        self.sent.content += content
        calls: list[ToolCallDelta] = []
        for index, call in enumerate(new.tool_calls):
            if index < len(self.sent.tool_calls):
                sent_call = self.sent.tool_calls[index]
                fragment = self._suffix(sent_call.arguments, call.arguments, "arguments")
                sent_call.arguments += fragment
                sent_call.is_complete = call.is_complete
                if fragment:
                    calls.append(ToolCallDelta(index, fragment))
            else:
                self.call_ids.append(new_call_id(self.fmt))
                self.sent.tool_calls.append(ParsedCall(call.name, call.arguments, call.is_complete))
                calls.append(ToolCallDelta(index, call.arguments, id=self.call_ids[index], name=call.name))
        return MessageDelta(reasoning, content, tuple(calls))

    def _suffix(self, sent: str, now: str, what: str) -> str:
        if now.startswith(sent):
            return now[len(sent) :]
        # A partial parse that a later one contradicts is a parser bug; never resend or garble text.
        self.num_contradictions += 1
        log.warning("%s went back on text already streamed; keeping what was sent", what)
        return ""


def parse_complete(
    text: str, fmt: ChatFormat, options: ParseOptions, *, is_cut: bool = False
) -> tuple[ParsedMessage, list[str]]:
    """A whole answer at once, with fresh call ids: the non-streamed path."""
    message = parse_message(text, fmt, dataclasses.replace(options, is_cut=is_cut), is_final=True)
    return message, [new_call_id(fmt) for _ in message.tool_calls]
