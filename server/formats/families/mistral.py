"""Mistral calls, all after the [TOOL_CALLS] token. Mistral Nemo and Mistral 7B v0.3 write one JSON list
[{"name": ..., "arguments": {...}, "id": "<9 chars>"}, ...]; the newer models (Mistral Small 3.2,
Devstral, Ministral 3, Magistral) write name[ARGS]{...} after each [TOOL_CALLS], Mistral Small 3.2 with
[CALL_ID]<id> before [ARGS], and Ministral 3 and Magistral think in [THINK]…[/THINK] first.

Both families read both syntaxes (older Magistral builds wrote the JSON list too); each grammar forces
its own."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

from server.formats.chat_format import ChatFormat, ToolSpec
from server.formats.cursor import (
    ARGUMENT_KEYS,
    NAME_KEYS,
    CallSink,
    Cursor,
    Incomplete,
    Malformed,
    json_call_object,
)
from server.formats.gbnf import GrammarBuilder, literal

TOOL_CALLS, CALL_ID, ARGS = "[TOOL_CALLS]", "[CALL_ID]", "[ARGS]"
THINK = ("[THINK]", "[/THINK]")

# A function name ends where [ARGS] or [CALL_ID] begins.
_NAME = re.compile(r'[^\[\]\s{}"]+')
_CALL_ID_TEXT = re.compile(r"[A-Za-z0-9]+")
# The templates insist on ids of nine letters and digits.
_ID_RULE = "[a-zA-Z0-9]{9}"


def json_call_list(
    cursor: Cursor,
    sink: CallSink,
    *,
    name_keys: tuple[str, ...] = NAME_KEYS,
    argument_keys: tuple[str, ...] = ARGUMENT_KEYS,
) -> None:
    """A JSON list of call objects. The first call belongs to the attempt the caller started at its
    opener (so a list that is no list at all stays text); each later call is an attempt of its own."""
    cursor.skip_whitespace()
    cursor.expect("[")
    cursor.skip_whitespace()
    if cursor.accept("]"):
        raise Malformed(cursor.pos, "an empty call list")
    while True:
        json_call_object(cursor, sink, name_keys=name_keys, argument_keys=argument_keys)
        cursor.skip_whitespace()
        if cursor.accept("]"):
            return
        cursor.expect(",")
        cursor.skip_whitespace()
        sink.start_attempt(cursor.pos)


def parse_calls(cursor: Cursor, sink: CallSink) -> None:
    while True:
        sink.start_attempt(cursor.pos)
        cursor.expect(TOOL_CALLS)
        cursor.skip_whitespace()
        if cursor.is_at_end:
            raise Incomplete
        if cursor.rest.startswith("["):
            json_call_list(cursor, sink)
        else:
            _named_call(cursor, sink)
        cursor.skip_whitespace()
        if not cursor.accept(TOOL_CALLS):
            return
        cursor.pos -= len(TOOL_CALLS)


def _named_call(cursor: Cursor, sink: CallSink) -> None:
    """name[ARGS]{...}, or name[CALL_ID]id[ARGS]{...}."""
    name = cursor.match(_NAME).group()
    if cursor.accept(CALL_ID):
        cursor.match(_CALL_ID_TEXT)
    cursor.expect(ARGS)
    sink.name(name)
    sink.stream_json_arguments(cursor)


def nemo_call_grammar(tools: Sequence[ToolSpec], is_parallel: bool) -> str:
    builder = GrammarBuilder()
    bodies = [
        " ".join(
            [
                literal(f'{{"name": {json.dumps(tool.name)}, "arguments": '),
                builder.arguments(tool),
                literal(', "id": "'),
                _ID_RULE,
                literal('"}'),
            ]
        )
        for tool in tools
    ]
    call = builder.alternatives("call-object", bodies)
    calls = f"{call} ( {literal(', ')} {call} )*" if is_parallel else call
    return builder.build(f"{literal(TOOL_CALLS + '[')} {calls} {literal(']')}")


def call_grammar(tools: Sequence[ToolSpec], is_parallel: bool) -> str:
    builder = GrammarBuilder()
    bodies = [
        f"{literal(TOOL_CALLS + tool.name)} ( {literal(CALL_ID)} {_ID_RULE} )? "
        f"{literal(ARGS)} {builder.arguments(tool)}"
        for tool in tools
    ]
    call = builder.alternatives("call", bodies)
    return builder.build(f"{call}+" if is_parallel else call)


MISTRAL_NEMO = ChatFormat(
    name="mistral_nemo",
    has_short_call_ids=True,
    call_openers=(TOOL_CALLS,),
    parse_calls=parse_calls,
    call_grammar=nemo_call_grammar,
)

MISTRAL = ChatFormat(
    name="mistral",
    has_short_call_ids=True,
    call_openers=(TOOL_CALLS,),
    parse_calls=parse_calls,
    reasoning_markers=THINK,
    call_grammar=call_grammar,
)
