"""The fallback for templates that take tools in no known format, and for base models: the answer is
a JSON object {"tool_calls": [{"name": ..., "arguments": {...}}, ...]} (a bare call object is accepted
too). When the template does not render the tools, a system turn describes them and this reply shape."""

from __future__ import annotations

import json
from collections.abc import Sequence

from server.formats.chat_format import ChatFormat, ToolSpec
from server.formats.cursor import CallSink, Cursor, Incomplete, Malformed, json_call_object
from server.formats.gbnf import GrammarBuilder, json_object_calls, literal, repeated

LIST_KEY = "tool_calls"


def parse_calls(cursor: Cursor, sink: CallSink) -> None:
    start = cursor.pos
    cursor.expect("{")
    cursor.skip_whitespace()
    if cursor.is_at_end:
        raise Incomplete
    if cursor.rest.startswith('"'):
        key = cursor.json_string()
        cursor.skip_whitespace()
        if key == LIST_KEY:
            cursor.expect(":")
            _call_list(cursor, sink)
            cursor.skip_whitespace()
            cursor.expect("}")
            return
    cursor.pos = start
    sink.start_attempt(start)
    json_call_object(cursor, sink)


def _call_list(cursor: Cursor, sink: CallSink) -> None:
    cursor.skip_whitespace()
    cursor.expect("[")
    cursor.skip_whitespace()
    if cursor.accept("]"):
        raise Malformed(cursor.pos, "an empty tool_calls list")
    while True:
        sink.start_attempt(cursor.pos)
        json_call_object(cursor, sink)
        cursor.skip_whitespace()
        if cursor.accept(","):
            continue
        cursor.expect("]")
        return


def call_grammar(tools: Sequence[ToolSpec], is_parallel: bool) -> str:
    builder = GrammarBuilder()
    calls = repeated(json_object_calls(builder, tools), ", ", is_parallel=is_parallel)
    return builder.build(f"{literal('{' + json.dumps(LIST_KEY) + ': [')} {calls} {literal(']}')}")


def tool_prompt(tools: Sequence[ToolSpec]) -> str:
    """The system text that tells a model which tools exist and how to call them."""
    listed = "\n".join(
        json.dumps({"name": tool.name, "description": tool.description, "parameters": tool.parameters})
        for tool in tools
    )
    return (
        "You can call these tools:\n"
        f"{listed}\n"
        "To call tools, reply with only a JSON object of this shape, and nothing else:\n"
        '{"tool_calls": [{"name": "<tool name>", "arguments": {<arguments>}}]}\n'
        "Otherwise, answer normally."
    )


GENERIC = ChatFormat(
    name="generic",
    call_openers=("{",),
    parse_calls=parse_calls,
    is_call_anchored=True,
    call_grammar=call_grammar,
    # Whole-output matches ("^...$"): the output so far is exactly the start of the call list.
    trigger_patterns=(r"^\s*(\{)$", r'^\s*(\{")$', r'^\s*(\{"tool_calls)$'),
)
