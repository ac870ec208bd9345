from __future__ import annotations

from server.formats.chat_format import ToolSpec
from server.formats.families.generic import GENERIC, tool_prompt
from tests.unit.formats.stream_check import assert_streams_like_whole, summary


def test_generic_call_list() -> None:
    text = '{"tool_calls": [{"name": "a", "arguments": {"x": [1, 2]}}, {"name": "b", "arguments": {}}]}'
    assert summary(assert_streams_like_whole(text, GENERIC))[2] == [("a", '{"x": [1, 2]}'), ("b", "{}")]


def test_generic_bare_call_object() -> None:
    text = '{"name": "a", "arguments": {"x": 1}}'
    assert summary(assert_streams_like_whole(text, GENERIC))[2] == [("a", '{"x": 1}')]


def test_generic_openai_shaped_call() -> None:
    text = '{"tool_calls": [{"type": "function", "function": {"name": "a", "arguments": "{\\"x\\": 1}"}}]}'
    assert summary(assert_streams_like_whole(text, GENERIC))[2] == [("a", '{"x": 1}')]


def test_generic_empty_call_list_is_content() -> None:
    text = '{"tool_calls": []}'
    assert summary(assert_streams_like_whole(text, GENERIC)) == ("", text, [])


def test_generic_other_json_is_content() -> None:
    text = '{"response": "It is sunny."}'
    assert summary(assert_streams_like_whole(text, GENERIC)) == ("", text, [])


def test_generic_plain_text() -> None:
    assert summary(assert_streams_like_whole("Sunny, 21 degrees.", GENERIC)) == ("", "Sunny, 21 degrees.", [])


def test_generic_tool_prompt_lists_every_tool_and_the_reply_shape() -> None:
    prompt = tool_prompt([ToolSpec("get_weather", {"type": "object"}, "Weather now"), ToolSpec("f", {})])
    assert '"name": "get_weather"' in prompt and '"name": "f"' in prompt and "Weather now" in prompt
    assert '{"tool_calls": [' in prompt


def test_generic_malformed_call_list_is_all_content() -> None:
    text = '{"tool_calls": [oops]}'
    assert summary(assert_streams_like_whole(text, GENERIC)) == ("", text, [])
