"""Anthropic Messages requests in the internal chat shape, and stop reasons back (pure logic)."""

from __future__ import annotations

from typing import Any

import pytest

from server.pipeline.tools import arguments_object
from server.protocols.anthropic.input import chat_request
from server.protocols.anthropic.output import stop_reason
from server.protocols.anthropic.wire import MessagesRequest
from server.service.errors import APIError


def _request(messages: list[dict[str, Any]], **fields: Any) -> MessagesRequest:
    return MessagesRequest.model_validate({"max_tokens": 8, "messages": messages, **fields})


def test_blocks_become_chat_turns() -> None:
    body = _request(
        [
            {"role": "user", "content": "Weather in Lima?"},
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "thinking": "Use the tool.", "signature": ""},
                    {"type": "text", "text": "Checking."},
                    {"type": "tool_use", "id": "toolu_1", "name": "weather", "input": {"city": "Lima"}},
                ],
            },
            {
                "role": "user",
                "content": [
                    {
                        "type": "tool_result",
                        "tool_use_id": "toolu_1",
                        "content": [{"type": "text", "text": "Sunny"}],
                    },
                    {"type": "text", "text": "Thanks."},
                ],
            },
        ],
        system=[{"type": "text", "text": "Be brief."}],
        stop_sequences=["END"],
        tools=[
            {"name": "weather", "input_schema": {"type": "object"}},
            {"type": "bash_20250124", "name": "bash"},
        ],
        tool_choice={"type": "any", "disable_parallel_tool_use": True},
        thinking={"type": "disabled"},
    )
    chat = chat_request(body)
    messages = [message.model_dump(exclude_none=True) for message in chat.messages]
    assert messages == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather in Lima?"},
        {
            "role": "assistant",
            "content": "Checking.",
            "reasoning_content": "Use the tool.",
            "tool_calls": [
                {
                    "id": "toolu_1",
                    "type": "function",
                    "function": {"name": "weather", "arguments": '{"city": "Lima"}'},
                }
            ],
        },
        {"role": "tool", "content": "Sunny", "tool_call_id": "toolu_1", "name": "weather"},
        {"role": "user", "content": "Thanks."},
    ]
    assert [tool.function.name for tool in chat.tools or []] == ["weather"]  # the server tool is dropped
    assert chat.tool_choice == "required" and chat.parallel_tool_calls is False
    assert chat.stop == ["END"] and chat.max_tokens == 8
    assert chat.chat_template_kwargs == {"enable_thinking": False}


@pytest.mark.parametrize(
    ("messages", "param"),
    [
        ([{"role": "user", "content": [{"type": "image", "source": {}}]}], "messages.0.content.0.type"),
        ([{"role": "user", "content": [{"type": {"x": 1}}]}], "messages.0.content.0.type"),
        (
            [{"role": "user", "content": [{"type": "tool_use", "id": "t", "name": "x"}]}],
            "messages.0.content.0.type",
        ),
        (
            [{"role": "assistant", "content": [{"type": "tool_use", "id": "t", "input": {}}]}],
            "messages.0.content.0.name",
        ),
        ([{"role": "user", "content": [{"type": "text", "text": 3}]}], "messages.0.content.0.text"),
    ],
)
def test_bad_blocks_name_where_they_are(messages: list[dict[str, Any]], param: str) -> None:
    with pytest.raises(APIError) as caught:
        chat_request(_request(messages))
    assert caught.value.status == 400 and caught.value.param == param


def test_stop_reasons() -> None:
    assert stop_reason("tool_calls", None, ()) == ("tool_use", None)
    assert stop_reason("length", None, ()) == ("max_tokens", None)
    assert stop_reason("stop", "END", ("END",)) == ("stop_sequence", "END")
    # The template's own stop (the end-of-turn marker) is a plain end of turn.
    assert stop_reason("stop", "<end_of_turn>", ("END",)) == ("end_turn", None)
    assert stop_reason("stop", None, ()) == ("end_turn", None)


def test_tool_arguments_are_always_an_object() -> None:
    assert arguments_object('{"a": 1}') == {"a": 1}
    assert arguments_object("") == {}
    assert arguments_object("[1, 2]") == {"value": [1, 2]}
    assert arguments_object("{broken") == {}
