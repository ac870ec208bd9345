"""Ollama requests in the internal chat shape: options with Ollama's defaults, format, think, and
messages whose tool calls and results pair up by id."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from server.models.catalog import ModelEntry, describe
from server.protocols.ollama.input import (
    DEFAULT_SAMPLING,
    chat_messages,
    chat_request,
    response_format,
    sampling_fields,
    think_fields,
)
from server.protocols.ollama.wire import ChatRequest, Message, Options
from server.service.errors import APIError

THINKING = (
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
    "{% if tools %}<tool_call>{% endif %}{% if enable_thinking is false %}<think>\n\n</think>{% endif %}"
)


def test_defaults_are_ollamas_and_options_override_them() -> None:
    assert sampling_fields(None) == DEFAULT_SAMPLING == {"temperature": 0.8, "top_k": 40, "top_p": 0.9}
    fields = sampling_fields(
        Options(temperature=0, top_k=1, seed=7, num_predict=5, stop=["\n"], repeat_penalty=1.1, num_ctx=99)
    )
    assert fields == {
        "temperature": 0,
        "top_k": 1,
        "top_p": 0.9,
        "seed": 7,
        "max_tokens": 5,
        "stop": ["\n"],
        "repeat_penalty": 1.1,
    }


@pytest.mark.parametrize("num_predict", [-1, -2, 0])
def test_num_predict_without_a_limit(num_predict: int) -> None:
    assert "max_tokens" not in sampling_fields(Options(num_predict=num_predict))


def test_a_random_seed_is_no_seed() -> None:
    assert "seed" not in sampling_fields(Options(seed=-1))


def test_tool_choice_extension() -> None:
    assert sampling_fields(Options(tool_choice="required"))["tool_choice"] == "required"
    assert sampling_fields(Options(tool_choice="get_weather"))["tool_choice"] == {
        "type": "function",
        "function": {"name": "get_weather"},
    }


def test_formats() -> None:
    assert response_format(None) is None and response_format("") is None
    assert response_format("json") == {"type": "json_object"}
    schema = {"type": "object"}
    assert response_format(schema) == {"type": "json_schema", "json_schema": {"schema": schema}}


def test_think_switches_the_template(make_gguf, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    thinking = describe(ModelEntry(name="t", path=make_gguf("t.gguf", chat_template=THINKING)))
    plain = describe(ModelEntry(name="p", path=make_gguf("p.gguf")))
    assert think_fields(None, plain, "p") == {}
    assert think_fields(False, plain, "p")["chat_template_kwargs"] == {"enable_thinking": False}
    assert think_fields(True, thinking, "t") == {"chat_template_kwargs": {"enable_thinking": True}}
    assert think_fields("max", thinking, "t")["reasoning_effort"] == "high"
    with pytest.raises(APIError) as caught:
        think_fields("low", plain, "p:latest")
    assert caught.value.status == 400 and caught.value.message == '"p:latest" does not support thinking'


def test_tool_calls_get_ids_and_results_pair_with_them() -> None:
    messages = chat_messages(
        [
            Message(role="user", content="weather in Paris and Rome?"),
            Message.model_validate(
                {
                    "role": "assistant",
                    "content": "",
                    "tool_calls": [
                        {"function": {"name": "weather", "arguments": {"city": "Paris"}}},
                        {"function": {"name": "time", "arguments": {}}},
                        {"function": {"name": "weather", "arguments": {"city": "Rome"}}},
                    ],
                }
            ),
            Message(role="tool", tool_name="time", content="noon"),
            Message(role="tool", tool_name="weather", content="sunny"),
            Message(role="tool", content="rainy"),
        ]
    )
    calls = messages[1]["tool_calls"]
    assert [call["id"] for call in calls] == ["call_1_0", "call_1_1", "call_1_2"]
    assert json.loads(calls[0]["function"]["arguments"]) == {"city": "Paris"}
    assert [(m["tool_call_id"], m.get("name")) for m in messages[2:]] == [
        ("call_1_1", "time"),
        ("call_1_0", "weather"),
        ("call_1_2", None),
    ]


def test_bad_option_values_name_the_option(make_gguf) -> None:  # type: ignore[no-untyped-def]
    info = describe(ModelEntry(name="p", path=make_gguf("p.gguf")))
    body = ChatRequest.model_validate(
        {"messages": [{"role": "user", "content": "hi"}], "options": {"temperature": 9}}
    )
    with pytest.raises(APIError) as caught:
        chat_request(body, info, "p")
    assert caught.value.status == 400 and caught.value.param == "options.temperature"


def test_images_are_refused_until_models_can_see() -> None:
    with pytest.raises(APIError) as caught:
        chat_messages([Message(role="user", content="what is this?", images=["aGk="])])
    assert caught.value.param == "messages.0.images"
