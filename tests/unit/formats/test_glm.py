from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.formats.chat_format import ParseOptions, ToolSpec
from server.formats.families.glm import GLM, GLM_4_7, call_grammar
from server.formats.parser import MessageStream, opens_reasoning
from tests.unit.formats.rendered import rendered_calls
from tests.unit.formats.stream_check import (
    assert_constraints_parse,
    assert_streams_like_whole,
    parse_streamed,
    parse_whole,
    summary,
)

WEATHER_SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string"},
        "days": {"type": "integer"},
        "metric": {"type": "boolean"},
        "hours": {"type": "array", "items": {"type": "integer"}},
        "note": {"type": ["string", "null"]},
    },
    "required": ["city"],
}
TOOLS = (
    ToolSpec("get_weather", WEATHER_SCHEMA),
    ToolSpec("get_time", {"type": "object", "properties": {"zone": {"type": "string"}}}),
)
TYPED = ParseOptions(parse_tools=True, tools=TOOLS)
OPENAI_TOOLS = [{"type": "function", "function": {"name": t.name, "parameters": t.parameters}} for t in TOOLS]


def call(name: str, *arguments: tuple[str, str]) -> str:
    """A call as GLM 4.6's template renders one (and the model writes it)."""
    body = "".join(f"<arg_key>{key}</arg_key>\n<arg_value>{value}</arg_value>\n" for key, value in arguments)
    return f"<tool_call>{name}\n{body}</tool_call>"


WEATHER_CALL = call("get_weather", ("city", "Paris"), ("days", "3"))
WEATHER = ("get_weather", '{"city": "Paris", "days": 3}')
TIME_CALL = call("get_time", ("zone", "CET"))
TIME = ("get_time", '{"zone": "CET"}')


@pytest.mark.parametrize(
    ("template", "family"),
    [
        ("GLM-4.6", GLM),
        ("GLM-4.7-Flash", GLM_4_7),
        ("Spark2.5", GLM_4_7),
        ("poolside-Laguna-S-2.1", GLM_4_7),
        ("poolside-Laguna-XS-2.1", GLM),
        ("inclusionai-ling-3.0-flash", GLM),
    ],
)
def test_glm_reads_back_the_calls_its_templates_write(template: str, family: object) -> None:
    calls = [("get_weather", {"city": "Paris", "days": 3, "hours": [9, 12]}), ("get_time", {"zone": "CET"})]
    prompt, answer = rendered_calls(template, calls, OPENAI_TOOLS)
    options = ParseOptions(
        parse_tools=True, tools=TOOLS, is_reasoning_open=opens_reasoning(prompt, GLM.reasoning_markers)
    )
    message = assert_streams_like_whole(answer, family, options)  # type: ignore[arg-type]
    assert message.tool_calls and message.reasoning == ""
    assert summary(message)[2] == [
        ("get_weather", '{"city": "Paris", "days": 3, "hours": [9, 12]}'),
        ("get_time", '{"zone": "CET"}'),
    ]


def test_glm_single_call() -> None:
    assert summary(assert_streams_like_whole(WEATHER_CALL, GLM, TYPED)) == ("", "", [WEATHER])


def test_glm_parallel_calls_compact_or_not() -> None:
    compact = WEATHER_CALL.replace("\n", "") + TIME_CALL.replace("\n", "")
    for text in (f"{WEATHER_CALL}\n{TIME_CALL}", compact):
        assert summary(assert_streams_like_whole(text, GLM_4_7, TYPED)) == ("", "", [WEATHER, TIME])


def test_glm_thinking_then_text_then_call() -> None:
    text = f"<think>The user wants the weather.</think>\nI will look it up.\n{WEATHER_CALL}"
    message = assert_streams_like_whole(text, GLM, TYPED)
    assert summary(message) == ("The user wants the weather.", "I will look it up.", [WEATHER])


def test_glm_values_take_their_schema_types() -> None:
    text = call("get_weather", ("city", "42"), ("metric", "true"), ("hours", "[9, 12]"), ("note", "null"))
    arguments = '{"city": "42", "metric": true, "hours": [9, 12], "note": null}'
    assert summary(assert_streams_like_whole(text, GLM, TYPED))[2] == [("get_weather", arguments)]


def test_glm_value_that_is_not_its_type_stays_text() -> None:
    text = call("get_weather", ("city", "Paris"), ("days", "three"))
    assert summary(assert_streams_like_whole(text, GLM, TYPED))[2] == [
        ("get_weather", '{"city": "Paris", "days": "three"}')
    ]


def test_glm_string_keeps_its_newlines_exactly() -> None:
    text = call("get_time", ("zone", "\nline one\n"))
    assert summary(assert_streams_like_whole(text, GLM, TYPED))[2] == [
        ("get_time", '{"zone": "\\nline one\\n"}')
    ]


def test_glm_call_without_arguments() -> None:
    for text in ("<tool_call>get_time\n</tool_call>", "<tool_call>get_time</tool_call>"):
        assert summary(assert_streams_like_whole(text, GLM, TYPED))[2] == [("get_time", "{}")]


def test_glm_hermes_style_json_is_content() -> None:
    text = '<tool_call>\n{"name": "get_time", "arguments": {}}\n</tool_call>'
    assert summary(assert_streams_like_whole(text, GLM, TYPED)) == ("", text, [])


def test_glm_call_cut_off_keeps_its_arguments_so_far() -> None:
    text = (
        call("get_weather", ("days", "3")).removesuffix("</tool_call>")
        + "<arg_key>city</arg_key>\n<arg_value>Par"
    )
    message = assert_streams_like_whole(text, GLM, TYPED)
    assert summary(message)[2] == [("get_weather", '{"days": 3, "city": "Par')]
    assert not message.tool_calls[0].is_complete


def test_glm_calls_without_tools_are_content() -> None:
    assert summary(assert_streams_like_whole(WEATHER_CALL, GLM, ParseOptions())) == ("", WEATHER_CALL, [])


def test_glm_string_value_streams_as_it_arrives() -> None:
    stream = MessageStream(GLM, TYPED)
    assert stream.feed("<tool_call>get_weather\n<arg_key>ci").is_empty
    assert stream.feed("ty</arg_key>\n<arg_value>Par").tool_calls[0].arguments == '{"city": "Par'
    assert stream.feed("is</arg_").tool_calls[0].arguments == "is"
    assert stream.feed("value>\n</tool_call>").tool_calls[0].arguments == '"}'


def test_glm_grammar_keeps_a_string_enum_to_its_choices() -> None:
    unit = ToolSpec(
        "set_unit", {"type": "object", "properties": {"unit": {"enum": ["C", "F"]}, "x": {"const": "y"}}}
    )
    grammar = call_grammar([unit], False)
    assert '"<arg_key>unit</arg_key>\\n<arg_value>" ( "C" | "F" ) "</arg_value>\\n"' in grammar
    assert '( "y" )' in grammar
    assert_constraints_parse(GLM, [unit])


def test_glm_grammars_parse_in_llama_cpp() -> None:
    assert_constraints_parse(GLM, TOOLS)
    assert_constraints_parse(GLM_4_7, TOOLS)


def test_glm_grammar_writes_what_the_template_writes() -> None:
    grammar = call_grammar(TOOLS, True)
    assert '"<tool_call>" ( "get_weather\\n" ( "<arg_key>city</arg_key>\\n<arg_value>" glm-text-0' in grammar
    assert '( "<arg_key>days</arg_key>\\n<arg_value>" integer "</arg_value>\\n" )?' in grammar
    assert 'root ::= call ( "\\n" call )*' in grammar
    compact = call_grammar(TOOLS, True, is_compact=True)
    assert '"get_weather" ( "<arg_key>city</arg_key><arg_value>" glm-text-0 "</arg_value>" )' in compact
    assert "root ::= call+" in compact


ANSWERS = [
    f"<think>Two calls.</think>\nChecking.\n{WEATHER_CALL}\n{TIME_CALL}",
    call("get_weather", ("city", 'a "quoted" </arg_valu value'), ("hours", "[1, 2]"), ("metric", "maybe")),
    "<tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>Paris</arg_value>\noops</tool_call>",
    "Plain <tool_ text with <arg_key> and </tool_call> in it",
]


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(ANSWERS), st.sets(st.integers(min_value=1, max_value=300), max_size=40))
def test_glm_any_split_streams_like_whole(text: str, cuts: set[int]) -> None:
    bounds = [0, *sorted(cut for cut in cuts if cut < len(text)), len(text)]
    pieces = [text[start:end] for start, end in itertools.pairwise(bounds)]
    whole = parse_whole(text, GLM, TYPED)
    assert summary(parse_streamed(pieces, GLM, TYPED)) == summary(whole)
