"""GBNF for constrained tool calls: each tool's JSON-schema parameters become rules (through
llama-cpp-python's schema converter), and a family wraps them in its own call syntax."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from server.formats.chat_format import ToolSpec

EMPTY_OBJECT_SCHEMA = {"type": "object", "properties": {}}
_RULE_NAME_CHARS = re.compile(r"[^a-zA-Z0-9-]+")
# llama-cpp-python's converter lets a JSON string hold any character but `"` and `\`, raw newlines
# and other control characters included, which no JSON parser accepts. llama.cpp's own converter
# (and JSON_GBNF) exclude them; so does this.
_LOOSE_STRING_CHAR = re.compile(r'^char ::= \[\^"\\\\\] \|', flags=re.MULTILINE)
_STRICT_STRING_CHAR = r'char ::= [^"\\\x7F\x00-\x1F] |'


def strict_json_strings(grammar: str) -> str:
    """The converter's grammar with control characters kept out of JSON strings."""
    return _LOOSE_STRING_CHAR.sub(lambda _: _STRICT_STRING_CHAR, grammar)


def literal(text: str) -> str:
    """A GBNF string literal matching `text` exactly."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    escaped = escaped.replace("\t", "\\t")
    return f'"{escaped}"'


class GrammarBuilder:
    def __init__(self) -> None:
        # Imported here: llama_cpp is heavy, and the catalog reads formats without generating.
        from llama_cpp.llama_grammar import SchemaConverter

        self._converter = SchemaConverter(prop_order={}, allow_fetch=False, dotall=False, raw_pattern=False)

    def arguments(self, tool: ToolSpec) -> str:
        """The rule for one tool's arguments object."""
        schema = tool.parameters or EMPTY_OBJECT_SCHEMA
        name = f"{_RULE_NAME_CHARS.sub('-', tool.name).strip('-') or 'tool'}-args"
        schema = self._converter.resolve_refs(schema, name)
        return self._converter.visit(schema, name)

    def json_value(self) -> str:
        """Any JSON value (for a format's free-form fields)."""
        return self._converter.visit({}, "any-value")

    def rule(self, name: str, body: str) -> str:
        return self._converter._add_rule(name, body)

    def alternatives(self, name: str, bodies: Sequence[str]) -> str:
        return self.rule(name, " | ".join(f"( {body} )" for body in bodies))

    def build(self, root: str) -> str:
        self.rule("root", root)
        return strict_json_strings(self._converter.format_grammar())


def repeated(call_rule: str, separator: str, *, is_parallel: bool) -> str:
    """One call, or with parallel calls allowed, one or more joined by `separator`."""
    return f"{call_rule} ( {literal(separator)} {call_rule} )*" if is_parallel else call_rule


def json_object_calls(
    builder: GrammarBuilder,
    tools: Sequence[ToolSpec],
    *,
    arguments_key: str = "arguments",
    name_key: str = "name",
) -> str:
    """A rule for {"name": "<one of tools>", "arguments": {...}} with each tool's own schema."""
    bodies = [
        " ".join(
            [
                literal(f'{{"{name_key}": {json.dumps(tool.name)}, "{arguments_key}": '),
                builder.arguments(tool),
                literal("}"),
            ]
        )
        for tool in tools
    ]
    return builder.alternatives("call-object", bodies)
