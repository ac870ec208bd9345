from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from server.formats.chat_format import ParseOptions, ToolSpec
from server.formats.families.qwen3_coder import QWEN3_CODER, call_grammar
from server.formats.parser import MessageStream
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
        "where": {"type": "object"},
        "note": {"type": ["string", "null"]},
    },
    "required": ["city"],
}
TOOLS = (
    ToolSpec("get_weather", WEATHER_SCHEMA),
    ToolSpec("get_time", {"type": "object", "properties": {"zone": {"type": "string"}}}),
)
TYPED = ParseOptions(parse_tools=True, tools=TOOLS)


def call(name: str, *parameters: tuple[str, str]) -> str:
    """A call as the template renders one (and the model writes it)."""
    body = "".join(f"<parameter={key}>\n{value}\n</parameter>\n" for key, value in parameters)
    return f"<tool_call>\n<function={name}>\n{body}</function>\n</tool_call>"


WEATHER_CALL = call("get_weather", ("city", "Paris"), ("days", "3"))
WEATHER = ("get_weather", '{"city": "Paris", "days": 3}')
TIME_CALL = call("get_time", ("zone", "CET"))
TIME = ("get_time", '{"zone": "CET"}')


def test_qwen3_coder_single_call() -> None:
    assert summary(assert_streams_like_whole(WEATHER_CALL, QWEN3_CODER, TYPED)) == ("", "", [WEATHER])


def test_qwen3_coder_parallel_calls() -> None:
    text = f"{WEATHER_CALL}\n{TIME_CALL}"
    assert summary(assert_streams_like_whole(text, QWEN3_CODER, TYPED)) == ("", "", [WEATHER, TIME])


def test_qwen3_coder_text_then_call() -> None:
    text = f"I will look it up.\n\n{WEATHER_CALL}"
    message = assert_streams_like_whole(text, QWEN3_CODER, TYPED)
    assert summary(message) == ("", "I will look it up.", [WEATHER])


def test_qwen3_coder_thinking_then_call() -> None:
    text = f"<think>\nThe user wants the weather.\n</think>\n\n{WEATHER_CALL}"
    message = assert_streams_like_whole(text, QWEN3_CODER, TYPED)
    assert summary(message) == ("The user wants the weather.", "", [WEATHER])


def test_qwen3_coder_thinking_the_prompt_opened() -> None:
    options = ParseOptions(parse_tools=True, is_reasoning_open=True, tools=TOOLS)
    text = f"The user wants the weather.\n</think>\n\n{WEATHER_CALL}"
    message = assert_streams_like_whole(text, QWEN3_CODER, options)
    assert summary(message) == ("The user wants the weather.", "", [WEATHER])


def test_qwen3_coder_values_take_their_schema_types() -> None:
    text = call(
        "get_weather",
        ("city", "42"),
        ("metric", "true"),
        ("hours", "[9, 12]"),
        ("where", '{"lat": 48.8}'),
        ("note", "null"),
    )
    arguments = '{"city": "42", "metric": true, "hours": [9, 12], "where": {"lat": 48.8}, "note": null}'
    assert summary(assert_streams_like_whole(text, QWEN3_CODER, TYPED))[2] == [("get_weather", arguments)]


def test_qwen3_coder_value_that_is_not_its_type_stays_text() -> None:
    text = call("get_weather", ("city", "Paris"), ("days", "three"), ("note", "7"))
    arguments = '{"city": "Paris", "days": "three", "note": "7"}'
    assert summary(assert_streams_like_whole(text, QWEN3_CODER, TYPED))[2] == [("get_weather", arguments)]


def test_qwen3_coder_python_style_boolean() -> None:
    text = call("get_weather", ("city", "Paris"), ("metric", "True"))
    arguments = '{"city": "Paris", "metric": true}'
    assert summary(assert_streams_like_whole(text, QWEN3_CODER, TYPED))[2] == [("get_weather", arguments)]


def test_qwen3_coder_multiline_string_keeps_its_own_newlines() -> None:
    text = call("get_time", ("zone", "\nline one\n  line two\n"))
    expected = ("get_time", '{"zone": "\\nline one\\n  line two\\n"}')
    assert summary(assert_streams_like_whole(text, QWEN3_CODER, TYPED))[2] == [expected]


def test_qwen3_coder_untyped_value_is_json_when_it_reads_as_json() -> None:
    text = call("get_time", ("zone", "CET"), ("offset", "1"), ("label", "summer time"))
    arguments = '{"zone": "CET", "offset": 1, "label": "summer time"}'
    assert summary(assert_streams_like_whole(text, QWEN3_CODER, TYPED))[2] == [("get_time", arguments)]


def test_qwen3_coder_call_without_parameters() -> None:
    text = "<tool_call>\n<function=get_time>\n</function>\n</tool_call>"
    assert summary(assert_streams_like_whole(text, QWEN3_CODER, TYPED))[2] == [("get_time", "{}")]


def test_qwen3_coder_call_without_tool_call_tag() -> None:
    text = "Checking.\n<function=get_time>\n<parameter=zone>\nCET\n</parameter>\n</function>\n</tool_call>"
    assert summary(assert_streams_like_whole(text, QWEN3_CODER, TYPED)) == ("", "Checking.", [TIME])


def test_qwen3_coder_function_tag_of_an_unknown_tool_is_text() -> None:
    text = "Use <function=lookup> in your code."
    assert summary(assert_streams_like_whole(text, QWEN3_CODER, TYPED)) == ("", text, [])


def test_qwen3_coder_malformed_call_is_content() -> None:
    text = "<tool_call>\n<function=get_weather>\ncity: Paris\n</function>\n</tool_call>"
    assert summary(assert_streams_like_whole(text, QWEN3_CODER, TYPED)) == ("", text, [])


def test_qwen3_coder_call_cut_off_keeps_its_arguments_so_far() -> None:
    text = "<tool_call>\n<function=get_weather>\n<parameter=days>\n3\n</parameter>\n<parameter=city>\nPar"
    message = assert_streams_like_whole(text, QWEN3_CODER, TYPED)
    assert summary(message)[2] == [("get_weather", '{"days": 3, "city": "Par')]
    assert not message.tool_calls[0].is_complete


def test_qwen3_coder_call_without_tools_is_content() -> None:
    message = assert_streams_like_whole(WEATHER_CALL, QWEN3_CODER, ParseOptions())
    assert summary(message) == ("", WEATHER_CALL, [])


def test_qwen3_coder_plain_text() -> None:
    text = "Use `<tool>` and <b>bold</b> freely."
    assert summary(assert_streams_like_whole(text, QWEN3_CODER, TYPED)) == ("", text, [])


def test_qwen3_coder_string_value_streams_as_it_arrives() -> None:
    stream = MessageStream(QWEN3_CODER, TYPED)
    assert stream.feed("<tool_call>\n<function=get_weather>\n<parameter=ci").is_empty
    assert stream.feed("ty>\nPar").tool_calls[0].arguments == '{"city": "Par'
    assert stream.feed("is\n</param").tool_calls[0].arguments == "is"  # the newline may be the format's
    assert stream.feed("eter>\n<parameter=days>\n3\n</parameter>\n</function>").tool_calls[0].arguments == (
        '", "days": 3}'
    )


def test_qwen3_coder_other_values_stream_once_whole() -> None:
    stream = MessageStream(QWEN3_CODER, TYPED)
    delta = stream.feed("<tool_call>\n<function=get_weather>\n<parameter=days>\n1")
    assert delta.tool_calls[0].arguments == "{"
    assert stream.feed("2\n</param").is_empty
    assert stream.feed("eter>\n").tool_calls[0].arguments == '"days": 12'


def test_qwen3_coder_grammar_parses_in_llama_cpp() -> None:
    assert_constraints_parse(QWEN3_CODER, TOOLS)


def test_qwen3_coder_grammar_writes_the_xml_with_typed_values() -> None:
    grammar = call_grammar(TOOLS, True)
    assert '"<tool_call>\\n" ( "<function=get_weather>\\n" ( "<parameter=city>\\n" xml-text-0' in grammar
    assert '( "<parameter=days>\\n" integer "\\n</parameter>\\n" )?' in grammar
    assert '"<parameter=note>\\n" xml-text-0' in grammar  # a value that may be a string is raw text
    assert 'xml-text-11 ::= ( "<" xml-text-1 | [^<>] xml-text-0 )?' in grammar  # no "</parameter>" in text
    assert 'root ::= call ( "\\n" call )*' in grammar


ANSWERS = [
    f"<think>\nTwo calls.\n</think>\n\nChecking.\n{WEATHER_CALL}\n{TIME_CALL}",
    call("get_weather", ("city", 'a "quoted" </par\\u00e9 value'), ("hours", "[1, 2]"), ("metric", "maybe")),
    "<tool_call>\n<function=get_weather>\n<parameter=city>\nParis\n</parameter>\noops</function>",
    "Plain <tool_ text with <function=get_time and </parameter> in it",
]


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(ANSWERS), st.sets(st.integers(min_value=1, max_value=300), max_size=40))
def test_qwen3_coder_any_split_streams_like_whole(text: str, cuts: set[int]) -> None:
    bounds = [0, *sorted(cut for cut in cuts if cut < len(text)), len(text)]
    pieces = [text[start:end] for start, end in itertools.pairwise(bounds)]
    whole = parse_whole(text, QWEN3_CODER, TYPED)
    assert summary(parse_streamed(pieces, QWEN3_CODER, TYPED)) == summary(whole)
