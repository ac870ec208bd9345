from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.formats.chat_format import ParseOptions
from server.formats.families.kimi_k2 import KIMI_K2, call_grammar
from server.formats.parser import MessageStream
from tests.unit.formats.rendered import rendered_calls
from tests.unit.formats.stream_check import (
    TOOLS,
    TOOLS_ON,
    assert_constraints_parse,
    assert_streams_like_whole,
    parse_streamed,
    parse_whole,
    summary,
)

OPENAI_TOOLS = [{"type": "function", "function": {"name": t.name, "parameters": t.parameters}} for t in TOOLS]


def call(call_id: str, arguments: str) -> str:
    return f"<|tool_call_begin|>{call_id}<|tool_call_argument_begin|>{arguments}<|tool_call_end|>"


def section(*calls: str) -> str:
    return f"<|tool_calls_section_begin|>{''.join(calls)}<|tool_calls_section_end|>"


WEATHER_CALL = call("functions.get_weather:0", '{"city": "Paris"}')
WEATHER = ("get_weather", '{"city": "Paris"}')
TIME_CALL = call("functions.get_time:1", "{}")
TIME = ("get_time", "{}")


@pytest.mark.parametrize("template", ["Kimi-K2-Instruct", "Kimi-K2-Thinking", "moonshotai-Kimi-K2"])
def test_kimi_k2_reads_back_the_calls_its_templates_write(template: str) -> None:
    _, answer = rendered_calls(template, [("get_weather", {"city": "Paris"}), ("get_time", {})], OPENAI_TOOLS)
    message = assert_streams_like_whole(answer.removesuffix("<|im_end|>"), KIMI_K2)
    assert summary(message) == ("", "", [WEATHER, TIME])


def test_kimi_k2_single_and_parallel_calls() -> None:
    assert summary(assert_streams_like_whole(section(WEATHER_CALL), KIMI_K2)) == ("", "", [WEATHER])
    text = section(WEATHER_CALL, TIME_CALL)
    assert summary(assert_streams_like_whole(text, KIMI_K2)) == ("", "", [WEATHER, TIME])


def test_kimi_k2_thinking_and_text_before_the_calls() -> None:
    text = f"<think>Look it up.</think>Checking the weather.{section(WEATHER_CALL)}"
    message = assert_streams_like_whole(text, KIMI_K2)
    assert summary(message) == ("Look it up.", "Checking the weather.", [WEATHER])


def test_kimi_k2_ids_without_prefix_or_index_still_name_the_function() -> None:
    text = section(call("get_weather", '{"city": "Paris"}'), call(" functions.get_time ", "{}"))
    assert summary(assert_streams_like_whole(text, KIMI_K2))[2] == [WEATHER, TIME]


def test_kimi_k2_id_that_names_nothing_is_content() -> None:
    text = section(call("functions.:0", "{}"))
    assert summary(assert_streams_like_whole(text, KIMI_K2)) == ("", text, [])


def test_kimi_k2_arguments_stream_as_they_arrive() -> None:
    stream = MessageStream(KIMI_K2, TOOLS_ON)
    assert stream.feed("<|tool_calls_section_begin|><|tool_call_begin|>functions.get_wea").is_empty
    first = stream.feed('ther:0<|tool_call_argument_begin|>{"city": "Pa')
    assert (first.tool_calls[0].name, first.tool_calls[0].arguments) == ("get_weather", '{"city": "Pa')
    assert stream.feed('ris"}<|tool_call_end|>').tool_calls[0].arguments == 'ris"}'


def test_kimi_k2_call_cut_off_keeps_its_arguments_so_far() -> None:
    text = section(call("functions.get_weather:0", '{"ci')).split("<|tool_call_end|>")[0]
    message = assert_streams_like_whole(text, KIMI_K2)
    assert summary(message)[2] == [("get_weather", '{"ci')] and not message.tool_calls[0].is_complete


def test_kimi_k2_calls_without_tools_are_content() -> None:
    text = section(WEATHER_CALL)
    assert summary(assert_streams_like_whole(text, KIMI_K2, ParseOptions())) == ("", text, [])


def test_kimi_k2_grammar_parses_in_llama_cpp() -> None:
    assert_constraints_parse(KIMI_K2, TOOLS)


def test_kimi_k2_grammar_writes_the_section() -> None:
    grammar = call_grammar(TOOLS, True)
    assert 'root ::= "<|tool_calls_section_begin|>" call+ "<|tool_calls_section_end|>"' in grammar
    assert '"<|tool_call_begin|>functions.get_weather:" [0-9]{1,3} "<|tool_call_argument_begin|>"' in grammar
    assert 'root ::= "<|tool_calls_section_begin|>" call "<|tool_calls_section_end|>"' in call_grammar(
        TOOLS, False
    )


ANSWERS = [
    f"<think>Two.</think>Checking.{section(WEATHER_CALL, TIME_CALL)}",
    section(call("functions.get_weather:0", '{"city": "a \\"quoted\\" <|tool_call_end|> city"}')),
    section(call("functions.get_weather:0", '{"city": "Paris"} oops')),
    "Plain <|tool_calls_section_begin| text with <|tool_call_end|> in it",
]


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(ANSWERS), st.sets(st.integers(min_value=1, max_value=300), max_size=40))
def test_kimi_k2_any_split_streams_like_whole(text: str, cuts: set[int]) -> None:
    bounds = [0, *sorted(cut for cut in cuts if cut < len(text)), len(text)]
    pieces = [text[start:end] for start, end in itertools.pairwise(bounds)]
    assert summary(parse_streamed(pieces, KIMI_K2)) == summary(parse_whole(text, KIMI_K2))
