"""gpt-oss (OpenAI harmony): the answer is a run of messages, each a header and a body.

The prompt ends with <|start|>assistant, so the model begins with a header:
    <|channel|>analysis<|message|>THINKING<|end|>
    <|start|>assistant<|channel|>final<|message|>ANSWER<|return|>
A function call is a commentary message with a recipient, in the channel header or in the role header:
    <|channel|>commentary to=functions.NAME <|constrain|>json<|message|>{...}<|call|>
    <|start|>assistant to=functions.NAME<|channel|>commentary json<|message|>{...}<|call|>
analysis is reasoning; final, and commentary without a recipient (a preamble), are content. <|return|>
and <|call|> end generation, so the engine drops them; they are read as message ends if they appear.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from server.formats.chat_format import ChatFormat, ParseOptions, ToolSpec
from server.formats.cursor import ParsedCall
from server.formats.gbnf import GrammarBuilder, literal
from server.formats.json_scan import ScanStatus, scan_value
from server.formats.message import Reasoning, Segment, Text
from server.formats.parser import partial_marker_length

START, CHANNEL, MESSAGE, CONSTRAIN = "<|start|>", "<|channel|>", "<|message|>", "<|constrain|>"
END, CALL, RETURN = "<|end|>", "<|call|>", "<|return|>"
ASSISTANT = "assistant"
FUNCTIONS = "functions."
ANALYSIS = (f"{CHANNEL}analysis{MESSAGE}", END)

# A body runs to the first of these; the message ends that close it are consumed with it.
_MESSAGE_ENDS = (END, CALL, RETURN)
_BODY_ENDS = (*_MESSAGE_ENDS, START, CHANNEL)
# How a header can begin: the first message's recipient may come before its channel.
_HEADER_STARTS = (START, CHANNEL, " to=")
# Role, recipient, channel (the last one counts: gpt-oss-20b now and then writes a stray
# "<|channel|>commentary to=assistant" first) and the content type, in the orders harmony allows.
_HEADER = re.compile(
    r"(?:<\|start\|>)?(?:assistant)?"
    r"(?:\s*to=(?P<role_recipient>[^\s<]+))?"
    r"(?:<\|channel\|>(?P<channel>\w+)(?:\s*to=(?P<recipient>[^\s<]+))?)+"
    r"(?:\s*(?:<\|constrain\|>)?[\w-]+)?\s*"
)
# Text messages that follow one another directly are paragraphs of the answer.
_PARAGRAPH = "\n\n"


@dataclass(frozen=True)
class _Header:
    channel: str
    recipient: str | None

    @classmethod
    def read(cls, text: str) -> _Header | None:
        match = _HEADER.fullmatch(text)
        if match is None:
            return None
        recipient = match["recipient"] or match["role_recipient"]
        return cls(match["channel"], None if recipient == ASSISTANT else recipient)


@dataclass
class _Output:
    """The segments so far, with a paragraph break between adjacent text messages and between
    separate analysis messages. Blank messages add nothing."""

    segments: list[Segment] = field(default_factory=list)
    is_after_text: bool = False
    has_reasoning: bool = False

    def text(self, text: str) -> None:
        if not text.strip():
            return
        self.segments.append(Text(_PARAGRAPH + text if self.is_after_text else text))
        self.is_after_text = True

    def reasoning(self, text: str) -> None:
        if not text.strip():
            return
        self.segments.append(Reasoning(_PARAGRAPH + text if self.has_reasoning else text))
        self.has_reasoning = True
        self.is_after_text = False

    def call(self, call: ParsedCall) -> None:
        self.segments.append(call)
        self.is_after_text = False


@dataclass(frozen=True)
class _Body:
    start: int
    end: int
    # Where the next message begins (past a consumed message end).
    next: int
    # The text ends inside the body: more of it may still arrive.
    is_open: bool

    @property
    def written_end(self) -> int:
        """The end of the message as written so far, its consumed end included."""
        return self.end if self.is_open else self.next


def _body(text: str, start: int, *, is_final: bool) -> _Body:
    found = [(index, marker) for marker in _BODY_ENDS if (index := text.find(marker, start)) >= 0]
    if found:
        end, marker = min(found)
        return _Body(start, end, end + len(marker) if marker in _MESSAGE_ENDS else end, is_open=False)
    held = 0 if is_final else partial_marker_length(text[start:], _BODY_ENDS)
    return _Body(start, len(text) - held, len(text), is_open=True)


def _may_be_header(rest: str, *, is_final: bool) -> bool:
    if any(rest.startswith(marker) for marker in _HEADER_STARTS):
        return True
    return not is_final and any(marker.startswith(rest) for marker in _HEADER_STARTS)


def segment(text: str, options: ParseOptions, is_final: bool) -> list[Segment]:
    out = _Output()
    pos: int | None = 0
    while pos is not None and pos < len(text):
        pos = _message(text, pos, out, options, is_final=is_final)
    return out.segments


def _message(text: str, pos: int, out: _Output, options: ParseOptions, *, is_final: bool) -> int | None:
    """Reads the message at `pos` into `out`: where the next one begins, or None while its header
    is still arriving."""
    # Cut by max_tokens, what may have become a header is markup, as it is while it streams.
    if not _may_be_header(text[pos:], is_final=is_final and not options.is_cut):
        body = _body(text, pos, is_final=is_final)  # text outside any header: the answer
        out.text(text[pos : body.end])
        return body.next
    message_at = text.find(MESSAGE, pos)
    if message_at < 0:
        # A header cut by max_tokens is markup, not text: dropped, as a cut call is in every family.
        if is_final and not options.is_cut:
            out.text(text[pos:])
        return None
    header = _Header.read(text[pos:message_at])
    if header is None:  # not a header after all: written text, up to the next marker
        body = _body(text, pos + 1, is_final=is_final)
        out.text(text[pos : body.written_end])
        return body.next
    body = _body(text, message_at + len(MESSAGE), is_final=is_final)
    content = text[body.start : body.end]
    written = text[pos : body.written_end]
    if header.recipient is not None:
        name = header.recipient.removeprefix(FUNCTIONS)
        if not (options.parse_tools and header.recipient.startswith(FUNCTIONS) and name):
            out.text(written)
        elif content.strip():
            if not _call(out, name, content):
                out.text(written)
        elif not body.is_open or (is_final and not options.is_cut):
            out.text(written)  # a call without arguments is not one (cut before them: dropped)
        # else: whether it is a call shows with the first character of its body
    elif header.channel == "analysis":
        if options.parse_reasoning:
            out.reasoning(content)
        else:
            out.text(written)  # reasoning left in the answer, as written
    else:
        out.text(content)
    return body.next


def _call(out: _Output, name: str, body: str) -> bool:
    """Adds the call a message body holds (JSON arguments, streamed as they arrive): False when the
    body is not one. Text after the arguments is content."""
    lead = len(body) - len(body.lstrip())
    if not body.startswith("{", lead):
        return False
    scan = scan_value(body, lead)
    if scan.status is ScanStatus.COMPLETE:
        out.call(ParsedCall(name, body[lead : scan.end]))
        out.text(body[scan.end :])
    elif scan.status is ScanStatus.INCOMPLETE:
        out.call(ParsedCall(name, body[lead:].rstrip(), is_complete=False))
    else:  # the call already streamed: it ends where it broke
        out.call(ParsedCall(name, body[lead : scan.end].rstrip(), is_complete=False))
        out.text(body[scan.end :])
    return True


def call_grammar(tools: Sequence[ToolSpec], is_parallel: bool) -> str:
    # A call ends with <|call|>, which ends generation: one call per answer, parallel or not.
    builder = GrammarBuilder()
    content_type = f"{literal(' ')} {literal(CONSTRAIN)}? {literal('json' + MESSAGE)}"
    bodies = []
    for tool in tools:
        recipient = f" to={FUNCTIONS}{tool.name}"
        in_channel = literal(f"{CHANNEL}commentary{recipient}")
        in_role = literal(f"{recipient}{CHANNEL}commentary")
        bodies.append(f"( {in_channel} | {in_role} ) {content_type} {builder.arguments(tool)}")
    call = builder.alternatives("call", bodies)
    return builder.build(f"{literal(START + ASSISTANT)}? {call}")


def _prefix_of(text: str) -> str:
    """A regex for any prefix of `text`, the empty one included."""
    pattern = ""
    for char in reversed(text):
        pattern = f"(?:{re.escape(char)}{pattern})?"
    return pattern


# A lazy grammar replays the output from where its trigger matched to the end of the token that
# matched. A trigger that ends inside a recipient's fixed text "to=functions." makes that replay
# something the grammar accepts, so a token that runs on into a name no tool has cannot abort decoding.
_TO_FUNCTIONS = " to" + _prefix_of(f"={FUNCTIONS}")

GPT_OSS = ChatFormat(
    name="gpt_oss",
    # Also what a forced call may think in first (constrain.py); the segmenter reads analysis itself.
    reasoning_markers=ANALYSIS,
    call_grammar=call_grammar,
    # The grammar takes over at a recipient: in the channel header, or in the role header (whose role
    # the prompt wrote, on the first message).
    trigger_patterns=(
        rf"<\|channel\|>commentary{_TO_FUNCTIONS}$",
        rf"(?:^|<\|start\|>assistant)({_TO_FUNCTIONS})$",
    ),
    segmenter=segment,
)
