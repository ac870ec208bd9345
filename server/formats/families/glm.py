"""GLM 4.5, 4.6 and 4.7 (Z.ai): the function's name right after <tool_call>, then each argument as a
key tag and a raw value tag:
    <tool_call>NAME
    <arg_key>KEY</arg_key>
    <arg_value>VALUE</arg_value>
    </tool_call>
GLM 4.7 writes the same without the newlines. Values are raw text typed by the tool's schema
(raw_values.py): the templates write strings as they are and other values as JSON. Both think in
<think>…</think> first; 4.7's prompt opens the block itself.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from server.formats.chat_format import ChatFormat, ToolSpec
from server.formats.cursor import CallSink, Cursor, Malformed
from server.formats.gbnf import GrammarBuilder, literal
from server.formats.raw_values import (
    Schemas,
    finish_arguments,
    parameters_rule,
    read_parameter,
    text_without,
    with_tool_schemas,
)

OPEN, CLOSE = "<tool_call>", "</tool_call>"
KEY, KEY_END = "<arg_key>", "</arg_key>"
VALUE, VALUE_END = "<arg_value>", "</arg_value>"
THINK = ("<think>", "</think>")

_NAME = re.compile(r"[^<>\n]+")


def parse_calls(cursor: Cursor, sink: CallSink, schemas: Schemas) -> None:
    while True:
        sink.start_attempt(cursor.pos)
        cursor.expect(OPEN)
        name = cursor.match(_NAME).group().strip()
        if not name:
            raise Malformed(cursor.pos, "a tool call without a name")
        sink.name(name)
        properties = schemas.get(name, {})
        pairs: list[str] = []
        while True:
            cursor.skip_whitespace()
            if cursor.accept(CLOSE):
                break
            cursor.expect(KEY)
            key = cursor.until(KEY_END).strip()
            cursor.skip_whitespace()
            cursor.expect(VALUE)
            pairs.append(read_parameter(cursor, sink, pairs, key, properties.get(key), end=VALUE_END))
        finish_arguments(sink, pairs)
        cursor.skip_whitespace()
        if not cursor.accept(OPEN):
            return
        cursor.pos -= len(OPEN)


def glm_format(name: str, *, is_compact: bool) -> ChatFormat:
    base = ChatFormat(
        name=name,
        call_openers=(OPEN,),
        reasoning_markers=THINK,
        call_grammar=lambda tools, is_parallel: call_grammar(tools, is_parallel, is_compact=is_compact),
    )
    return with_tool_schemas(base, parse_calls)


# -- grammar -----------------------------------------------------------------------------------------


def call_grammar(tools: Sequence[ToolSpec], is_parallel: bool, *, is_compact: bool = False) -> str:
    """Calls as the template writes them back: 4.5/4.6 with a newline after the name and each tag,
    4.7 without."""
    builder = GrammarBuilder()
    newline = "" if is_compact else "\n"
    text = text_without(builder, "glm-text", VALUE_END)

    def parameter(key: str, value: str) -> str:
        return f"{literal(f'{KEY}{key}{KEY_END}{newline}{VALUE}')} {value} {literal(VALUE_END + newline)}"

    functions = [
        f"{literal(tool.name + newline)} {parameters_rule(builder, tool, text, parameter)}" for tool in tools
    ]
    call = builder.rule("call", f"{literal(OPEN)} ( {' | '.join(functions)} ) {literal(CLOSE)}")
    if not is_parallel:
        return builder.build(call)
    return builder.build(f"{call} ( {literal(newline)} {call} )*" if newline else f"{call}+")


GLM = glm_format("glm", is_compact=False)
GLM_4_7 = glm_format("glm_4_7", is_compact=True)
