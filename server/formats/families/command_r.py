"""Command R7B: it plans in <|START_THINKING|>…<|END_THINKING|>, then either acts,
<|START_ACTION|>[{"tool_call_id": "0", "tool_name": ..., "parameters": {...}}, ...]<|END_ACTION|>,
or answers, <|START_RESPONSE|>…<|END_RESPONSE|>. The answer's markers are not content: the shared
parser knows nothing of them, so this family segments like it and then drops them from the text."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Sequence

from server.formats.chat_format import ChatFormat, ParseOptions, Segmenter, ToolSpec
from server.formats.cursor import CallSink, Cursor
from server.formats.families.mistral import json_call_list
from server.formats.gbnf import GrammarBuilder, literal
from server.formats.message import Segment, Text
from server.formats.parser import partial_marker_length, split_segments

THINKING = ("<|START_THINKING|>", "<|END_THINKING|>")
START_ACTION, END_ACTION = "<|START_ACTION|>", "<|END_ACTION|>"
RESPONSE = ("<|START_RESPONSE|>", "<|END_RESPONSE|>")
_NAME_KEYS = ("tool_name",)
_ARGUMENT_KEYS = ("parameters",)
# How the template lays the list out.
_LIST_OPEN, _LIST_SEPARATOR, _LIST_CLOSE = "[\n    ", ",\n    ", "\n]"


def parse_calls(cursor: Cursor, sink: CallSink) -> None:
    sink.start_attempt(cursor.pos)
    cursor.expect(START_ACTION)
    json_call_list(cursor, sink, name_keys=_NAME_KEYS, argument_keys=_ARGUMENT_KEYS)
    cursor.skip_whitespace()
    cursor.expect(END_ACTION)


def without_answer_markers(fmt: ChatFormat, markers: Sequence[str]) -> Segmenter:
    """Segments as the shared parser makes them for `fmt`, with `markers` taken out of the answer's
    text. While output is still arriving, a marker the text may be ending in is held back."""
    pattern = re.compile("|".join(re.escape(marker) for marker in markers))

    def segment(text: str, options: ParseOptions, is_final: bool) -> list[Segment]:
        segments: list[Segment] = []
        for piece in split_segments(text, fmt, options, is_final=is_final):
            if isinstance(piece, Text) and segments and isinstance(segments[-1], Text):
                segments[-1] = Text(segments[-1].text + piece.text)  # a marker may span two pieces
            else:
                segments.append(piece)
        for index, piece in enumerate(segments):
            if isinstance(piece, Text):
                body = piece.text
                if not is_final and index == len(segments) - 1:
                    body = body[: len(body) - partial_marker_length(body, tuple(markers))]
                segments[index] = Text(pattern.sub("", body))
        return segments

    return segment


def call_grammar(tools: Sequence[ToolSpec], is_parallel: bool) -> str:
    builder = GrammarBuilder()
    bodies = [
        " ".join(
            [
                literal('{"tool_call_id": "'),
                "[0-9]+",
                literal(f'", "tool_name": {json.dumps(tool.name)}, "parameters": '),
                builder.arguments(tool),
                literal("}"),
            ]
        )
        for tool in tools
    ]
    call = builder.alternatives("call-object", bodies)
    calls = f"{call} ( {literal(_LIST_SEPARATOR)} {call} )*" if is_parallel else call
    return builder.build(f"{literal(START_ACTION + _LIST_OPEN)} {calls} {literal(_LIST_CLOSE + END_ACTION)}")


_ACTIONS = ChatFormat(
    name="command_r",
    call_openers=(START_ACTION,),
    parse_calls=parse_calls,
    reasoning_markers=THINKING,
    call_grammar=call_grammar,
)

COMMAND_R = dataclasses.replace(_ACTIONS, segmenter=without_answer_markers(_ACTIONS, RESPONSE))
