"""One rule for a tool call cut by max_tokens, in every family: once its arguments have begun it comes
back as a call (its name, and its arguments as far as they got, as OpenAI returns one with
finish_reason "length"); cut earlier, in its opener or its name, it is dropped. Either way no markup
leaks into the content, and a stream ends with exactly what the whole answer says. Checked at every
cut point of what each vendored template writes for a call."""

from __future__ import annotations

from typing import Any

import pytest

from server.formats.chat_format import ParseOptions, ToolSpec
from server.formats.parser import MessageStream, opens_reasoning, parse_complete
from server.formats.registry import detect_format
from tests.support.vendored_templates import vendored_template, vendored_template_names
from tests.unit.formats.rendered import rendered_calls

CITY = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
TOOLS = [
    {"type": "function", "function": {"name": "get_weather", "description": "Weather", "parameters": CITY}}
]
SPECS = (ToolSpec("get_weather", CITY),)


def _cases() -> list[Any]:
    cases = []
    for stem in vendored_template_names():
        fmt = detect_format(vendored_template(stem))
        if not fmt.has_tool_calls:
            continue
        try:
            prompt, turn = rendered_calls(stem, [("get_weather", {"city": "Paris"})], TOOLS)
        except Exception:  # templates that cannot render this turn are not cases
            continue
        markers = fmt.reasoning_markers
        options = ParseOptions(
            parse_tools=True,
            tools=SPECS,
            is_reasoning_open=markers is not None and opens_reasoning(prompt, markers),
        )
        whole, _ = parse_complete(turn, fmt, options)
        if len(whole.tool_calls) == 1:
            end = _call_end(turn, fmt, options, whole.tool_calls[0].arguments)
            called, _ = parse_complete(turn[:end], fmt, options)
            cases.append(pytest.param(fmt, options, turn[:end], called, id=f"{fmt.name}-{stem}"))
    return cases


def _call_end(turn: str, fmt: Any, options: ParseOptions, arguments: str) -> int:
    """Where the call is whole: what the template writes after it (its end of turn) is no call."""
    for end in range(1, len(turn) + 1):
        message, _ = parse_complete(turn[:end], fmt, options)
        if (
            message.tool_calls
            and message.tool_calls[0].is_complete
            and message.tool_calls[0].arguments == arguments
        ):
            return end
    return len(turn)


@pytest.mark.parametrize(("fmt", "options", "turn", "whole"), _cases())
def test_a_call_cut_anywhere_is_a_partial_call_or_nothing(fmt, options, turn, whole) -> None:  # type: ignore[no-untyped-def]
    # `whole` is the answer up to the end of its call: what any cut of it may say, and no more.
    (full_call,) = whole.tool_calls
    for cut in range(1, len(turn)):
        message, _ = parse_complete(turn[:cut], fmt, options, is_cut=True)
        # (Whitespace before a call is the one thing a cut may leave that the whole answer trims.)
        assert whole.content.strip().startswith(message.content.strip()), (cut, turn[:cut], message.content)
        assert len(message.tool_calls) <= 1, (cut, turn[:cut])
        for call in message.tool_calls:
            assert call.name == full_call.name, (cut, turn[:cut])
            assert full_call.arguments.startswith(call.arguments.rstrip()), (cut, call.arguments)
        stream = MessageStream(fmt, options)
        for start in range(0, cut, 7):
            stream.feed(turn[start : min(start + 7, cut)])
        stream.finish(is_cut=True)
        streamed = stream.message
        assert (streamed.content, [(c.name, c.arguments) for c in streamed.tool_calls]) == (
            message.content,
            [(c.name, c.arguments) for c in message.tool_calls],
        ), (cut, turn[:cut])
        assert stream.num_contradictions == 0


def test_an_unfinished_opener_that_was_not_cut_stays_text() -> None:
    # The model stopped on its own: "<tool_call>" written and nothing after is text it chose to end on.
    fmt = detect_format(vendored_template("Qwen-Qwen2.5-7B-Instruct"))
    message, _ = parse_complete("Use the <tool_call>", fmt, ParseOptions(parse_tools=True, tools=SPECS))
    assert message.content == "Use the <tool_call>"
    cut, _ = parse_complete(
        "Use the <tool_call>", fmt, ParseOptions(parse_tools=True, tools=SPECS), is_cut=True
    )
    assert cut.content == "Use the "
