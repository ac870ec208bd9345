# The markers are DeepSeek's special tokens, copied from the templates (fullwidth ｜, U+2581 ▁).
# ruff: noqa: RUF001, RUF003

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from server.formats.chat_format import ChatFormat, ParseOptions, ToolSpec
from server.formats.families.deepseek import (
    DEEPSEEK_R1,
    DEEPSEEK_V3,
    DEEPSEEK_V3_2,
    dsml_call_grammar,
    r1_call_grammar,
    v3_call_grammar,
)
from tests.unit.formats.stream_check import (
    assert_constraints_parse,
    assert_streams_like_whole,
    parse_streamed,
    parse_whole,
    summary,
)

CITY = {"type": "object", "properties": {"city": {"type": "string"}, "days": {"type": "integer"}}}
TOOLS = [ToolSpec("get_weather", {**CITY, "required": ["city"]}), ToolSpec("get_time", {"type": "object"})]
# The R1 templates end the prompt with "<think>\n": the answer starts inside the thought.
THINKING_OPEN = ParseOptions(parse_tools=True, is_reasoning_open=True)
WEATHER = ("get_weather", '{"city": "Paris"}')
TIME = ("get_time", '{"zone": "CET"}')

# R1, as llama-cpp-deepseek-r1.jinja and the distill templates render a call.
R1_WEATHER = (
    "<｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\n```json\n"
    '{"city": "Paris"}\n```<｜tool▁call▁end｜>'
)
R1_TIME = (
    '<｜tool▁call▁begin｜>function<｜tool▁sep｜>get_time\n```json\n{"zone": "CET"}\n```<｜tool▁call▁end｜>'
)
R1_CALL = f"<｜tool▁calls▁begin｜>{R1_WEATHER}<｜tool▁calls▁end｜>"
R1_CALLS = f"<｜tool▁calls▁begin｜>{R1_WEATHER}\n{R1_TIME}<｜tool▁calls▁end｜>"

# V3.1: NAME<｜tool▁sep｜>{args}, no type and no code fence.
V3_WEATHER = '<｜tool▁call▁begin｜>get_weather<｜tool▁sep｜>{"city": "Paris"}<｜tool▁call▁end｜>'
V3_TIME = '<｜tool▁call▁begin｜>get_time<｜tool▁sep｜>{"zone": "CET"}<｜tool▁call▁end｜>'
V3_CALL = f"<｜tool▁calls▁begin｜>{V3_WEATHER}<｜tool▁calls▁end｜>"
V3_CALLS = f"<｜tool▁calls▁begin｜>{V3_WEATHER}{V3_TIME}<｜tool▁calls▁end｜>"

# V3.2: DSML, one parameter per element, string="false" ones written as JSON.
DSML_WEATHER = (
    '<｜DSML｜invoke name="get_weather">\n'
    '<｜DSML｜parameter name="city" string="true">Paris</｜DSML｜parameter>\n'
    "</｜DSML｜invoke>\n"
)
DSML_TIME = (
    '<｜DSML｜invoke name="get_time">\n'
    '<｜DSML｜parameter name="zone" string="true">CET</｜DSML｜parameter>\n'
    "</｜DSML｜invoke>\n"
)
DSML_CALL = f"<｜DSML｜function_calls>\n{DSML_WEATHER}</｜DSML｜function_calls>"
DSML_CALLS = f"<｜DSML｜function_calls>\n{DSML_WEATHER}{DSML_TIME}</｜DSML｜function_calls>"


def test_deepseek_r1_single_call() -> None:
    assert summary(assert_streams_like_whole(R1_CALL, DEEPSEEK_R1)) == ("", "", [WEATHER])


def test_deepseek_r1_parallel_calls() -> None:
    assert summary(assert_streams_like_whole(R1_CALLS, DEEPSEEK_R1)) == ("", "", [WEATHER, TIME])


def test_deepseek_r1_text_then_call() -> None:
    message = assert_streams_like_whole(f"Let me look that up.\n{R1_CALL}", DEEPSEEK_R1)
    assert summary(message) == ("", "Let me look that up.", [WEATHER])


def test_deepseek_r1_thinking_then_call() -> None:
    message = assert_streams_like_whole(f"<think>\nWeather, so a call.\n</think>\n\n{R1_CALL}", DEEPSEEK_R1)
    assert summary(message) == ("Weather, so a call.", "", [WEATHER])


def test_deepseek_r1_thought_opened_by_the_prompt_then_call() -> None:
    message = assert_streams_like_whole(
        f"Weather, so a call.\n</think>\n\n{R1_CALL}", DEEPSEEK_R1, THINKING_OPEN
    )
    assert summary(message) == ("Weather, so a call.", "", [WEATHER])


def test_deepseek_r1_fence_closed_on_the_json_line() -> None:
    # llama.cpp's own R1 test output: no newline before the closing fence.
    text = (
        "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function<｜tool▁sep｜>special_function\n"
        '```json\n{"arg1": 1}```<｜tool▁call▁end｜><｜tool▁calls▁end｜>'
    )
    assert summary(assert_streams_like_whole(text, DEEPSEEK_R1)) == (
        "",
        "",
        [("special_function", '{"arg1": 1}')],
    )


def test_deepseek_r1_distill_opener_variant() -> None:
    text = R1_CALL.replace("<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>", "<｜tool_calls_begin｜>")
    assert summary(assert_streams_like_whole(text, DEEPSEEK_R1)) == ("", "", [WEATHER])


def test_deepseek_r1_malformed_call_is_content() -> None:
    text = "Sure <｜tool▁calls▁begin｜><｜tool▁call▁begin｜>function get_weather(city=Paris)"
    assert summary(assert_streams_like_whole(text, DEEPSEEK_R1)) == ("", text, [])


def test_deepseek_r1_plain_text() -> None:
    text = "<think>\nEasy.\n</think>\n\nIt is `sunny` | warm."
    assert summary(assert_streams_like_whole(text, DEEPSEEK_R1)) == ("Easy.", "It is `sunny` | warm.", [])


def test_deepseek_v3_single_call() -> None:
    assert summary(assert_streams_like_whole(V3_CALL, DEEPSEEK_V3)) == ("", "", [WEATHER])


def test_deepseek_v3_parallel_calls() -> None:
    assert summary(assert_streams_like_whole(V3_CALLS, DEEPSEEK_V3)) == ("", "", [WEATHER, TIME])


def test_deepseek_v3_thinking_text_and_calls() -> None:
    # The V3.1 template ends the prompt with "<think>" in thinking mode.
    message = assert_streams_like_whole(f"REASONING</think>CONTENT{V3_CALLS}", DEEPSEEK_V3, THINKING_OPEN)
    assert summary(message) == ("REASONING", "CONTENT", [WEATHER, TIME])


def test_deepseek_v3_malformed_call_is_content() -> None:
    text = "<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>get_weather<｜tool▁sep｜>Paris<｜tool▁call▁end｜>"
    assert summary(assert_streams_like_whole(text, DEEPSEEK_V3)) == ("", text, [])


def test_deepseek_v3_reads_r1_calls_too() -> None:
    assert summary(assert_streams_like_whole(R1_CALLS, DEEPSEEK_V3)) == ("", "", [WEATHER, TIME])


def test_deepseek_v3_plain_text() -> None:
    assert summary(assert_streams_like_whole("Hello, world!\nWhat's up?", DEEPSEEK_V3)) == (
        "",
        "Hello, world!\nWhat's up?",
        [],
    )


def test_deepseek_v3_2_single_call() -> None:
    assert summary(assert_streams_like_whole(DSML_CALL, DEEPSEEK_V3_2)) == ("", "", [WEATHER])


def test_deepseek_v3_2_parallel_calls() -> None:
    assert summary(assert_streams_like_whole(DSML_CALLS, DEEPSEEK_V3_2)) == ("", "", [WEATHER, TIME])


def test_deepseek_v3_2_thinking_text_and_call() -> None:
    text = f"Let me check the time</think>Checking.\n\n{DSML_CALL}"
    message = assert_streams_like_whole(text, DEEPSEEK_V3_2, THINKING_OPEN)
    assert summary(message) == ("Let me check the time", "Checking.", [WEATHER])


def test_deepseek_v3_2_typed_and_raw_parameters() -> None:
    text = (
        '<｜DSML｜tool_calls>\n<｜DSML｜invoke name="f">\n'
        '<｜DSML｜parameter name="text" string="true">say "hi"\nthen go</｜DSML｜parameter>\n'
        '<｜DSML｜parameter name="n" string="false">[1, {"a": null}]</｜DSML｜parameter>\n'
        "</｜DSML｜invoke>\n</｜DSML｜tool_calls>"
    )
    arguments = '{"text": "say \\"hi\\"\\nthen go", "n": [1, {"a": null}]}'
    assert summary(assert_streams_like_whole(text, DEEPSEEK_V3_2)) == ("", "", [("f", arguments)])


def test_deepseek_v3_2_malformed_call_is_content() -> None:
    text = "<｜DSML｜function_calls>\n<｜DSML｜call get_weather(Paris)>\n</｜DSML｜function_calls>"
    assert summary(assert_streams_like_whole(text, DEEPSEEK_V3_2)) == ("", text, [])


def test_deepseek_v3_2_plain_text() -> None:
    text = "<think>Simple.</think>Use <b>bold</b> text."
    assert summary(assert_streams_like_whole(text, DEEPSEEK_V3_2)) == ("Simple.", "Use <b>bold</b> text.", [])


def test_deepseek_r1_grammar_parses_in_llama_cpp() -> None:
    assert_constraints_parse(DEEPSEEK_R1, TOOLS)
    assert '"<｜tool▁call▁begin｜>function<｜tool▁sep｜>get_weather\\n```json\\n"' in r1_call_grammar(
        TOOLS, False
    )


def test_deepseek_v3_grammar_parses_in_llama_cpp() -> None:
    assert_constraints_parse(DEEPSEEK_V3, TOOLS)
    assert '"<｜tool▁call▁begin｜>get_weather<｜tool▁sep｜>"' in v3_call_grammar(TOOLS, True)


def test_deepseek_v3_2_grammar_parses_in_llama_cpp() -> None:
    assert_constraints_parse(DEEPSEEK_V3_2, TOOLS)
    grammar = dsml_call_grammar(TOOLS, False)
    assert '"<｜DSML｜parameter name=\\"city\\" string=\\"true\\">"' in grammar
    assert '"<｜DSML｜parameter name=\\"days\\" string=\\"false\\">"' in grammar


ANSWERS = [
    (DEEPSEEK_R1, f"<think>\nTwo calls.\n</think>\n\nChecking.\n{R1_CALLS}"),
    (DEEPSEEK_R1, f"<｜tool▁calls▁begin｜>{R1_WEATHER}\n<｜tool▁call▁begin｜>oops<｜tool▁calls▁end｜>"),
    (DEEPSEEK_V3, f"Both.</think>{V3_CALLS} done"),
    (DEEPSEEK_V3_2, f"<think>Both.</think>\n\n{DSML_CALLS}"),
    (DEEPSEEK_V3_2, DSML_CALL.replace("Paris</", "Paris<｜DSML｜oops>")),
]


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(ANSWERS), st.sets(st.integers(min_value=1, max_value=400), max_size=40))
def test_deepseek_any_split_streams_like_whole(answer: tuple[ChatFormat, str], cuts: set[int]) -> None:
    fmt, text = answer
    bounds = [0, *sorted(cut for cut in cuts if cut < len(text)), len(text)]
    pieces = [text[start:end] for start, end in itertools.pairwise(bounds)]
    assert summary(parse_streamed(pieces, fmt)) == summary(parse_whole(text, fmt))
