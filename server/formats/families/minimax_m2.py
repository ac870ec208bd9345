"""MiniMax-M2: calls as XML invocations inside one block, each argument a raw value:
    <minimax:tool_call>
    <invoke name="NAME">
    <parameter name="KEY">VALUE</parameter>
    </invoke>
    </minimax:tool_call>
Values are raw text typed by the tool's schema (raw_values.py). The prompt opens a <think> block.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from server.formats.chat_format import ChatFormat, ToolSpec
from server.formats.cursor import CallSink, Cursor
from server.formats.gbnf import GrammarBuilder, literal
from server.formats.raw_values import (
    Schemas,
    finish_arguments,
    parameters_rule,
    read_parameter,
    text_without,
    with_tool_schemas,
)

OPEN, CLOSE = "<minimax:tool_call>", "</minimax:tool_call>"
INVOKE, INVOKE_END = '<invoke name="', "</invoke>"
PARAMETER, PARAMETER_END = '<parameter name="', "</parameter>"
TAG_END, NEWLINE = '">', "\n"
THINK = ("<think>", "</think>")

_NAME = re.compile(r'[^"<>\n]+')


def parse_calls(cursor: Cursor, sink: CallSink, schemas: Schemas) -> None:
    sink.start_attempt(cursor.pos)
    cursor.expect(OPEN)
    while True:
        cursor.skip_whitespace()
        if cursor.accept(CLOSE):
            return
        sink.start_attempt(cursor.pos)
        cursor.expect(INVOKE)
        name = cursor.match(_NAME).group()
        cursor.expect(TAG_END)
        sink.name(name)
        properties = schemas.get(name, {})
        pairs: list[str] = []
        while True:
            cursor.skip_whitespace()
            if cursor.accept(INVOKE_END):
                break
            cursor.expect(PARAMETER)
            key = cursor.match(_NAME).group()
            cursor.expect(TAG_END)
            pairs.append(read_parameter(cursor, sink, pairs, key, properties.get(key), end=PARAMETER_END))
        finish_arguments(sink, pairs)


def call_grammar(tools: Sequence[ToolSpec], is_parallel: bool) -> str:
    """Calls as the template writes them back."""
    builder = GrammarBuilder()
    text = text_without(builder, "minimax-text", PARAMETER_END)

    def parameter(key: str, value: str) -> str:
        return f"{literal(PARAMETER + key + TAG_END)} {value} {literal(PARAMETER_END + NEWLINE)}"

    bodies = [
        " ".join(
            (
                literal(INVOKE + tool.name + TAG_END + NEWLINE),
                parameters_rule(builder, tool, text, parameter),
                literal(INVOKE_END + NEWLINE),
            )
        )
        for tool in tools
    ]
    invoke = builder.alternatives("invoke", bodies)
    invokes = f"{invoke}+" if is_parallel else invoke
    return builder.build(f"{literal(OPEN + NEWLINE)} {invokes} {literal(CLOSE)}")


MINIMAX_M2 = with_tool_schemas(
    ChatFormat(
        name="minimax_m2",
        call_openers=(OPEN,),
        reasoning_markers=THINK,
        call_grammar=call_grammar,
    ),
    parse_calls,
)
