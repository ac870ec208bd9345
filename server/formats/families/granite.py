"""Granite 3.3: calls are one JSON list after <|tool_call|>, [{"name": ..., "arguments": {...}}, ...]
(what the template's system prompt asks for); in thinking mode the model writes <think>…</think> and
then its answer inside <response>…</response>, markers that are not content. Granite 4.x writes
Hermes-style <tool_call> calls and no thoughts: the Hermes family covers it."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from server.formats.chat_format import ChatFormat, ToolSpec
from server.formats.cursor import CallSink, Cursor
from server.formats.families.command_r import without_answer_markers
from server.formats.families.mistral import json_call_list
from server.formats.gbnf import GrammarBuilder, json_object_calls, literal

TOOL_CALL = "<|tool_call|>"
THINK = ("<think>", "</think>")
RESPONSE = ("<response>", "</response>")


def parse_calls(cursor: Cursor, sink: CallSink) -> None:
    sink.start_attempt(cursor.pos)
    cursor.expect(TOOL_CALL)
    json_call_list(cursor, sink)


def call_grammar(tools: Sequence[ToolSpec], is_parallel: bool) -> str:
    builder = GrammarBuilder()
    call = json_object_calls(builder, tools)
    calls = f"{call} ( {literal(', ')} {call} )*" if is_parallel else call
    return builder.build(f"{literal(TOOL_CALL + '[')} {calls} {literal(']')}")


_CALLS = ChatFormat(
    name="granite",
    call_openers=(TOOL_CALL,),
    parse_calls=parse_calls,
    reasoning_markers=THINK,
    call_grammar=call_grammar,
)

GRANITE = dataclasses.replace(_CALLS, segmenter=without_answer_markers(_CALLS, RESPONSE))
