"""DeepSeek calls. Every family thinks in <think>…</think> first.

R1 (and V3, V3-0324, the R1 distills), one call per line inside the calls block:
    <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>NAME
    ```json
    {...}
    ```<｜tool▁call▁end｜>
    <｜tool▁calls▁end｜>
V3.1 drops the type and the code fence: <｜tool▁call▁begin｜>NAME<｜tool▁sep｜>{...}<｜tool▁call▁end｜>.
Both are read by one parser: after the separator, JSON means the word before it was the name. The
distills also write their block opener in a few wrong ways; those are accepted too.

V3.2 (and V4, which names the block tool_calls) writes DSML markup, one parameter per element:
    <｜DSML｜function_calls>
    <｜DSML｜invoke name="NAME">
    <｜DSML｜parameter name="KEY" string="true">raw text</｜DSML｜parameter>
    <｜DSML｜parameter name="KEY" string="false">JSON</｜DSML｜parameter>
    </｜DSML｜invoke>
    </｜DSML｜function_calls>

The markers are the models' own special tokens, copied from the templates: ｜ is U+FF5C (fullwidth
vertical line) and ▁ is U+2581, hence the file-wide exemption from ruff's confusable-character rules.
"""

# ruff: noqa: RUF001, RUF002, RUF003

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Any

from server.formats.chat_format import ChatFormat, ToolSpec
from server.formats.cursor import CallSink, Cursor, Incomplete, Malformed
from server.formats.gbnf import GrammarBuilder, literal
from server.formats.json_scan import ScanStatus, scan_value

CALLS_BEGIN, CALLS_END = "<｜tool▁calls▁begin｜>", "<｜tool▁calls▁end｜>"
CALL_BEGIN, CALL_END = "<｜tool▁call▁begin｜>", "<｜tool▁call▁end｜>"
SEP = "<｜tool▁sep｜>"
# What the R1 distills write instead of the real block opener now and then.
CALLS_BEGIN_VARIANTS = (
    CALLS_BEGIN,
    "<｜tool_calls_begin｜>",
    "<｜tool calls begin｜>",
    "<｜tool\\_calls\\_begin｜>",
    "<｜tool▁calls｜>",
)
THINK = ("<think>", "</think>")
NEWLINE = "\n"

# The word before the separator: the call type ("function", R1) or the name (V3.1).
_WORD = re.compile(r"[^\s<]*")
_NAME_LINE = re.compile(r"[^\n]+")


def parse_calls(cursor: Cursor, sink: CallSink) -> None:
    sink.start_attempt(cursor.pos)
    _expect_one_of(cursor, CALLS_BEGIN_VARIANTS)
    while True:
        cursor.skip_whitespace()
        cursor.accept(CALL_BEGIN)  # the distills sometimes leave it out
        _call(cursor, sink)
        cursor.skip_whitespace()
        if cursor.accept(CALLS_END):
            return
        sink.start_attempt(cursor.pos)


def _expect_one_of(cursor: Cursor, literals: Sequence[str]) -> str:
    for text in literals:
        if cursor.text.startswith(text, cursor.pos):
            cursor.pos += len(text)
            return text
    if any(text.startswith(cursor.rest) for text in literals):
        raise Incomplete
    raise Malformed(cursor.pos, f"expected one of {literals}")


def _call(cursor: Cursor, sink: CallSink) -> None:
    word = cursor.match(_WORD).group()
    cursor.expect(SEP)
    cursor.skip_whitespace()
    if cursor.is_at_end:
        raise Incomplete
    if cursor.text[cursor.pos] == "{":  # V3.1: NAME<｜tool▁sep｜>{...}
        if not word:
            raise Malformed(cursor.pos, "a tool call without a name")
        sink.name(word)
        sink.stream_json_arguments(cursor)
    else:  # R1: function<｜tool▁sep｜>NAME\n```json\n{...}\n```
        name = cursor.match(_NAME_LINE).group().strip()
        cursor.skip_whitespace()
        cursor.expect("```")
        cursor.accept("json")
        sink.name(name)
        sink.stream_json_arguments(cursor)
        cursor.skip_whitespace()
        cursor.accept("```")
    cursor.skip_whitespace()
    cursor.expect(CALL_END)


def _block(calls: str) -> str:
    """The calls block, opened by whichever opener the model picked (each one is a trigger)."""
    openers = " | ".join(literal(opener) for opener in CALLS_BEGIN_VARIANTS)
    return f"( {openers} ) {calls} {literal(CALLS_END)}"


def r1_call_grammar(tools: Sequence[ToolSpec], is_parallel: bool) -> str:
    builder = GrammarBuilder()
    bodies = []
    for tool in tools:
        opening, closing = f"{CALL_BEGIN}function{SEP}{tool.name}\n```json\n", f"\n```{CALL_END}"
        bodies.append(f"{literal(opening)} {builder.arguments(tool)} {literal(closing)}")
    call = builder.alternatives("call", bodies)
    calls = f"{call} ( {literal(NEWLINE)} {call} )*" if is_parallel else call
    return builder.build(_block(calls))


def v3_call_grammar(tools: Sequence[ToolSpec], is_parallel: bool) -> str:
    builder = GrammarBuilder()
    bodies = [
        f"{literal(CALL_BEGIN + tool.name + SEP)} {builder.arguments(tool)} {literal(CALL_END)}"
        for tool in tools
    ]
    call = builder.alternatives("call", bodies)
    return builder.build(_block(f"{call}+" if is_parallel else call))


DEEPSEEK_R1 = ChatFormat(
    name="deepseek_r1",
    call_openers=CALLS_BEGIN_VARIANTS,
    parse_calls=parse_calls,
    reasoning_markers=THINK,
    call_grammar=r1_call_grammar,
)

DEEPSEEK_V3 = ChatFormat(
    name="deepseek_v3",
    call_openers=CALLS_BEGIN_VARIANTS,
    parse_calls=parse_calls,
    reasoning_markers=THINK,
    call_grammar=v3_call_grammar,
)


# -- V3.2 and V4: DSML ---------------------------------------------------------------------------------

DSML = "｜DSML｜"
DSML_BLOCKS = ("function_calls", "tool_calls")  # V3.2, V4
DSML_OPENERS = tuple(f"<{DSML}{block}>" for block in DSML_BLOCKS)
INVOKE_START, INVOKE_END = f'<{DSML}invoke name="', f"</{DSML}invoke>"
PARAMETER_START, PARAMETER_END = f'<{DSML}parameter name="', f"</{DSML}parameter>"

_ATTRIBUTE = re.compile(r'[^"\n]+')
_DSML_TAG = re.compile(f"</?{re.escape(DSML)}")
_ANY_VALUE = {"type": ["object", "array", "string", "number", "boolean", "null"]}


def parse_dsml_calls(cursor: Cursor, sink: CallSink) -> None:
    sink.start_attempt(cursor.pos)
    opener = _expect_one_of(cursor, DSML_OPENERS)
    closer = opener.replace("<", "</", 1)
    while True:
        cursor.skip_whitespace()
        _invoke(cursor, sink)
        cursor.skip_whitespace()
        if cursor.accept(closer):
            return
        sink.start_attempt(cursor.pos)


def _invoke(cursor: Cursor, sink: CallSink) -> None:
    """One call. It shows once its first parameter is whole (a broken first parameter leaves the whole
    block as text), and its arguments object then grows a parameter at a time."""
    cursor.expect(INVOKE_START)
    name = cursor.match(_ATTRIBUTE).group()
    cursor.expect('">')
    sink.name(name)
    members: list[str] = []
    while True:
        cursor.skip_whitespace()
        if cursor.accept(INVOKE_END):
            sink.arguments("{" + ", ".join(members) + "}", is_complete=True)
            return
        members.append(_parameter(cursor))
        sink.arguments("{" + ", ".join(members), is_complete=False)


def _parameter(cursor: Cursor) -> str:
    """One `"key": value` member of the arguments object."""
    cursor.expect(PARAMETER_START)
    key = cursor.match(_ATTRIBUTE).group()
    cursor.expect('" string="')
    is_string = cursor.accept("true")
    if not is_string:
        cursor.expect("false")
    cursor.expect('">')
    # The value runs to the next DSML tag, which must be this parameter's closer.
    tag = _DSML_TAG.search(cursor.text, cursor.pos)
    if tag is None:
        raise Incomplete
    value = cursor.text[cursor.pos : tag.start()]
    cursor.pos = tag.start()
    cursor.expect(PARAMETER_END)
    return f"{json.dumps(key, ensure_ascii=False)}: {_json_value(value, is_string=is_string)}"


def _json_value(value: str, *, is_string: bool) -> str:
    if not is_string:
        raw = value.strip()
        scan = scan_value(raw, 0)
        if scan.status is ScanStatus.COMPLETE and scan.end == len(raw):
            return raw
        # Not JSON after all (a string the model marked string="false"): keep its text.
    return json.dumps(value, ensure_ascii=False)


def dsml_call_grammar(tools: Sequence[ToolSpec], is_parallel: bool) -> str:
    builder = GrammarBuilder()
    # Raw text in which no DSML tag can begin (the parser ends a value at the next one).
    raw_text = builder.rule("raw-text", f'( [^<] | "<" [^/{DSML[0]}] | "</" [^{DSML[0]}] )*')
    bodies = [_invoke_grammar(builder, tool, raw_text) for tool in tools]
    call = builder.alternatives("call", bodies)
    calls = f"{call}+" if is_parallel else call
    # Either block name: the grammar starts where the opener that triggered it does.
    blocks = []
    for block in DSML_BLOCKS:
        opening, closing = f"<{DSML}{block}>\n", f"</{DSML}{block}>"
        blocks.append(f"( {literal(opening)} {calls} {literal(closing)} )")
    return builder.build(" | ".join(blocks))


def _invoke_grammar(builder: GrammarBuilder, tool: ToolSpec, raw_text: str) -> str:
    """The parameters in the schema's order: the required ones always, the others optionally."""
    schema: dict[str, Any] = tool.parameters or {}
    properties: dict[str, Any] = schema.get("properties") or {}
    required = set(schema.get("required") or ())
    definitions = {key: schema[key] for key in ("$defs", "definitions") if key in schema}
    parts = [literal(f'{INVOKE_START}{tool.name}">\n')]
    for key, prop in properties.items():
        is_string = isinstance(prop, dict) and prop.get("type") == "string"
        if is_string:
            value = raw_text
        else:
            # An empty schema is any value (GrammarBuilder.json_value() allows objects only).
            value_schema = {**definitions, **prop} if prop else _ANY_VALUE
            value = builder.arguments(ToolSpec(f"{tool.name}-{key}", value_schema))
        head = f'{PARAMETER_START}{key}" string="{"true" if is_string else "false"}">'
        element = f"{literal(head)} {value} {literal(PARAMETER_END + NEWLINE)}"
        parts.append(element if key in required else f"( {element} )?")
    parts.append(literal(f"{INVOKE_END}\n"))
    return " ".join(parts)


DEEPSEEK_V3_2 = ChatFormat(
    name="deepseek_v3_2",
    call_openers=DSML_OPENERS,
    parse_calls=parse_dsml_calls,
    reasoning_markers=THINK,
    call_grammar=dsml_call_grammar,
)
