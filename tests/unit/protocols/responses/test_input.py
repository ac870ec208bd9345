"""Responses input items in the internal chat shape (pure translation, no model)."""

from __future__ import annotations

from typing import Any

import pytest

from server.protocols.responses.input import chat_messages, chat_request, input_items
from server.protocols.responses.wire import ResponseRequest
from server.service.errors import APIError


def _request(**fields: Any) -> ResponseRequest:
    return ResponseRequest.model_validate({"input": "hi", **fields})


def test_string_input_is_one_user_message() -> None:
    (item,) = input_items(_request(input="Hello"))
    assert item["role"] == "user" and item["content"] == [{"type": "input_text", "text": "Hello"}]
    assert item["id"].startswith("msg_")
    assert chat_messages([item], "Be brief.") == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hello"},
    ]


def test_calls_join_their_assistant_turn_and_outputs_become_tool_messages() -> None:
    items = input_items(
        _request(
            input=[
                {"role": "user", "content": [{"type": "input_text", "text": "Weather?"}]},
                {
                    "type": "reasoning",
                    "summary": [],
                    "content": [{"type": "reasoning_text", "text": "Look it up."}],
                },
                {
                    "type": "message",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": "Checking."}],
                },
                {
                    "type": "function_call",
                    "call_id": "c1",
                    "name": "weather",
                    "arguments": '{"city": "Lima"}',
                },
                {"type": "function_call", "call_id": "c2", "name": "time", "arguments": "{}"},
                {"type": "function_call_output", "call_id": "c1", "output": "Sunny"},
                {"type": "web_search_call", "id": "ws_1"},
            ]
        )
    )
    assert [item["type"] for item in items][-1] == "function_call_output"  # the hosted call is dropped
    messages = chat_messages(items, None)
    assert messages == [
        {"role": "user", "content": "Weather?"},
        {
            "role": "assistant",
            "content": "Checking.",
            "reasoning_content": "Look it up.",
            "tool_calls": [
                {
                    "id": "c1",
                    "type": "function",
                    "function": {"name": "weather", "arguments": '{"city": "Lima"}'},
                },
                {"id": "c2", "type": "function", "function": {"name": "time", "arguments": "{}"}},
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "Sunny", "name": "weather"},
    ]


def test_tools_choice_and_format_translate() -> None:
    body = _request(
        tools=[
            {"type": "function", "name": "weather", "parameters": {"type": "object", "properties": {}}},
            {"type": "web_search"},
        ],
        tool_choice={"type": "function", "name": "weather"},
        text={"format": {"type": "json_schema", "name": "x", "schema": {"type": "object"}}},
        max_output_tokens=12,
        reasoning={"effort": "low"},
    )
    chat = chat_request(body, input_items(body))
    assert [tool.function.name for tool in chat.tools or []] == ["weather"]
    assert chat.tool_choice is not None and chat.tool_choice.function.name == "weather"  # type: ignore[union-attr]
    assert chat.response_format is not None and chat.response_format.json_schema is not None
    assert chat.response_format.json_schema.schema_ == {"type": "object"}
    assert chat.max_completion_tokens == 12 and chat.reasoning_effort == "low"


@pytest.mark.parametrize(
    ("items", "param"),
    [
        ([{"role": "user", "content": [{"type": "input_file", "file_id": "f"}]}], "input.0.content.0"),
        ([{"role": "user", "content": 5}], "input.0.content"),
        ([{"type": "function_call", "call_id": "c", "arguments": "{}"}], "input.0.name"),
        ([{"type": "item_reference", "id": "x"}], "input.0.type"),
        ([{"content": "no role or type"}], "input.0.type"),
    ],
)
def test_bad_items_name_where_they_are(items: list[dict[str, Any]], param: str) -> None:
    with pytest.raises(APIError) as caught:
        input_items(_request(input=items))
    assert caught.value.status == 400 and caught.value.param == param


def test_invalid_tool_name_is_a_400_naming_the_tool() -> None:
    body = _request(tools=[{"type": "function", "name": "has space"}])
    with pytest.raises(APIError) as caught:
        chat_request(body, input_items(body))
    assert caught.value.status == 400 and caught.value.param == "tools.0.function.name"


def test_a_type_that_is_not_a_string_is_a_400() -> None:
    with pytest.raises(APIError) as caught:
        input_items(_request(input=[{"type": {"not": "hashable"}}]))
    assert caught.value.status == 400 and caught.value.param == "input.0.type"
