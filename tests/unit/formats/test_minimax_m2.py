from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from server.formats.chat_format import ParseOptions, ToolSpec
from server.formats.families.minimax_m2 import MINIMAX_M2, call_grammar
from server.formats.parser import MessageStream, opens_reasoning
from tests.unit.formats.rendered import rendered_calls
from tests.unit.formats.stream_check import (
    assert_constraints_parse,
    assert_streams_like_whole,
    parse_streamed,
    parse_whole,
    summary,
)

SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "days": {"type": "integer"}, "hours": {"type": "array"}},
    "required": ["city"],
}
TOOLS = (
    ToolSpec("get_weather", SCHEMA),
    ToolSpec(
        "get_time", {"type": "object", "properties": {"zone": {"type": "string", "enum": ["CET", "UTC"]}}}
    ),
)
TYPED = ParseOptions(parse_tools=True, tools=TOOLS)
OPENAI_TOOLS = [{"type": "function", "function": {"name": t.name, "parameters": t.parameters}} for t in TOOLS]


def invoke(name: str, *arguments: tuple[str, str]) -> str:
    body = "".join(f'<parameter name="{key}">{value}</parameter>\n' for key, value in arguments)
    return f'<invoke name="{name}">\n{body}</invoke>\n'


def block(*invokes: str) -> str:
    return f"<minimax:tool_call>\n{''.join(invokes)}</minimax:tool_call>"


WEATHER_CALL = invoke("get_weather", ("city", "Paris"), ("days", "3"))
WEATHER = ("get_weather", '{"city": "Paris", "days": 3}')
TIME_CALL = invoke("get_time", ("zone", "CET"))
TIME = ("get_time", '{"zone": "CET"}')


def test_minimax_m2_reads_back_the_calls_its_template_writes() -> None:
    calls = [("get_weather", {"city": "Paris", "days": 3, "hours": [9, 12]}), ("get_time", {"zone": "CET"})]
    prompt, answer = rendered_calls("MiniMax-M2", calls, OPENAI_TOOLS)
    assert opens_reasoning(prompt, ("<think>", "</think>"))
    options = ParseOptions(parse_tools=True, tools=TOOLS, is_reasoning_open=True)
    message = assert_streams_like_whole(answer, MINIMAX_M2, options)
    assert summary(message)[2] == [("get_weather", '{"city": "Paris", "days": 3, "hours": [9, 12]}'), TIME]


def test_minimax_m2_single_and_parallel_calls() -> None:
    assert summary(assert_streams_like_whole(block(WEATHER_CALL), MINIMAX_M2, TYPED)) == ("", "", [WEATHER])
    text = block(WEATHER_CALL, TIME_CALL)
    assert summary(assert_streams_like_whole(text, MINIMAX_M2, TYPED)) == ("", "", [WEATHER, TIME])


def test_minimax_m2_thinking_the_prompt_opened_then_text_then_call() -> None:
    options = ParseOptions(parse_tools=True, tools=TOOLS, is_reasoning_open=True)
    text = f"Look it up.\n</think>\n\nChecking.\n{block(TIME_CALL)}"
    assert summary(assert_streams_like_whole(text, MINIMAX_M2, options)) == (
        "Look it up.",
        "Checking.",
        [TIME],
    )


def test_minimax_m2_value_that_is_not_its_type_stays_text() -> None:
    text = block(invoke("get_weather", ("city", "7"), ("days", "many")))
    assert summary(assert_streams_like_whole(text, MINIMAX_M2, TYPED))[2] == [
        ("get_weather", '{"city": "7", "days": "many"}')
    ]


def test_minimax_m2_malformed_invoke_is_content() -> None:
    text = block("<invoke get_weather>city=Paris</invoke>\n")
    assert summary(assert_streams_like_whole(text, MINIMAX_M2, TYPED)) == ("", text, [])


def test_minimax_m2_string_value_streams_as_it_arrives() -> None:
    stream = MessageStream(MINIMAX_M2, TYPED)
    assert stream.feed('<minimax:tool_call>\n<invoke name="get_weather">\n<parameter name="ci').is_empty
    assert stream.feed('ty">Par').tool_calls[0].arguments == '{"city": "Par'
    assert stream.feed("is</para").tool_calls[0].arguments == "is"
    assert stream.feed("meter>\n</invoke>").tool_calls[0].arguments == '"}'


def test_minimax_m2_grammar_parses_in_llama_cpp_and_writes_the_template_syntax() -> None:
    assert_constraints_parse(MINIMAX_M2, TOOLS)
    grammar = call_grammar(TOOLS, True)
    assert 'root ::= "<minimax:tool_call>\\n" invoke+ "</minimax:tool_call>"' in grammar
    assert '"<invoke name=\\"get_time\\">\\n" ( "<parameter name=\\"zone\\">" ( "CET" | "UTC" )' in grammar


ANSWERS = [
    f"<think>Two.</think>\nChecking.\n{block(WEATHER_CALL, TIME_CALL)}",
    block(invoke("get_weather", ("city", 'a "quoted" </paramete city'), ("hours", "[1, 2]"))),
    block('<invoke name="get_weather">\n<parameter name="city">Paris</parameter>\noops</invoke>'),
    "Plain <minimax:tool_ text with <invoke name= in it",
]


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(ANSWERS), st.sets(st.integers(min_value=1, max_value=300), max_size=40))
def test_minimax_m2_any_split_streams_like_whole(text: str, cuts: set[int]) -> None:
    bounds = [0, *sorted(cut for cut in cuts if cut < len(text)), len(text)]
    pieces = [text[start:end] for start, end in itertools.pairwise(bounds)]
    assert summary(parse_streamed(pieces, MINIMAX_M2, TYPED)) == summary(parse_whole(text, MINIMAX_M2, TYPED))
