"""Anthropic's Messages API end to end with the anthropic SDK: text, streams, stop sequences, forced
tool_use, tool results, thinking blocks, count_tokens, x-api-key and Anthropic's error envelope."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx
import openai
import pytest

from .conftest import BASE_MODEL
from .model_servers import RunningServer, start_server, stop
from .test_reasoning import THINK_THEN_ANSWER
from .test_responses import CITY_RANK

WEATHER = {
    "name": "get_weather",
    "description": "Current weather in a city",
    "input_schema": {
        "type": "object",
        "properties": {"city": {"type": "string", "enum": ["Paris", "Tokyo", "Lima"]}},
        "required": ["city"],
        "additionalProperties": False,
    },
}
ASK = [{"role": "user", "content": "What is the weather in Paris?"}]
# tool_choice "any" with parallel calls off: exactly one call, constrained to the tool's schema.
ONE_FORCED_CALL: dict[str, Any] = dict(
    model="qwen-tools",
    max_tokens=60,
    messages=ASK,
    tools=[WEATHER],
    tool_choice={"type": "any", "disable_parallel_tool_use": True},
    extra_body={"temperature": 0},
)


@pytest.fixture(scope="module")
def claude(server: RunningServer) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=server.base_url, api_key="unused", max_retries=0)


@pytest.fixture(scope="module")
def tools_claude(tool_server: RunningServer) -> anthropic.Anthropic:
    return anthropic.Anthropic(base_url=tool_server.base_url, api_key="unused", max_retries=0)


def _collapsed(types: list[str]) -> list[str]:
    collapsed: list[str] = []
    for kind in types:
        if not (kind == "content_block_delta" and collapsed and collapsed[-1] == kind):
            collapsed.append(kind)
    return collapsed


def test_text_message_shape(claude: anthropic.Anthropic, client: openai.OpenAI) -> None:
    message = claude.messages.create(
        model=BASE_MODEL,
        max_tokens=8,
        system="You are terse.",
        messages=[{"role": "user", "content": "The capital of France is"}],
        extra_body={"temperature": 0},
    )
    assert message.id.startswith("msg_") and message.type == "message" and message.role == "assistant"
    assert message.model == BASE_MODEL
    (block,) = message.content
    assert block.type == "text" and block.text
    assert 0 < message.usage.output_tokens <= 8 and message.usage.input_tokens > 0
    # The same conversation through chat completions ends the same way, for the same reason.
    chat = client.chat.completions.create(
        model=BASE_MODEL,
        max_tokens=8,
        messages=[
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "The capital of France is"},
        ],
        temperature=0,
    )
    assert block.text == chat.choices[0].message.content
    assert message.stop_reason == {"length": "max_tokens", "stop": "end_turn"}[chat.choices[0].finish_reason]
    assert message.stop_sequence is None


def test_stop_sequence_is_reported(claude: anthropic.Anthropic) -> None:
    # Constrained to write a sentence ending in a full stop: the client's stop sequence must end it.
    message = claude.messages.create(
        model=BASE_MODEL,
        max_tokens=30,
        messages=[{"role": "user", "content": "Say something."}],
        stop_sequences=["."],
        extra_body={"grammar": 'root ::= [A-Z] [a-z]{2,8} " " [a-z]{2,8} "." [a-z ]*'},
    )
    assert message.stop_reason == "stop_sequence" and message.stop_sequence == "."
    assert "." not in message.content[0].text


def test_stream_event_sequence_and_final_message(claude: anthropic.Anthropic) -> None:
    request: dict[str, Any] = dict(
        model=BASE_MODEL,
        max_tokens=10,
        messages=[{"role": "user", "content": "Once upon a time"}],
        extra_body={"temperature": 0},
    )
    with claude.messages.stream(**request) as stream:
        events = [
            event for event in stream if event.type not in ("text", "input_json", "thinking", "signature")
        ]
        final = stream.get_final_message()
    assert _collapsed([event.type for event in events]) == [
        "message_start",
        "content_block_start",
        "content_block_delta",
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    start = events[0].message
    assert start.content == [] and start.stop_reason is None and start.usage.input_tokens > 0
    streamed = "".join(e.delta.text for e in events if e.type == "content_block_delta")
    whole = claude.messages.create(**request)
    assert streamed == final.content[0].text == whole.content[0].text
    delta = events[-2]
    assert delta.delta.stop_reason == final.stop_reason == whole.stop_reason
    assert delta.usage.output_tokens == whole.usage.output_tokens


def test_count_tokens_is_the_prompt_of_create(claude: anthropic.Anthropic) -> None:
    request: dict[str, Any] = dict(
        model=BASE_MODEL, system="Be brief.", messages=[{"role": "user", "content": "How are you?"}]
    )
    counted = claude.messages.count_tokens(**request)
    message = claude.messages.create(**request, max_tokens=2)
    assert counted.input_tokens == message.usage.input_tokens > 0


def test_forced_tool_use(tools_claude: anthropic.Anthropic) -> None:
    message = tools_claude.messages.create(
        model="qwen-tools",
        max_tokens=60,
        messages=ASK,
        tools=[WEATHER, {"type": "web_search_20250305", "name": "web_search"}],
        tool_choice={"type": "tool", "name": "get_weather", "disable_parallel_tool_use": True},
        extra_body={"temperature": 0},
    )
    assert message.stop_reason == "tool_use"
    (call,) = [block for block in message.content if block.type == "tool_use"]
    assert call.id.startswith("toolu_") and call.name == "get_weather"
    assert call.input["city"] in ("Paris", "Tokyo", "Lima")


def test_streamed_tool_use_matches_the_whole_one(tools_claude: anthropic.Anthropic) -> None:
    whole = tools_claude.messages.create(**ONE_FORCED_CALL)
    with tools_claude.messages.stream(**ONE_FORCED_CALL) as stream:
        events = list(stream)
        final = stream.get_final_message()
    raw = [e for e in events if e.type.startswith(("message_", "content_block_"))]
    start = next(e for e in raw if e.type == "content_block_start")
    assert start.content_block.type == "tool_use" and start.content_block.input == {}
    partial = "".join(e.delta.partial_json for e in raw if e.type == "content_block_delta")
    (whole_call,) = whole.content
    (final_call,) = final.content
    assert json.loads(partial) == final_call.input == whole_call.input
    assert final.stop_reason == "tool_use"


def test_tool_result_continues_the_conversation(
    tools_claude: anthropic.Anthropic, tool_server: RunningServer
) -> None:
    first = tools_claude.messages.create(**ONE_FORCED_CALL)
    call = first.content[-1]
    conversation: list[dict[str, Any]] = [
        *ASK,
        {"role": "assistant", "content": [block.model_dump(exclude_none=True) for block in first.content]},
        {
            "role": "user",
            "content": [{"type": "tool_result", "tool_use_id": call.id, "content": "Sunny, 24 C"}],
        },
    ]
    answer = tools_claude.messages.create(
        model="qwen-tools",
        max_tokens=8,
        messages=conversation,
        tools=[WEATHER],
        extra_body={"temperature": 0},
    )
    assert answer.content and answer.stop_reason in ("end_turn", "max_tokens")
    # The model saw exactly the chat conversation of call, result and question.
    rendered = httpx.post(
        f"{tool_server.base_url}/v1/chat/render",
        json={
            "model": "qwen-tools",
            "messages": [
                *ASK,
                {
                    "role": "assistant",
                    "tool_calls": [
                        {
                            "id": call.id,
                            "type": "function",
                            "function": {"name": call.name, "arguments": json.dumps(call.input)},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": call.id, "content": "Sunny, 24 C"},
            ],
            "tools": [
                {
                    "type": "function",
                    "function": {
                        "name": WEATHER["name"],
                        "description": WEATHER["description"],
                        "parameters": WEATHER["input_schema"],
                    },
                }
            ],
        },
        timeout=60,
    ).json()
    assert answer.usage.input_tokens == rendered["num_tokens"]


def test_thinking_block(tools_claude: anthropic.Anthropic) -> None:
    request: dict[str, Any] = dict(
        model="qwen3-tools",
        max_tokens=60,
        messages=[{"role": "user", "content": "Is the sky blue?"}],
        thinking={"type": "enabled", "budget_tokens": 1024},
        extra_body={"grammar": THINK_THEN_ANSWER, "temperature": 0},
    )
    whole = tools_claude.messages.create(**request)
    thinking, text = whole.content
    assert thinking.type == "thinking" and thinking.thinking and "<think>" not in thinking.thinking
    assert text.type == "text" and text.text.endswith(".")
    with tools_claude.messages.stream(**request) as stream:
        streamed = "".join(event.thinking for event in stream if event.type == "thinking")
        final = stream.get_final_message()
    assert streamed == thinking.thinking == final.content[0].thinking


def test_errors_take_anthropic_shape(server: RunningServer) -> None:
    missing_max_tokens = httpx.post(
        f"{server.base_url}/v1/messages", json={"messages": [{"role": "user", "content": "hi"}]}, timeout=30
    )
    assert missing_max_tokens.status_code == 400
    body = missing_max_tokens.json()
    assert body["type"] == "error" and body["error"]["type"] == "invalid_request_error"
    assert "max_tokens" in body["error"]["message"]
    image = httpx.post(
        f"{server.base_url}/v1/messages",
        json={
            "max_tokens": 4,
            "messages": [
                {"role": "user", "content": [{"type": "image", "source": {"type": "url", "url": "x"}}]}
            ],
        },
        timeout=30,
    )
    assert image.status_code == 400 and image.json()["error"]["type"] == "invalid_request_error"
    unknown = httpx.post(
        f"{server.base_url}/v1/messages?model=nope",
        json={"max_tokens": 4, "messages": [{"role": "user", "content": "hi"}]},
        timeout=30,
    )
    assert unknown.status_code == 404 and unknown.json()["error"]["type"] == "not_found_error"


def test_a_wrong_type_is_a_bad_request_that_says_so(claude: anthropic.Anthropic) -> None:
    # (max_tokens as a string would not leave the SDK: it computes a timeout from it. SDK 2.x has no
    # top_k argument any more, hence extra_body.)
    with pytest.raises(anthropic.BadRequestError) as caught:
        claude.messages.create(
            model=BASE_MODEL,
            max_tokens=4,
            messages=[{"role": "user", "content": "hi"}],
            extra_body={"top_k": "2"},
        )
    error = caught.value.body["error"]  # type: ignore[index]
    assert error["type"] == "invalid_request_error"
    assert error["message"] == "Invalid type for 'top_k': expected an integer, but got a string instead."


@pytest.fixture(scope="module")
def keyed_server(base_model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    catalog = (
        f"settings:\n  default_model: {BASE_MODEL}\n"
        f"models:\n  - name: {BASE_MODEL}\n    file: {base_model_path}\n"
    )
    running = start_server(tmp_path_factory.mktemp("keyed"), catalog, {"LOCALCHAT_API_KEY": "sekrit"})
    yield running
    stop(running)


def test_x_api_key_is_accepted_and_checked(keyed_server: RunningServer) -> None:
    good = anthropic.Anthropic(base_url=keyed_server.base_url, api_key="sekrit", max_retries=0)
    message = good.messages.create(
        model=BASE_MODEL, max_tokens=2, messages=[{"role": "user", "content": "hi"}]
    )
    assert message.usage.output_tokens > 0
    bad = anthropic.Anthropic(base_url=keyed_server.base_url, api_key="wrong", max_retries=0)
    with pytest.raises(anthropic.AuthenticationError) as caught:
        bad.messages.create(model=BASE_MODEL, max_tokens=2, messages=[{"role": "user", "content": "hi"}])
    assert caught.value.body["error"]["type"] == "authentication_error"


def test_output_config_format_gives_schema_valid_json(claude: anthropic.Anthropic) -> None:
    message = claude.messages.create(
        model=BASE_MODEL,
        max_tokens=200,
        messages=[{"role": "user", "content": "Name a city and its rank."}],
        output_config={"format": {"type": "json_schema", "schema": CITY_RANK}},
    )
    parsed = json.loads(message.content[0].text)
    assert set(parsed) == {"city", "rank"} and isinstance(parsed["rank"], int)
