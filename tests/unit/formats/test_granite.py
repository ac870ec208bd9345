from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from server.formats.families.granite import GRANITE, call_grammar
from server.formats.parser import MessageStream
from tests.unit.formats.stream_check import (
    TOOLS,
    TOOLS_ON,
    assert_constraints_parse,
    assert_streams_like_whole,
    parse_streamed,
    parse_whole,
    summary,
)

WEATHER = ("get_weather", '{"city": "Paris"}')
TIME = ("get_time", '{"zone": "CET"}')

# Granite 3.3: "<|tool_call|> followed by a JSON list of tools used", as its system prompt asks.
CALL = '<|tool_call|>[{"name": "get_weather", "arguments": {"city": "Paris"}}]'
CALLS = (
    '<|tool_call|>[{"name": "get_weather", "arguments": {"city": "Paris"}}, '
    '{"name": "get_time", "arguments": {"zone": "CET"}}]'
)


def test_granite_single_call() -> None:
    assert summary(assert_streams_like_whole(CALL, GRANITE)) == ("", "", [WEATHER])


def test_granite_parallel_calls() -> None:
    assert summary(assert_streams_like_whole(CALLS, GRANITE)) == ("", "", [WEATHER, TIME])


def test_granite_text_then_call() -> None:
    message = assert_streams_like_whole(f"I'll check the weather. {CALL}", GRANITE)
    assert summary(message) == ("", "I'll check the weather.", [WEATHER])


def test_granite_thinking_then_call() -> None:
    message = assert_streams_like_whole(f"<think>The user asks about Paris.</think>\n{CALL}", GRANITE)
    assert summary(message) == ("The user asks about Paris.", "", [WEATHER])


def test_granite_thinking_then_wrapped_response() -> None:
    text = "<think>I'm\nthinking</think><response>Hello, world!\nWhat's up?</response>"
    assert summary(assert_streams_like_whole(text, GRANITE)) == (
        "I'm\nthinking",
        "Hello, world!\nWhat's up?",
        [],
    )


def test_granite_partial_response_tag_is_held_back() -> None:
    stream = MessageStream(GRANITE, TOOLS_ON)
    assert stream.feed("<think>Hm.</think><resp").content == ""
    assert stream.feed("onse>Sunny.</resp").content == "Sunny."
    assert stream.feed("onse>").content == ""
    stream.finish()
    assert (stream.message.reasoning, stream.message.content) == ("Hm.", "Sunny.")


def test_granite_malformed_call_is_content() -> None:
    text = "<|tool_call|>get_weather(city='Paris')"
    assert summary(assert_streams_like_whole(text, GRANITE)) == ("", text, [])


def test_granite_call_cut_off_keeps_its_arguments_so_far() -> None:
    message = assert_streams_like_whole(
        '<|tool_call|>[{"name": "get_weather", "arguments": {"city": "Pa', GRANITE
    )
    assert summary(message)[2] == [("get_weather", '{"city": "Pa')]
    assert not message.tool_calls[0].is_complete


def test_granite_plain_text() -> None:
    text = "Granite says: <b>hello</b>."
    assert summary(assert_streams_like_whole(text, GRANITE)) == ("", text, [])


def test_granite_grammar_parses_in_llama_cpp() -> None:
    assert_constraints_parse(GRANITE)
    assert 'root ::= "<|tool_call|>[" call-object "]"' in call_grammar(TOOLS, False)


ANSWERS = [
    f"<think>Two.</think>\n{CALLS}",
    "<think>Easy.</think>\n<response>It is <b>sunny</b>.</response>",
    CALL[:-1] + ", {oops}] then text",
]


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(ANSWERS), st.sets(st.integers(min_value=1, max_value=200), max_size=40))
def test_granite_any_split_streams_like_whole(text: str, cuts: set[int]) -> None:
    bounds = [0, *sorted(cut for cut in cuts if cut < len(text)), len(text)]
    pieces = [text[start:end] for start, end in itertools.pairwise(bounds)]
    assert summary(parse_streamed(pieces, GRANITE)) == summary(parse_whole(text, GRANITE))
