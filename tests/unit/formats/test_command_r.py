from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from server.formats.chat_format import ParseOptions
from server.formats.families.command_r import COMMAND_R, call_grammar
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

# As the R7B template renders a call (and llama.cpp's tests write one).
WEATHER_ITEM = '{"tool_call_id": "0", "tool_name": "get_weather", "parameters": {"city": "Paris"}}'
TIME_ITEM = '{"tool_call_id": "1", "tool_name": "get_time", "parameters": {"zone": "CET"}}'
CALL = f"<|START_ACTION|>[\n    {WEATHER_ITEM}\n]<|END_ACTION|>"
CALLS = f"<|START_ACTION|>[\n    {WEATHER_ITEM},\n    {TIME_ITEM}\n]<|END_ACTION|>"
THOUGHT = "<|START_THINKING|>I will look up the weather in Paris.<|END_THINKING|>"


def test_command_r_single_call() -> None:
    assert summary(assert_streams_like_whole(CALL, COMMAND_R)) == ("", "", [WEATHER])


def test_command_r_parallel_calls() -> None:
    assert summary(assert_streams_like_whole(CALLS, COMMAND_R)) == ("", "", [WEATHER, TIME])


def test_command_r_thinking_then_call() -> None:
    message = assert_streams_like_whole(THOUGHT + CALL, COMMAND_R)
    assert summary(message) == ("I will look up the weather in Paris.", "", [WEATHER])


def test_command_r_empty_thought_then_call() -> None:
    assert summary(assert_streams_like_whole(f"<|START_THINKING|><|END_THINKING|>{CALL}", COMMAND_R)) == (
        "",
        "",
        [WEATHER],
    )


def test_command_r_text_then_call() -> None:
    message = assert_streams_like_whole(f"Let me check.\n{CALL}", COMMAND_R)
    assert summary(message) == ("", "Let me check.", [WEATHER])


def test_command_r_response_markers_are_not_content() -> None:
    text = "<|START_RESPONSE|>Hello, world!\nWhat's up?<|END_RESPONSE|>"
    assert summary(assert_streams_like_whole(text, COMMAND_R)) == ("", "Hello, world!\nWhat's up?", [])


def test_command_r_thinking_then_response() -> None:
    text = "<|START_THINKING|>I'm\nthinking<|END_THINKING|><|START_RESPONSE|>Hello, world!<|END_RESPONSE|>"
    assert summary(assert_streams_like_whole(text, COMMAND_R)) == ("I'm\nthinking", "Hello, world!", [])


def test_command_r_response_markers_are_stripped_without_tool_parsing() -> None:
    text = "<|START_THINKING|>Hm.<|END_THINKING|><|START_RESPONSE|>Hi.<|END_RESPONSE|>"
    message = assert_streams_like_whole(text, COMMAND_R, ParseOptions())
    assert summary(message) == ("Hm.", "Hi.", [])


def test_command_r_partial_response_marker_is_held_back() -> None:
    stream = MessageStream(COMMAND_R, TOOLS_ON)
    assert stream.feed("<|START_RESP").content == ""
    assert stream.feed("ONSE|>Hi there<|END_").content == "Hi there"
    assert stream.feed("RESPONSE|>").content == ""
    assert stream.finish().content == ""
    assert stream.message.content == "Hi there"


def test_command_r_malformed_call_is_content() -> None:
    text = "<|START_ACTION|>get_weather(city=Paris)<|END_ACTION|>"
    assert summary(assert_streams_like_whole(text, COMMAND_R)) == ("", text, [])


def test_command_r_call_without_a_tool_name_is_content() -> None:
    text = '<|START_ACTION|>[{"tool_call_id": "0", "parameters": {"city": "Paris"}}]<|END_ACTION|>'
    assert summary(assert_streams_like_whole(text, COMMAND_R)) == ("", text, [])


def test_command_r_plain_text() -> None:
    text = "No markers here, just <b>text</b>."
    assert summary(assert_streams_like_whole(text, COMMAND_R)) == ("", text, [])


def test_command_r_grammar_parses_in_llama_cpp() -> None:
    assert_constraints_parse(COMMAND_R)
    grammar = call_grammar(TOOLS, True)
    assert '"<|START_ACTION|>[\\n    "' in grammar and '"\\n]<|END_ACTION|>"' in grammar


ANSWERS = [
    f"{THOUGHT}{CALLS}",
    f"{THOUGHT}<|START_RESPONSE|>It is <b>sunny</b>.<|END_RESPONSE|>",
    f"<|START_ACTION|>[\n    {WEATHER_ITEM},\n    oops\n]<|END_ACTION|>",
]


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(ANSWERS), st.sets(st.integers(min_value=1, max_value=300), max_size=40))
def test_command_r_any_split_streams_like_whole(text: str, cuts: set[int]) -> None:
    bounds = [0, *sorted(cut for cut in cuts if cut < len(text)), len(text)]
    pieces = [text[start:end] for start, end in itertools.pairwise(bounds)]
    assert summary(parse_streamed(pieces, COMMAND_R)) == summary(parse_whole(text, COMMAND_R))
