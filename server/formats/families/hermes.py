"""Hermes-style calls (Qwen 2.5 and 3, QwQ, Hermes 2 Pro and 3): each call is a JSON object between
<tool_call> and </tool_call>; Qwen3 and QwQ think inside <think>…</think> first."""

from __future__ import annotations

from collections.abc import Sequence

from server.formats.chat_format import ChatFormat, ToolSpec
from server.formats.cursor import CallSink, Cursor, json_call_object
from server.formats.gbnf import GrammarBuilder, json_object_calls, literal, repeated

OPEN, CLOSE = "<tool_call>", "</tool_call>"
THINK = ("<think>", "</think>")


def parse_calls(cursor: Cursor, sink: CallSink) -> None:
    while True:
        sink.start_attempt(cursor.pos)
        cursor.expect(OPEN)
        json_call_object(cursor, sink)
        cursor.until(CLOSE)  # tolerate stray characters (an extra "}") before the closer
        cursor.skip_whitespace()
        if not cursor.accept(OPEN):
            return
        cursor.pos -= len(OPEN)


def call_grammar(tools: Sequence[ToolSpec], is_parallel: bool) -> str:
    builder = GrammarBuilder()
    body = json_object_calls(builder, tools)
    call = builder.rule("call", f"{literal(OPEN + chr(10))} {body} {literal(chr(10) + CLOSE)}")
    return builder.build(repeated(call, "\n", is_parallel=is_parallel))


HERMES = ChatFormat(
    name="hermes",
    call_openers=(OPEN,),
    parse_calls=parse_calls,
    reasoning_markers=THINK,
    call_grammar=call_grammar,
)
