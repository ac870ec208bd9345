"""The Responses API end to end with openai-python: text, streams, json_schema, forced function calls,
reasoning items, and stored responses continuing a conversation across a server restart."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from .conftest import BASE_MODEL
from .model_servers import start_server, stop
from .test_reasoning import THINK_THEN_ANSWER

WEATHER = {
    "type": "function",
    "name": "get_weather",
    "description": "Current weather in a city",
    "parameters": {
        "type": "object",
        "properties": {"city": {"type": "string", "enum": ["Paris", "Tokyo", "Lima"]}},
        "required": ["city"],
        "additionalProperties": False,
    },
}
# A JSON schema small enough for a 270M model to fill within a few dozen tokens.
CITY_RANK = {
    "type": "object",
    "properties": {"city": {"type": "string", "maxLength": 12}, "rank": {"type": "integer"}},
    "required": ["city", "rank"],
    "additionalProperties": False,
}
TEXT_EVENTS = [
    "response.created",
    "response.in_progress",
    "response.output_item.added",
    "response.content_part.added",
    "response.output_text.delta",
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
]


def _collapsed(types: list[str]) -> list[str]:
    """Event types with runs of the same delta type counted once."""
    collapsed: list[str] = []
    for kind in types:
        if not (kind.endswith(".delta") and collapsed and collapsed[-1] == kind):
            collapsed.append(kind)
    return collapsed


def test_text_response_shape(client: openai.OpenAI) -> None:
    response = client.responses.create(
        model=BASE_MODEL, input="The capital of France is", max_output_tokens=8, temperature=0
    )
    assert response.id.startswith("resp_") and response.object == "response"
    assert response.model == BASE_MODEL
    (message,) = response.output
    assert message.type == "message" and message.role == "assistant" and message.id.startswith("msg_")
    assert message.content[0].type == "output_text" and message.content[0].text == response.output_text
    assert response.output_text
    usage = response.usage
    assert usage.input_tokens > 0 and 0 < usage.output_tokens <= 8
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens
    assert usage.input_tokens_details.cached_tokens >= 0
    # The same request through chat completions ends the same way, for the same reason.
    chat = client.chat.completions.create(
        model=BASE_MODEL,
        messages=[{"role": "user", "content": "The capital of France is"}],
        max_tokens=8,
        temperature=0,
    )
    assert response.output_text == chat.choices[0].message.content
    if chat.choices[0].finish_reason == "length":
        assert response.status == "incomplete"
        assert response.incomplete_details.reason == "max_output_tokens"
    else:
        assert response.status == "completed" and response.incomplete_details is None


def test_instructions_and_message_items_reach_the_prompt(client: openai.OpenAI) -> None:
    # The same conversation as a string and as items gives the same tokens, so the same greedy answer.
    plain = client.responses.create(model=BASE_MODEL, input="Hello there", max_output_tokens=6, temperature=0)
    items = client.responses.create(
        model=BASE_MODEL,
        input=[
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "Hello there"}]}
        ],
        max_output_tokens=6,
        temperature=0,
    )
    assert items.output_text == plain.output_text
    instructed = client.responses.create(
        model=BASE_MODEL,
        instructions="Answer in French.",
        input="Hello there",
        max_output_tokens=6,
        temperature=0,
    )
    assert instructed.instructions == "Answer in French."
    assert instructed.usage.input_tokens > plain.usage.input_tokens


def test_stream_event_sequence(client: openai.OpenAI) -> None:
    stream = client.responses.create(
        model=BASE_MODEL, input="Once upon a time", max_output_tokens=10, temperature=0, stream=True
    )
    events = list(stream)
    types = [event.type for event in events]
    assert [event.sequence_number for event in events] == list(range(len(events)))
    assert _collapsed(types[:-1]) == TEXT_EVENTS
    final = events[-1].response
    assert types[-1] == f"response.{final.status}" and final.status in ("completed", "incomplete")
    assert events[0].response.status == "in_progress" and events[0].response.id == final.id
    deltas = "".join(event.delta for event in events if event.type == "response.output_text.delta")
    done = next(event for event in events if event.type == "response.output_text.done")
    assert deltas == done.text == final.output_text
    whole = client.responses.create(
        model=BASE_MODEL, input="Once upon a time", max_output_tokens=10, temperature=0
    )
    assert whole.output_text == final.output_text
    assert final.usage.output_tokens == whole.usage.output_tokens


def test_stream_helper_collects_the_final_response(client: openai.OpenAI) -> None:
    # responses.stream() checks each event against the ones before it (ids, indexes, identities),
    # and wants a "completed" answer: a bounded schema (at most ~110 tokens, escapes included) ends it
    # inside max_output_tokens, where a free JSON object may run on past them.
    with client.responses.stream(
        model=BASE_MODEL,
        input="Name a city and its rank.",
        max_output_tokens=200,
        text={"format": {"type": "json_schema", "name": "city", "schema": CITY_RANK}},
    ) as stream:
        texts = [event.delta for event in stream if event.type == "response.output_text.delta"]
        final = stream.get_final_response()
    assert final.status == "completed"
    assert "".join(texts) == final.output_text
    assert set(json.loads(final.output_text)) == {"city", "rank"}


def test_json_schema_output_matches_the_schema(client: openai.OpenAI) -> None:
    response = client.responses.create(
        model=BASE_MODEL,
        input="Name a city and its rank.",
        max_output_tokens=200,
        text={"format": {"type": "json_schema", "name": "city", "schema": CITY_RANK, "strict": True}},
    )
    parsed = json.loads(response.output_text)
    assert set(parsed) == {"city", "rank"} and isinstance(parsed["rank"], int)
    assert response.text.format.type == "json_schema"
    # The format is echoed as sent, here and when the stored response is read back.
    assert client.responses.retrieve(response.id).text.format.schema_ == CITY_RANK


def test_forced_function_call(tools_client: openai.OpenAI) -> None:
    response = tools_client.responses.create(
        model="qwen-tools",
        input="What is the weather in Paris?",
        tools=[WEATHER, {"type": "web_search_preview"}],
        tool_choice={"type": "function", "name": "get_weather"},
        parallel_tool_calls=False,
        max_output_tokens=60,
        temperature=0,
    )
    (call,) = [item for item in response.output if item.type == "function_call"]
    assert call.name == "get_weather" and call.id.startswith("fc_") and call.call_id
    assert json.loads(call.arguments)["city"] in ("Paris", "Tokyo", "Lima")
    # The hosted tool is dropped, not an error; only the function tool is echoed.
    assert [tool.type for tool in response.tools] == ["function"]


def test_streamed_function_call_matches_the_whole_one(tools_client: openai.OpenAI) -> None:
    request: dict[str, Any] = dict(
        model="qwen-tools",
        input="What is the weather in Tokyo?",
        tools=[WEATHER],
        tool_choice="required",
        parallel_tool_calls=False,
        max_output_tokens=60,
        temperature=0,
    )
    whole = tools_client.responses.create(**request)
    events = list(tools_client.responses.create(**request, stream=True))
    types = _collapsed([event.type for event in events])
    assert types == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    added = events[2].item
    assert added.type == "function_call" and added.arguments == "" and added.name == "get_weather"
    arguments = "".join(e.delta for e in events if e.type == "response.function_call_arguments.delta")
    (whole_call,) = whole.output
    assert arguments == whole_call.arguments == events[-1].response.output[0].arguments


def test_function_output_continues_the_conversation(tools_client: openai.OpenAI) -> None:
    first = tools_client.responses.create(
        model="qwen-tools",
        input="What is the weather in Lima?",
        tools=[WEATHER],
        tool_choice="required",
        parallel_tool_calls=False,
        max_output_tokens=60,
        temperature=0,
    )
    (call,) = [item for item in first.output if item.type == "function_call"]
    second = tools_client.responses.create(
        model="qwen-tools",
        previous_response_id=first.id,
        input=[{"type": "function_call_output", "call_id": call.call_id, "output": "Sunny, 24 C"}],
        tools=[WEATHER],
        tool_choice="none",
        max_output_tokens=8,
        temperature=0,
    )
    assert second.output_text and second.previous_response_id == first.id
    kinds = [item.type for item in tools_client.responses.input_items.list(second.id, order="asc").data]
    assert kinds == ["message", "function_call", "function_call_output"]
    rendered = httpx.post(
        f"{tools_client.base_url}chat/render",
        json={
            "model": "qwen-tools",
            "messages": [
                {"role": "user", "content": "What is the weather in Lima?"},
                {
                    "role": "assistant",
                    "tool_calls": [
                        {
                            "id": call.call_id,
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": call.arguments},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": call.call_id, "content": "Sunny, 24 C"},
            ],
            "tools": [
                {
                    "type": "function",
                    "function": {k: WEATHER[k] for k in ("name", "description", "parameters")},
                }
            ],
            "tool_choice": "none",
        },
        timeout=60,
    ).json()
    # The second response saw exactly the chat conversation of call, output and question.
    assert second.usage.input_tokens == rendered["num_tokens"]


def test_reasoning_item(tools_client: openai.OpenAI) -> None:
    request: dict[str, Any] = dict(
        model="qwen3-tools",
        input="Is the sky blue?",
        max_output_tokens=60,
        temperature=0,
        extra_body={"grammar": THINK_THEN_ANSWER},
    )
    whole = tools_client.responses.create(**request)
    reasoning, message = whole.output
    assert reasoning.type == "reasoning" and reasoning.id.startswith("rs_")
    thought = reasoning.content[0].text
    assert thought and "<think>" not in thought
    assert message.type == "message" and whole.output_text.endswith(".")
    events = list(tools_client.responses.create(**request, stream=True))
    streamed = "".join(e.delta for e in events if e.type == "response.reasoning_text.delta")
    assert streamed == thought
    assert _collapsed([e.type for e in events])[2:8] == [
        "response.output_item.added",
        "response.content_part.added",
        "response.reasoning_text.delta",
        "response.reasoning_text.done",
        "response.content_part.done",
        "response.output_item.done",
    ]


def test_stored_response_get_list_delete(client: openai.OpenAI) -> None:
    response = client.responses.create(
        model=BASE_MODEL, input="Hi", max_output_tokens=4, metadata={"run": "42"}, temperature=0
    )
    fetched = client.responses.retrieve(response.id)
    assert fetched.output_text == response.output_text and fetched.metadata == {"run": "42"}
    items = client.responses.input_items.list(response.id)
    assert [item.content[0].text for item in items.data] == ["Hi"]
    client.responses.delete(response.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(response.id)
    with pytest.raises(openai.NotFoundError) as caught:
        client.responses.create(model=BASE_MODEL, input="Hi", previous_response_id=response.id)
    assert caught.value.body["param"] == "previous_response_id"


def test_store_false_keeps_nothing(client: openai.OpenAI) -> None:
    response = client.responses.create(model=BASE_MODEL, input="Hi", max_output_tokens=4, store=False)
    assert response.store is False
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(response.id)


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (
            {"input": [{"type": "message", "role": "user", "content": [{"type": "input_image"}]}]},
            "input.0.content.0",
        ),
        ({"input": [{"type": "teleport"}]}, "input.0.type"),
        ({"input": [{"role": "wizard", "content": "hi"}]}, "input.0.role"),
        ({"input": [{"type": "function_call_output", "output": "x"}]}, "input.0.call_id"),
        ({"input": "hi", "tool_choice": "required"}, "tool_choice"),
        ({"input": "hi", "text": {"format": {"type": "json_schema", "name": "x"}}}, "text.format.schema"),
        ({"input": "hi", "background": True}, "background"),
        ({"input": ""}, "input"),
    ],
)
def test_bad_requests_are_400s_that_name_the_field(
    http: httpx.Client, body: dict[str, Any], param: str
) -> None:
    reply = http.post("/v1/responses", json={"model": BASE_MODEL, **body})
    assert reply.status_code == 400, reply.text
    error = reply.json()["error"]
    assert error["param"] == param and error["message"]


def test_previous_response_survives_a_restart(base_model_path: Path, tmp_path: Path) -> None:
    catalog = (
        f"settings:\n  default_model: {BASE_MODEL}\n"
        f"models:\n  - name: {BASE_MODEL}\n    file: {base_model_path}\n"
    )
    first_server = start_server(tmp_path, catalog, {})
    try:
        first = first_server.client().responses.create(
            model=BASE_MODEL, input="My name is Ada.", max_output_tokens=4, temperature=0
        )
    finally:
        stop(first_server)
    second_server = start_server(tmp_path, catalog, {})
    try:
        client = second_server.client()
        assert client.responses.retrieve(first.id).output_text == first.output_text
        second = client.responses.create(
            model=BASE_MODEL, previous_response_id=first.id, input="What is my name?", max_output_tokens=4
        )
        items = client.responses.input_items.list(second.id, order="asc").data
        assert [(item.role, item.content[0].text) for item in items] == [
            ("user", "My name is Ada."),
            ("assistant", first.output_text),
            ("user", "What is my name?"),
        ]
    finally:
        stop(second_server)


def test_an_answer_cut_short_leaves_its_item_incomplete(client: openai.OpenAI) -> None:
    request: dict[str, Any] = dict(
        model=BASE_MODEL, input="The capital of France is", max_output_tokens=4, temperature=0
    )
    whole = client.responses.create(**request)
    events = list(client.responses.create(**request, stream=True))
    done = [event.item for event in events if event.type == "response.output_item.done"]
    final = events[-1].response
    assert whole.status == final.status == "incomplete"
    assert [item.status for item in whole.output] == [item.status for item in final.output]
    assert [item.status for item in done] == [item.status for item in final.output] == ["incomplete"]
