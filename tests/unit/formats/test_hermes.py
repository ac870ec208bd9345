from __future__ import annotations

from server.formats.families.hermes import HERMES
from tests.unit.formats.stream_check import assert_streams_like_whole, summary

CALL = '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris"}}\n</tool_call>'


def test_hermes_single_call() -> None:
    message = assert_streams_like_whole(CALL, HERMES)
    assert summary(message) == ("", "", [("get_weather", '{"city": "Paris"}')])


def test_hermes_parallel_calls() -> None:
    text = CALL + '\n<tool_call>\n{"name": "get_time", "arguments": {"zone": "CET"}}\n</tool_call>'
    message = assert_streams_like_whole(text, HERMES)
    assert [call.name for call in message.tool_calls] == ["get_weather", "get_time"]
    assert message.tool_calls[1].arguments == '{"zone": "CET"}'


def test_hermes_text_before_and_after_a_call_is_content() -> None:
    message = assert_streams_like_whole(f"Let me check.\n{CALL}\nOne moment.", HERMES)
    assert message.content == "Let me check.\n\nOne moment."
    assert len(message.tool_calls) == 1


def test_hermes_thinking_then_call() -> None:
    message = assert_streams_like_whole(f"<think>\nThe user wants weather.\n</think>\n\n{CALL}", HERMES)
    assert summary(message) == ("The user wants weather.", "", [("get_weather", '{"city": "Paris"}')])


def test_hermes_malformed_call_is_content() -> None:
    text = "Sure <tool_call>\nnot json at all\n</tool_call>"
    message = assert_streams_like_whole(text, HERMES)
    assert message.tool_calls == []
    assert message.content == text


def test_hermes_call_without_name_is_content() -> None:
    text = '<tool_call>\n{"arguments": {"city": "Paris"}}\n</tool_call>'
    message = assert_streams_like_whole(text, HERMES)
    assert (message.content, message.tool_calls) == (text, [])


def test_hermes_arguments_as_json_string_are_decoded() -> None:
    text = '<tool_call>\n{"name": "f", "arguments": "{\\"a\\": 1}"}\n</tool_call>'
    assert summary(assert_streams_like_whole(text, HERMES))[2] == [("f", '{"a": 1}')]


def test_hermes_name_after_arguments() -> None:
    text = '<tool_call>\n{"arguments": {"a": [1, {"b": "}"}]}, "name": "f"}\n</tool_call>'
    assert summary(assert_streams_like_whole(text, HERMES))[2] == [("f", '{"a": [1, {"b": "}"}]}')]


def test_hermes_stray_brace_before_closer_is_tolerated() -> None:
    text = '<tool_call>\n{"name": "f", "arguments": {}}}\n</tool_call>'
    message = assert_streams_like_whole(text, HERMES)
    assert summary(message) == ("", "", [("f", "{}")])


def test_hermes_call_cut_off_keeps_its_arguments_so_far() -> None:
    text = '<tool_call>\n{"name": "f", "arguments": {"text": "hel'
    message = assert_streams_like_whole(text, HERMES)
    assert summary(message)[2] == [("f", '{"text": "hel')]
    assert not message.tool_calls[0].is_complete


def test_hermes_plain_text() -> None:
    message = assert_streams_like_whole("The weather is <b>fine</b> today.", HERMES)
    assert summary(message) == ("", "The weather is <b>fine</b> today.", [])


def test_hermes_partial_opener_is_held_back_until_it_is_not_one() -> None:
    from server.formats.parser import MessageStream
    from tests.unit.formats.stream_check import TOOLS_ON

    stream = MessageStream(HERMES, TOOLS_ON)
    assert stream.feed("Hi <tool_").content == "Hi"
    assert stream.feed("box>").content == " <tool_box>"
