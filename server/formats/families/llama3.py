"""Llama 3.1 to 3.3: a custom-tool call is the whole answer, a JSON object {"name": ..., "parameters": ...}
(the templates ask for exactly that), optionally after <|python_tag|>; several are joined by ";"."""

from __future__ import annotations

from collections.abc import Sequence

from server.formats.chat_format import ChatFormat, ToolSpec
from server.formats.cursor import CallSink, Cursor, json_call_object
from server.formats.gbnf import GrammarBuilder, json_object_calls, repeated

PYTHON_TAG = "<|python_tag|>"
_NAME_KEYS = ("name",)
_ARGUMENT_KEYS = ("parameters", "arguments")


def parse_calls(cursor: Cursor, sink: CallSink) -> None:
    cursor.accept(PYTHON_TAG)
    while True:
        sink.start_attempt(cursor.pos)
        json_call_object(cursor, sink, name_keys=_NAME_KEYS, argument_keys=_ARGUMENT_KEYS)
        cursor.skip_whitespace()
        if not cursor.accept(";"):
            return
        cursor.skip_whitespace()


def call_grammar(tools: Sequence[ToolSpec], is_parallel: bool) -> str:
    builder = GrammarBuilder()
    call = json_object_calls(builder, tools, arguments_key="parameters")
    return builder.build(repeated(call, "; ", is_parallel=is_parallel))


LLAMA3 = ChatFormat(
    name="llama3",
    call_openers=("{", PYTHON_TAG),
    parse_calls=parse_calls,
    is_call_anchored=True,
    call_grammar=call_grammar,
    # Whole-output matches ("^...$"): the output so far is exactly the start of a call.
    trigger_patterns=(r"^\s*(\{)$", r'^\s*(\{")$', r'^\s*(\{"name)$'),
)
