"""MeetKai Functionary, on Llama 3.1.

v3.2 addresses every message to a recipient: `>>>all` is text for the user, `>>>NAME` a call whose body
is the JSON arguments, and one answer may hold several. The prompt ends with the first `>>>`, so the
answer starts with the recipient:
    all\nLet me check.>>>get_weather\n{"city": "Paris"}>>>get_time\n{"zone": "CET"}
v3.1 writes a call as <function=NAME>{...}</function>, and code for its python tool as
<|python_tag|>CODE, which runs to the end of the answer.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Sequence

from server.formats.chat_format import ChatFormat, ParseOptions, ToolSpec
from server.formats.cursor import CallSink, Cursor, ParsedCall
from server.formats.gbnf import GrammarBuilder, literal, repeated
from server.formats.json_scan import ScanStatus, scan_value
from server.formats.message import Segment, Text
from server.formats.parser import partial_marker_length, split_segments

# -- v3.2 --------------------------------------------------------------------------------------------

RECIPIENT_MARK = ">>>"
ALL = "all"
NEWLINE = "\n"
_RECIPIENT = re.compile(r"[\w.-]{1,64}\n")
# What a recipient line can still turn into.
_RECIPIENT_PREFIX = re.compile(r"[\w.-]{0,64}\Z")
_PARAGRAPH = "\n\n"


def segment_v3_2(text: str, options: ParseOptions, is_final: bool) -> list[Segment]:
    segments: list[Segment] = []
    pos: int | None = 0
    while pos is not None and pos < len(text):
        pos = _message(text, pos, segments, options, is_final=is_final)
    return segments


def _message(
    text: str, pos: int, segments: list[Segment], options: ParseOptions, *, is_final: bool
) -> int | None:
    """Reads the message at `pos` into `segments`: where the next one begins, or None when nothing
    more can be read yet."""
    rest = text[pos:]
    if not is_final and RECIPIENT_MARK.startswith(rest):
        return None
    line_at = pos + len(RECIPIENT_MARK) if rest.startswith(RECIPIENT_MARK) else pos
    line = _RECIPIENT.match(text, line_at)
    if line is None:
        if not is_final and _RECIPIENT_PREFIX.match(text, line_at):
            return None  # the recipient is still arriving
        return _text(text, pos, segments, body_at=line_at, is_final=is_final)  # no recipient: written text
    recipient = line.group()[:-1]
    if recipient == ALL:
        return _text(text, line.end(), segments, body_at=line.end(), is_final=is_final, is_message=True)
    if not options.parse_tools:
        return _text(text, pos, segments, body_at=line.end(), is_final=is_final)
    body_at = line.end() + len(text[line.end() :]) - len(text[line.end() :].lstrip())
    if body_at == len(text) and not is_final:
        return None  # whether it is a call shows with the first character of its body
    if not text.startswith("{", body_at):
        return _text(text, pos, segments, body_at=body_at, is_final=is_final)  # not arguments: text
    scan = scan_value(text, body_at)
    if scan.status is ScanStatus.COMPLETE:
        segments.append(ParsedCall(recipient, text[body_at : scan.end]))
        return scan.end
    if scan.status is ScanStatus.INCOMPLETE:
        segments.append(ParsedCall(recipient, text[body_at:].rstrip(), is_complete=False))
        return None
    # The call already streamed: it ends where it broke, and the rest is text.
    segments.append(ParsedCall(recipient, text[body_at : scan.end].rstrip(), is_complete=False))
    return scan.end


def _text(
    text: str, start: int, segments: list[Segment], *, body_at: int, is_final: bool, is_message: bool = False
) -> int:
    """The text from `start` up to the next message (searched for from `body_at`). A text message
    right after other text is a new paragraph; text as written (no message of its own) just goes on."""
    end = text.find(RECIPIENT_MARK, body_at)
    if end < 0:
        end = len(text) - (0 if is_final else partial_marker_length(text[body_at:], (RECIPIENT_MARK,)))
    body = text[start:end]
    if body.strip():
        is_paragraph = is_message and bool(segments) and isinstance(segments[-1], Text)
        segments.append(Text(_PARAGRAPH + body if is_paragraph else body))
    return end if text.startswith(RECIPIENT_MARK, end) else len(text)


def call_grammar_v3_2(tools: Sequence[ToolSpec], is_parallel: bool) -> str:
    builder = GrammarBuilder()
    bodies = [f"{literal(tool.name + NEWLINE)} {builder.arguments(tool)}" for tool in tools]
    call = builder.alternatives("call", bodies)
    # From the prompt's >>> the model writes the recipient; a lazy grammar starts at a later >>>.
    return builder.build(
        f"{literal(RECIPIENT_MARK)}? {repeated(call, RECIPIENT_MARK, is_parallel=is_parallel)}"
    )


# A lazy grammar replays the output from where its trigger matched to the end of the token that
# matched, and a replay the grammar rejects aborts decoding. So triggers here match only at the end of
# the output so far, inside a call's fixed text: a token that runs on into a name no tool has is then
# masked like any other, never replayed.
FUNCTIONARY_V3_2 = ChatFormat(
    name="functionary_v3_2",
    call_grammar=call_grammar_v3_2,
    # A later message (a text one is not possible once it fired). A call that opens the answer follows
    # the prompt's >>>, which no trigger sees: it is parsed all the same, and forced calls are
    # constrained from the first token.
    trigger_patterns=(r">>>$",),
    segmenter=segment_v3_2,
)

# -- v3.1 --------------------------------------------------------------------------------------------

FUNCTION, FUNCTION_END = "<function=", "</function>"
PYTHON_TAG = "<|python_tag|>"
PYTHON = "python"
_NAME = re.compile(r"[\w.-]+")


def parse_calls_v3_1(cursor: Cursor, sink: CallSink) -> None:
    sink.start_attempt(cursor.pos)
    cursor.expect(FUNCTION)
    sink.name(cursor.match(_NAME).group())
    cursor.expect(">")
    sink.stream_json_arguments(cursor)
    cursor.skip_whitespace()
    cursor.expect(FUNCTION_END)


def call_grammar_v3_1(tools: Sequence[ToolSpec], is_parallel: bool) -> str:
    builder = GrammarBuilder()
    bodies = [
        f"{literal(f'{FUNCTION}{tool.name}>')} {builder.arguments(tool)} {literal(FUNCTION_END)}"
        for tool in tools
    ]
    call = builder.alternatives("call", bodies)
    return builder.build(f"{call}+" if is_parallel else call)


# The shared parser reads the <function=...> calls; python code (which only the end of the answer
# ends) is split off first. Its tag is an opener here only so that a partial one is held back.
_FUNCTION_CALLS = ChatFormat(
    name="functionary_v3_1",
    call_openers=(FUNCTION, PYTHON_TAG),
    parse_calls=parse_calls_v3_1,
    call_grammar=call_grammar_v3_1,
    trigger_patterns=(r"<function=?$",),  # see FUNCTIONARY_V3_2
)


def segment_v3_1(text: str, options: ParseOptions, is_final: bool) -> list[Segment]:
    tag_at = text.find(PYTHON_TAG) if options.parse_tools else -1
    if tag_at < 0:
        return split_segments(text, _FUNCTION_CALLS, options, is_final=is_final)
    segments = split_segments(text[:tag_at], _FUNCTION_CALLS, options, is_final=True)
    code = text[tag_at + len(PYTHON_TAG) :].strip()
    if is_final:
        arguments = json.dumps({"code": code}, ensure_ascii=False)
    else:  # the code so far with its string left open (trailing whitespace held back: it may be the end)
        arguments = '{"code": ' + json.dumps(code, ensure_ascii=False)[:-1]
    segments.append(ParsedCall(PYTHON, arguments, is_complete=is_final))
    return segments


FUNCTIONARY_V3_1 = dataclasses.replace(_FUNCTION_CALLS, segmenter=segment_v3_1)
