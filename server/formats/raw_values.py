"""Tool arguments written as one raw text value per parameter, between tags (Qwen3-Coder's
<parameter=…>, GLM's <arg_value>, MiniMax's <parameter name="…">). The text carries no JSON type, so
each value takes the type its parameter's schema gives it: a string parameter streams as it is
written, any other value once it is whole.

Such a family's call parser needs the request's tools, which the shared parser does not pass on:
`with_tool_schemas` makes the family a segmenter that hands them over.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Callable, Mapping
from typing import Any

from server.formats.chat_format import ChatFormat, ParseOptions, ToolSpec
from server.formats.cursor import CallSink, Cursor, Incomplete
from server.formats.gbnf import GrammarBuilder, literal
from server.formats.message import Segment
from server.formats.parser import partial_marker_length, split_segments

# Parameter schemas by tool name, then by parameter name.
Schemas = Mapping[str, Mapping[str, Any]]
# A family's call parser, given the schemas.
TypedCallParser = Callable[[Cursor, CallSink, Schemas], None]

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


def read_parameter(
    cursor: Cursor,
    sink: CallSink,
    pairs: list[str],
    key: str,
    schema: object,
    *,
    end: str,
    trailing_newline: bool = False,
) -> str:
    """One "key": value pair of the arguments object, read from the value's first character through
    `end`. The call streams from here: a string value as it arrives, others once they are whole.
    With `trailing_newline` the format writes a newline before `end` that is not part of the value."""
    head = "{" + "".join(f"{pair}, " for pair in pairs)
    found = cursor.text.find(end, cursor.pos)
    if found < 0:
        if schema_types(schema) == {"string"}:
            ends = ("\n" + end, end) if trailing_newline else (end,)
            partial = cursor.rest[: len(cursor.rest) - partial_marker_length(cursor.rest, ends)]
            head += f"{json.dumps(key)}: {json.dumps(partial, ensure_ascii=False)[:-1]}"
        sink.arguments(head.removesuffix(", "), is_complete=False)
        raise Incomplete
    raw = cursor.text[cursor.pos : found]
    if trailing_newline:
        raw = raw.removesuffix("\n")
    cursor.pos = found + len(end)
    pair = f"{json.dumps(key)}: {json.dumps(typed_value(raw, schema), ensure_ascii=False)}"
    sink.arguments(head + pair, is_complete=False)
    return pair


def finish_arguments(sink: CallSink, pairs: list[str]) -> None:
    sink.arguments("{" + ", ".join(pairs) + "}", is_complete=True)


def schema_types(schema: object) -> set[str]:
    kind = schema.get("type") if isinstance(schema, Mapping) else None
    if isinstance(kind, str):
        return {kind}
    return {item for item in kind if isinstance(item, str)} if isinstance(kind, list) else set()


def typed_value(raw: str, schema: object) -> object:
    """A raw value as its schema types it; the text itself when it is not valid as one."""
    types = schema_types(schema)
    if types == {"string"}:
        return raw
    if "boolean" in types and raw.strip() in ("True", "False"):  # templates that render Python's booleans
        return raw.strip() == "True"
    try:
        value = json.loads(raw)
    except ValueError:
        return raw
    if "string" in types and not types & _JSON_TYPES[type(value)]:
        return raw  # text that happens to read as JSON of a type the parameter does not take
    return value


def tool_properties(tool: ToolSpec) -> Mapping[str, Any]:
    """A tool's parameter schemas by name (none from a schema that is not an object's)."""
    properties = (tool.parameters or {}).get("properties")
    return properties if isinstance(properties, Mapping) else {}


def required_parameters(tool: ToolSpec) -> set[str]:
    listed = (tool.parameters or {}).get("required")
    return set(listed) if isinstance(listed, list) else set()


def with_tool_schemas(
    base: ChatFormat,
    parse: TypedCallParser,
    openers: Callable[[Schemas], tuple[str, ...]] | None = None,
) -> ChatFormat:
    """The family as a ChatFormat whose segmenter gives its call parser the request's tools (and may
    add openers that depend on them)."""

    def segment(text: str, options: ParseOptions, is_final: bool) -> list[Segment]:
        schemas = {tool.name: tool_properties(tool) for tool in options.tools}
        fmt = dataclasses.replace(
            base,
            call_openers=openers(schemas) if openers is not None else base.call_openers,
            parse_calls=functools.partial(parse, schemas=schemas),
        )
        return split_segments(text, fmt, options, is_final=is_final)

    return dataclasses.replace(base, segmenter=segment)


# -- grammar -----------------------------------------------------------------------------------------


def value_rule(builder: GrammarBuilder, tool: ToolSpec, key: str, schema: object, text_rule: str) -> str:
    """What a parameter's raw value may be: any text where a string is allowed, else its schema's JSON."""
    choices = _string_choices(schema)
    if choices:
        return f"( {' | '.join(literal(choice) for choice in choices)} )"  # written raw, as strings are
    types = schema_types(schema)
    if not isinstance(schema, Mapping) or not types or "string" in types:
        return text_rule  # raw text takes any value
    if "$ref" in json.dumps(schema):
        return builder.json_value()  # its definitions live in the whole schema, out of reach here
    return builder.arguments(ToolSpec(f"{tool.name}-{key}", dict(schema)))


def _string_choices(schema: object) -> list[str] | None:
    """The strings an `enum` or `const` allows, when it allows only strings."""
    if not isinstance(schema, Mapping):
        return None
    choices = [schema["const"]] if "const" in schema else schema.get("enum")
    if isinstance(choices, list) and choices and all(isinstance(choice, str) for choice in choices):
        return choices
    return None


def parameters_rule(
    builder: GrammarBuilder, tool: ToolSpec, text_rule: str, write: Callable[[str, str], str]
) -> str:
    """The schema's parameters in its order, the required ones always; `write(key, value_rule)` gives
    one parameter in the family's syntax."""
    required = required_parameters(tool)
    parts = []
    for key, schema in tool_properties(tool).items():
        parameter = write(key, value_rule(builder, tool, key, schema, text_rule))
        parts.append(f"( {parameter} )" if key in required else f"( {parameter} )?")
    return " ".join(parts)


def text_without(builder: GrammarBuilder, name: str, marker: str) -> str:
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
