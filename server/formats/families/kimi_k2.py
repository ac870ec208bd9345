"""Kimi K2 (Moonshot): calls in a section of special tokens, each named by an id that holds the
function's name, with JSON arguments:
    <|tool_calls_section_begin|><|tool_call_begin|>functions.NAME:0<|tool_call_argument_begin|>{...}
    <|tool_call_end|>…<|tool_calls_section_end|>
(one line in the model's output). K2 Thinking reasons in <think>…</think> first.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from server.formats.chat_format import ChatFormat, ToolSpec
from server.formats.cursor import CallSink, Cursor, Malformed
from server.formats.gbnf import GrammarBuilder, literal

SECTION, SECTION_END = "<|tool_calls_section_begin|>", "<|tool_calls_section_end|>"
CALL, ARGUMENTS, CALL_END = "<|tool_call_begin|>", "<|tool_call_argument_begin|>", "<|tool_call_end|>"
THINK = ("<think>", "</think>")

# "functions.get_weather:0"; the prefix and index are optional in what models write.
_PREFIX = "functions."
_INDEX = re.compile(r":\d+$")
_NAME = re.compile(r"[^\s<>]+")


def function_name(call_id: str) -> str | None:
    """The function a call id names; None if it names none."""
    name = _INDEX.sub("", call_id.strip().removeprefix(_PREFIX))
    return name if _NAME.fullmatch(name) else None


def parse_calls(cursor: Cursor, sink: CallSink) -> None:
    sink.start_attempt(cursor.pos)
    cursor.expect(SECTION)
    while True:
        cursor.skip_whitespace()
        if cursor.accept(SECTION_END):
            return
        sink.start_attempt(cursor.pos)
        cursor.expect(CALL)
        call_id = cursor.until(ARGUMENTS)
        name = function_name(call_id)
        if name is None:
            raise Malformed(cursor.pos, f"a tool call id that names no function: {call_id!r}")
        sink.name(name)
        sink.stream_json_arguments(cursor)
        cursor.skip_whitespace()
        cursor.expect(CALL_END)


def call_grammar(tools: Sequence[ToolSpec], is_parallel: bool) -> str:
    builder = GrammarBuilder()
    bodies = [
        f"{literal(f'{CALL}functions.{tool.name}:')} [0-9]{{1,3}} {literal(ARGUMENTS)} "
        f"{builder.arguments(tool)} {literal(CALL_END)}"
        for tool in tools
    ]
    call = builder.alternatives("call", bodies)
    calls = f"{call}+" if is_parallel else call
    return builder.build(f"{literal(SECTION)} {calls} {literal(SECTION_END)}")


KIMI_K2 = ChatFormat(
    name="kimi_k2",
    call_openers=(SECTION,),
    parse_calls=parse_calls,
    reasoning_markers=THINK,
    call_grammar=call_grammar,
)
