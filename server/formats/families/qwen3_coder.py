"""Qwen3-Coder's XML calls (Qwen3.5 and Nemotron 3 Nano write them too, after a <think> block):
    <tool_call>
    <function=NAME>
    <parameter=KEY>
    VALUE
    </parameter>
    </function>
    </tool_call>
Values are raw text, so the arguments' JSON types come from the tool's schema (ParseOptions.tools): a
string parameter streams as it is written, any other value once it is whole. Qwen3-Coder sometimes
leaves out <tool_call>; a <function=NAME> of a known tool opens a call too.

The shared call parser gets no tools, so this family is a segmenter that hands them to its own.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from server.formats.chat_format import ChatFormat, ParseOptions, ToolSpec
from server.formats.cursor import CallSink, Cursor, Incomplete
from server.formats.gbnf import GrammarBuilder, literal
from server.formats.message import Segment
from server.formats.parser import partial_marker_length, split_segments

OPEN, CLOSE = "<tool_call>", "</tool_call>"
FUNCTION, FUNCTION_END = "<function=", "</function>"
PARAMETER, PARAMETER_END = "<parameter=", "</parameter>"
THINK = ("<think>", "</think>")
NEWLINE = "\n"

# Parameter schemas by tool name, then by parameter name.
Schemas = Mapping[str, Mapping[str, Any]]

_NAME = re.compile(r"[^<>\n]+")
# The format puts a newline before </parameter>: while a value streams, a trailing newline may be it.
_VALUE_ENDS = ("\n" + PARAMETER_END, PARAMETER_END)
# The schema types a decoded JSON value satisfies.
_JSON_TYPES: dict[type, frozenset[str]] = {
    bool: frozenset({"boolean"}),
    int: frozenset({"integer", "number"}),
    float: frozenset({"number"}),
    str: frozenset({"string"}),
    list: frozenset({"array"}),
    dict: frozenset({"object"}),
    type(None): frozenset({"null"}),
}


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
        pairs.append(_parameter(cursor, sink, pairs, key, properties.get(key)))
    sink.arguments("{" + ", ".join(pairs) + "}", is_complete=True)
    # The closer is read even after an unwrapped call (llama.cpp's grammar makes one write it), and
    # a missing one costs nothing: the call is whole.
    cursor.skip_whitespace()
    cursor.accept(CLOSE)


def _parameter(cursor: Cursor, sink: CallSink, pairs: list[str], key: str, schema: object) -> str:
    """One "key": value pair of the arguments object, read from the value's first character on.
    The call streams from here: a string value as it arrives, others once they are whole."""
    head = "{" + "".join(f"{pair}, " for pair in pairs)
    end = cursor.text.find(PARAMETER_END, cursor.pos)
    if end < 0:
        if _types(schema) == {"string"}:
            partial = cursor.rest[: len(cursor.rest) - partial_marker_length(cursor.rest, _VALUE_ENDS)]
            head += f"{json.dumps(key)}: {json.dumps(partial, ensure_ascii=False)[:-1]}"
        sink.arguments(head.removesuffix(", "), is_complete=False)
        raise Incomplete
    raw = cursor.text[cursor.pos : end].removesuffix("\n")
    cursor.pos = end + len(PARAMETER_END)
    pair = f"{json.dumps(key)}: {json.dumps(_value(raw, schema), ensure_ascii=False)}"
    sink.arguments(head + pair, is_complete=False)
    return pair


def _types(schema: object) -> set[str]:
    kind = schema.get("type") if isinstance(schema, Mapping) else None
    if isinstance(kind, str):
        return {kind}
    return {item for item in kind if isinstance(item, str)} if isinstance(kind, list) else set()


def _value(raw: str, schema: object) -> object:
    """A raw value as its schema types it; the text itself when it is not valid as one."""
    types = _types(schema)
    if types == {"string"}:
        return raw
    if "boolean" in types and raw.strip() in ("True", "False"):  # the template renders Python's booleans
        return raw.strip() == "True"
    try:
        value = json.loads(raw)
    except ValueError:
        return raw
    if "string" in types and not types & _JSON_TYPES[type(value)]:
        return raw  # text that happens to read as JSON of a type the parameter does not take
    return value


def _properties(tool: ToolSpec) -> Mapping[str, Any]:
    """A tool's parameter schemas by name (none from a schema that is not an object's)."""
    properties = (tool.parameters or {}).get("properties")
    return properties if isinstance(properties, Mapping) else {}


def _schemas(tools: Sequence[ToolSpec]) -> dict[str, Mapping[str, Any]]:
    return {tool.name: _properties(tool) for tool in tools}


def xml_calls_format(name: str, reasoning_markers: tuple[str, str] | None) -> ChatFormat:
    """The family as a ChatFormat; its segmenter gives the call parser the request's tools."""
    base = ChatFormat(
        name=name,
        call_openers=(OPEN,),
        reasoning_markers=reasoning_markers,
        call_grammar=call_grammar,
    )

    def segment(text: str, options: ParseOptions, is_final: bool) -> list[Segment]:
        schemas = _schemas(options.tools)
        fmt = dataclasses.replace(
            base,
            call_openers=(OPEN, *(f"{FUNCTION}{tool}>" for tool in schemas)),
            parse_calls=functools.partial(parse_calls, schemas=schemas),
        )
        return split_segments(text, fmt, options, is_final=is_final)

    return dataclasses.replace(base, segmenter=segment)


# -- grammar -----------------------------------------------------------------------------------------


def call_grammar(tools: Sequence[ToolSpec], is_parallel: bool) -> str:
    builder = GrammarBuilder()
    text = _text_without(builder, "xml-text", PARAMETER_END)
    functions = [_function(builder, tool, text) for tool in tools]
    opener, newline = literal(OPEN + "\n"), literal("\n")
    call = builder.rule("call", f"{opener} ( {' | '.join(functions)} ) {literal(CLOSE)}")
    return builder.build(f"{call} ( {newline} {call} )*" if is_parallel else call)


def _function(builder: GrammarBuilder, tool: ToolSpec, text_rule: str) -> str:
    """<function=NAME>, then the schema's parameters in its order (the required ones always)."""
    listed = (tool.parameters or {}).get("required")
    required = set(listed) if isinstance(listed, list) else set()
    parts = [literal(f"{FUNCTION}{tool.name}>\n")]
    value_end = literal(f"\n{PARAMETER_END}\n")
    for key, schema in _properties(tool).items():
        value = _value_rule(builder, tool, key, schema, text_rule)
        parameter = f"{literal(PARAMETER + key + '>' + NEWLINE)} {value} {value_end}"
        parts.append(f"( {parameter} )" if key in required else f"( {parameter} )?")
    parts.append(literal(FUNCTION_END + "\n"))
    return " ".join(parts)


def _value_rule(builder: GrammarBuilder, tool: ToolSpec, key: str, schema: object, text_rule: str) -> str:
    types = _types(schema)
    if not isinstance(schema, Mapping) or not types or "string" in types:
        return text_rule  # raw text takes any value
    if "$ref" in json.dumps(schema):
        return builder.json_value()  # its definitions live in the whole schema, out of reach here
    return builder.arguments(ToolSpec(f"{tool.name}-{key}", dict(schema)))


def _text_without(builder: GrammarBuilder, name: str, marker: str) -> str:
    """Text in which `marker` never appears, as one rule per count of its characters matched so far.
    The marker's first character must not recur in it (then a mismatch only ever restarts a match)."""
    assert marker[0] not in marker[1:]
    first = _class_char(marker[0])
    for matched in range(len(marker)):
        rule = f"{name}-{matched}"
        options = [f"{literal(marker[0])} {name}-1"]
        if matched == 0:
            options.append(f"[^{first}] {rule}")
        else:
            options.append(f"[^{first}{_class_char(marker[matched])}] {name}-0")
            if matched + 1 < len(marker):
                options.append(f"{literal(marker[matched])} {name}-{matched + 1}")
        builder.rule(rule, f"( {' | '.join(options)} )?")
    return f"{name}-0"


def _class_char(char: str) -> str:
    return "\\" + char if char in "[]^\\-" else char


QWEN3_CODER = xml_calls_format("qwen3_coder", THINK)
