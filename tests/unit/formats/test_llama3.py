from __future__ import annotations

from server.formats.families.llama3 import LLAMA3
from tests.unit.formats.stream_check import assert_streams_like_whole, summary


def test_llama3_single_call() -> None:
    text = '{"name": "get_weather", "parameters": {"city": "Paris"}}'
    assert summary(assert_streams_like_whole(text, LLAMA3)) == (
        "",
        "",
        [("get_weather", '{"city": "Paris"}')],
    )


def test_llama3_type_function_key_is_ignored() -> None:
    text = '{"type": "function", "name": "f", "parameters": {"x": 1}}'
    assert summary(assert_streams_like_whole(text, LLAMA3))[2] == [("f", '{"x": 1}')]


def test_llama3_python_tag_call() -> None:
    text = '<|python_tag|>{"name": "f", "parameters": {}}'
    assert summary(assert_streams_like_whole(text, LLAMA3))[2] == [("f", "{}")]


def test_llama3_parallel_calls_joined_by_semicolons() -> None:
    text = '{"name": "a", "parameters": {"x": 1}}; {"name": "b", "parameters": {"y": 2}}'
    assert summary(assert_streams_like_whole(text, LLAMA3))[2] == [("a", '{"x": 1}'), ("b", '{"y": 2}')]


def test_llama3_json_that_is_not_a_call_is_content() -> None:
    text = '{"answer": 42}'
    assert summary(assert_streams_like_whole(text, LLAMA3)) == ("", text, [])


def test_llama3_call_in_the_middle_of_text_is_content() -> None:
    text = 'You could call {"name": "f", "parameters": {}} yourself.'
    assert summary(assert_streams_like_whole(text, LLAMA3)) == ("", text, [])


def test_llama3_plain_text() -> None:
    assert summary(assert_streams_like_whole("Hello there!", LLAMA3)) == ("", "Hello there!", [])
