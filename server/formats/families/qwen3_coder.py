"""Qwen3-Coder's XML calls (Qwen3.5 and Nemotron 3 Nano write them too, after a <think> block):
    <tool_call>
    <function=NAME>
    <parameter=KEY>
    VALUE
    </parameter>
    </function>
    </tool_call>
Values are raw text typed by the tool's schema (raw_values.py). Qwen3-Coder sometimes leaves out
<tool_call>; a <function=NAME> of a known tool opens a call too.
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

OPEN, CLOSE = "<tool_call>", "</tool_call>"
FUNCTION, FUNCTION_END = "<function=", "</function>"
PARAMETER, PARAMETER_END = "<parameter=", "</parameter>"
THINK = ("<think>", "</think>")

_NAME = re.compile(r"[^<>\n]+")


def parse_calls(cursor: Cursor, sink: CallSink, schemas: Schemas) -> None:
    sink.start_attempt(cursor.pos)
    cursor.accept(OPEN)
    cursor.skip_whitespace()
    cursor.expect(FUNCTION)
    name = cursor.match(_NAME).group()
    cursor.expect(">")
    sink.name(name)
    properties = schemas.get(name, {})
    pairs: list[str] = []
    while True:
        cursor.skip_whitespace()
        if cursor.accept(FUNCTION_END):
            break
        cursor.expect(PARAMETER)
        key = cursor.match(_NAME).group()
        cursor.expect(">")
        cursor.accept("\n")
        pair = read_parameter(
            cursor, sink, pairs, key, properties.get(key), end=PARAMETER_END, trailing_newline=True
        )
        pairs.append(pair)
    finish_arguments(sink, pairs)
    # The closer is read even after an unwrapped call (llama.cpp's grammar makes one write it), and
    # a missing one costs nothing: the call is whole.
    cursor.skip_whitespace()
    cursor.accept(CLOSE)


def xml_calls_format(name: str, reasoning_markers: tuple[str, str] | None) -> ChatFormat:
    base = ChatFormat(
        name=name,
        call_openers=(OPEN,),
        reasoning_markers=reasoning_markers,
        call_grammar=call_grammar,
    )
    return with_tool_schemas(
        base, parse_calls, openers=lambda schemas: (OPEN, *(f"{FUNCTION}{tool}>" for tool in schemas))
    )


# -- grammar -----------------------------------------------------------------------------------------


def call_grammar(tools: Sequence[ToolSpec], is_parallel: bool) -> str:
    builder = GrammarBuilder()
    text = text_without(builder, "xml-text", PARAMETER_END)
    functions = [_function(builder, tool, text) for tool in tools]
    opener, newline = literal(OPEN + "\n"), literal("\n")
    call = builder.rule("call", f"{opener} ( {' | '.join(functions)} ) {literal(CLOSE)}")
    return builder.build(f"{call} ( {newline} {call} )*" if is_parallel else call)


def _function(builder: GrammarBuilder, tool: ToolSpec, text_rule: str) -> str:
    """<function=NAME>, then the schema's parameters in its order (the required ones always)."""
    value_end = literal(f"\n{PARAMETER_END}\n")

    def parameter(key: str, value: str) -> str:
        return f"{literal(PARAMETER + key + '>' + chr(10))} {value} {value_end}"

    parameters = parameters_rule(builder, tool, text_rule, parameter)
    return f"{literal(f'{FUNCTION}{tool.name}>' + chr(10))} {parameters} {literal(FUNCTION_END + chr(10))}"


QWEN3_CODER = xml_calls_format("qwen3_coder", THINK)
