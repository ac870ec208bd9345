"""The grammar that makes a request's tool calls valid: forced from the first token for
tool_choice "required" or a named function, switched on by the family's opener for "auto"."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from server.formats.chat_format import ChatFormat, ToolSpec
from server.formats.gbnf import literal

_ROOT_RULE = re.compile(r"^root ::=", re.MULTILINE)


@dataclass(frozen=True)
class CallConstraint:
    grammar: str
    # Empty: the grammar applies from the first token.
    triggers: tuple[str, ...]


def call_constraint(
    fmt: ChatFormat,
    tools: Sequence[ToolSpec],
    *,
    is_parallel: bool,
    is_forced: bool,
    is_reasoning_open: bool,
) -> CallConstraint | None:
    if fmt.call_grammar is None or not tools:
        return None
    calls = fmt.call_grammar(tools, is_parallel)
    if not is_forced:
        return CallConstraint(calls, triggers_of(fmt))
    if fmt.reasoning_markers is None:
        return CallConstraint(calls, ())
    # A thinking model may think first, then it must call.
    start, end = fmt.reasoning_markers
    grammar = _ROOT_RULE.sub("tool-calls ::=", calls, count=1)
    thought = f"thought-body {literal(end)} [ \\t\\n]*"
    root = f"{thought} tool-calls" if is_reasoning_open else f"( {literal(start)} {thought} )? tool-calls"
    rules = [
        f"root ::= {root}",
        f"thought-body ::= {_text_without(end)}",
        grammar,
    ]
    return CallConstraint("\n".join(rules), ())


def triggers_of(fmt: ChatFormat) -> tuple[str, ...]:
    """Regexes that switch the lazy grammar on. Each ends in `$`: it fires only when the output so far
    ends exactly at the opener. llama.cpp replays the triggering token into the grammar, and a token
    that runs past the opener into text the grammar rejects makes llama.cpp abort the process; with
    `$` such a token simply does not trigger (the call is still parsed, just not constrained)."""
    return fmt.trigger_patterns or tuple(re.escape(opener) + "$" for opener in fmt.call_openers)


def _text_without(marker: str) -> str:
    """Text in which the marker's first two characters never stand together (so it cannot appear)."""
    first, second = marker[0], marker[1]
    return f"( [^{_class_char(first)}] | {literal(first)} [^{_class_char(second)}] )*"


def _class_char(char: str) -> str:
    return "\\" + char if char in "[]^\\-" else char
