"""Tool calls end to end: real weights, real chat templates (Qwen 2.5 Hermes-style, Llama 3.1 JSON,
GLM 4.6 XML arguments, Kimi K2 special-token sections),
the real server and the openai client. A base model never chooses to call a tool, so calls are made
certain with tool_choice "required" or a named function, which constrain generation to the family's
own syntax and the tools' schemas; the server must then read them back as tool_calls."""

from __future__ import annotations

import json
from typing import Any

import httpx
import openai
import pytest

from .conftest import BASE_MODEL
from .model_servers import RunningServer

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather in a city",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "enum": ["Paris", "Tokyo", "Lima"]},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city", "unit"],
            "additionalProperties": False,
        },
    },
}
TIME = {
    "type": "function",
    "function": {
        "name": "get_time",
        "description": "Current time in a time zone",
        "parameters": {
            "type": "object",
            "properties": {"zone": {"type": "string", "enum": ["UTC", "CET", "JST"]}},
            "required": ["zone"],
        },
    },
}
ASK = [{"role": "user", "content": "What is the weather in Paris, and what time is it there?"}]
TEMPLATED = ["qwen-tools", "llama3-tools", "glm-tools", "kimi-tools"]


def _assert_valid_weather(arguments: str) -> None:
    parsed = json.loads(arguments)
    assert set(parsed) == {"city", "unit"}
    assert parsed["city"] in ("Paris", "Tokyo", "Lima") and parsed["unit"] in ("celsius", "fahrenheit")


def _streamed_calls(stream: Any) -> tuple[dict[int, dict[str, str]], str | None, str]:
    """Calls rebuilt from tool_call deltas, the finish reason, and the streamed content."""
    calls: dict[int, dict[str, str]] = {}
    finish, content = None, ""
    for chunk in stream:
        if not chunk.choices:
            continue
        choice = chunk.choices[0]
        content += choice.delta.content or ""
        for delta in choice.delta.tool_calls or []:
            if delta.index not in calls:
                assert delta.id and delta.function.name, "a call's first delta carries its id and name"
                calls[delta.index] = {"id": delta.id, "name": delta.function.name, "arguments": ""}
            else:
                assert delta.id is None and delta.function.name is None
            calls[delta.index]["arguments"] += delta.function.arguments or ""
        finish = choice.finish_reason or finish
    return calls, finish, content


def _one_weather_call(client: openai.OpenAI, model: str) -> Any:
    """tool_choice "required" with one tool and no parallel calls, seeded; room for the wordiest family
    (Kimi K2's special-token markers are ~10 tokens each as Gemma spells them)."""
    return client.chat.completions.create(
        model=model,
        messages=ASK,
        tools=[WEATHER],
        tool_choice="required",
        parallel_tool_calls=False,
        max_tokens=200,
        seed=3,
    )


@pytest.mark.parametrize("model", TEMPLATED)
def test_required_gives_a_schema_valid_call(tools_client: openai.OpenAI, model: str) -> None:
    reply = _one_weather_call(tools_client, model)
    choice = reply.choices[0]
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content is None
    (call,) = choice.message.tool_calls
    assert call.type == "function" and call.id.startswith("call_")
    assert call.function.name == "get_weather"
    _assert_valid_weather(call.function.arguments)


@pytest.mark.parametrize("model", TEMPLATED)
def test_named_function_is_the_one_called(tools_client: openai.OpenAI, model: str) -> None:
    reply = tools_client.chat.completions.create(
        model=model,
        messages=ASK,
        tools=[WEATHER, TIME],
        tool_choice={"type": "function", "function": {"name": "get_time"}},
        parallel_tool_calls=False,
        max_tokens=160,
        seed=5,
    )
    (call,) = reply.choices[0].message.tool_calls
    assert call.function.name == "get_time"
    assert json.loads(call.function.arguments)["zone"] in ("UTC", "CET", "JST")


@pytest.mark.parametrize("model", TEMPLATED)
def test_streamed_call_equals_the_non_streamed_one(tools_client: openai.OpenAI, model: str) -> None:
    request = dict(
        model=model,
        messages=ASK,
        tools=[WEATHER],
        tool_choice="required",
        parallel_tool_calls=False,
        max_tokens=200,
        seed=11,
        temperature=0.9,
    )
    whole = tools_client.chat.completions.create(**request).choices[0]
    calls, finish, content = _streamed_calls(tools_client.chat.completions.create(**request, stream=True))
    assert finish == "tool_calls" and content == ""
    assert [(c["name"], c["arguments"]) for c in calls.values()] == [
        (c.function.name, c.function.arguments) for c in whole.message.tool_calls
    ]
    _assert_valid_weather(calls[0]["arguments"])


def test_parallel_calls_stream_with_distinct_indexes(tools_client: openai.OpenAI) -> None:
    # With parallel calls allowed the grammar admits several; sampling decides how many.
    for seed in range(12):
        calls, finish, _ = _streamed_calls(
            tools_client.chat.completions.create(
                model="qwen-tools",
                messages=ASK,
                tools=[WEATHER, TIME],
                tool_choice="required",
                max_tokens=160,
                seed=seed,
                temperature=1.0,
                stream=True,
            )
        )
        if len(calls) >= 2:
            break
    assert len(calls) >= 2, "no seed gave parallel calls"
    assert sorted(calls) == list(range(len(calls)))
    assert len({call["id"] for call in calls.values()}) == len(calls)
    # Cut off by max_tokens, the last call may be unfinished; every other one is whole and valid.
    complete = list(calls.values()) if finish == "tool_calls" else list(calls.values())[:-1]
    assert complete
    for call in complete:
        assert call["name"] in ("get_weather", "get_time")
        json.loads(call["arguments"])


def test_tool_choice_none_produces_no_calls(tools_client: openai.OpenAI) -> None:
    reply = tools_client.chat.completions.create(
        model="qwen-tools", messages=ASK, tools=[WEATHER], tool_choice="none", max_tokens=12, seed=1
    )
    choice = reply.choices[0]
    assert choice.message.tool_calls is None
    assert isinstance(choice.message.content, str)
    assert choice.finish_reason in ("stop", "length")


def test_auto_answers_without_error(tools_client: openai.OpenAI) -> None:
    # "auto" only constrains once the model writes the opener; a base model usually writes text.
    reply = tools_client.chat.completions.create(
        model="qwen-tools", messages=ASK, tools=[WEATHER], max_tokens=16, seed=2
    )
    choice = reply.choices[0]
    assert choice.finish_reason in ("stop", "length", "tool_calls")
    for call in choice.message.tool_calls or []:
        _assert_valid_weather(call.function.arguments)


def test_base_model_calls_through_the_generic_json_format(
    tools_client: openai.OpenAI, tools_http: httpx.Client
) -> None:
    rendered = tools_http.post(
        "/v1/chat/render", json={"model": BASE_MODEL, "messages": ASK, "tools": [WEATHER]}
    ).json()
    assert '"name": "get_weather"' in rendered["prompt"] and '{"tool_calls": [' in rendered["prompt"]
    reply = _one_weather_call(tools_client, BASE_MODEL)
    (call,) = reply.choices[0].message.tool_calls
    assert call.function.name == "get_weather"
    _assert_valid_weather(call.function.arguments)


def test_tool_loop_renders_the_result_into_the_next_prompt(
    tools_client: openai.OpenAI, tools_http: httpx.Client
) -> None:
    first = _one_weather_call(tools_client, "qwen-tools")
    call = first.choices[0].message.tool_calls[0]
    conversation = [
        *ASK,
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": '{"temperature": 21, "sky": "clear"}'},
    ]
    rendered = tools_http.post(
        "/v1/chat/render", json={"model": "qwen-tools", "messages": conversation, "tools": [WEATHER]}
    ).json()["prompt"]
    # The call as Qwen's template writes it back, then the result in its tool_response block.
    assert f'"name": "get_weather", "arguments": {call.function.arguments}' in rendered
    assert '<tool_response>\n{"temperature": 21, "sky": "clear"}\n</tool_response>' in rendered
    assert rendered.endswith("<|im_start|>assistant\n")
    final = tools_client.chat.completions.create(
        model="qwen-tools", messages=conversation, tools=[WEATHER], tool_choice="none", max_tokens=12, seed=1
    )
    assert final.choices[0].message.tool_calls is None
    assert final.choices[0].finish_reason in ("stop", "length")


@pytest.mark.parametrize(
    ("model", "written_back"),
    [
        (
            "glm-tools",
            [
                "<tool_call>get_weather\n<arg_key>city</arg_key>\n<arg_value>{city}</arg_value>",
                '<|observation|>\n<tool_response>\n{{"temperature": 21}}\n</tool_response><|assistant|>',
            ],
        ),
        (
            "kimi-tools",
            [
                "<|tool_call_begin|>functions.get_weather:0<|tool_call_argument_begin|>{arguments}<|tool_call_end|>",
                '## Return of functions.get_weather:0\n{{"temperature": 21}}<|im_end|>',
            ],
        ),
    ],
)
def test_tool_loop_goes_on_in_each_familys_own_syntax(
    tools_client: openai.OpenAI, tools_http: httpx.Client, model: str, written_back: list[str]
) -> None:
    first = _one_weather_call(tools_client, model)
    call = first.choices[0].message.tool_calls[0]
    conversation = [
        *ASK,
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": '{"temperature": 21}'},
    ]
    rendered = tools_http.post(
        "/v1/chat/render", json={"model": model, "messages": conversation, "tools": [WEATHER]}
    ).json()["prompt"]
    arguments = json.loads(call.function.arguments)
    for text in written_back:
        assert text.format(city=arguments["city"], arguments=json.dumps(arguments)) in rendered, rendered
    final = tools_client.chat.completions.create(
        model=model, messages=conversation, tools=[WEATHER], tool_choice="none", max_tokens=8, seed=1
    )
    assert final.choices[0].message.tool_calls is None


def test_langchain_bind_tools_returns_tool_calls(tool_server: RunningServer) -> None:
    from langchain_core.messages import AIMessage
    from langchain_openai import ChatOpenAI

    chat = ChatOpenAI(
        base_url=tool_server.api_url,
        api_key="unused",
        model="qwen-tools",
        max_tokens=80,
        seed=3,
        max_retries=0,
    )
    answer = chat.bind_tools([WEATHER], tool_choice="get_weather", parallel_tool_calls=False).invoke(
        ASK[0]["content"]
    )
    assert isinstance(answer, AIMessage)
    (call,) = answer.tool_calls
    assert call["name"] == "get_weather"
    assert call["args"]["city"] in ("Paris", "Tokyo", "Lima")


@pytest.mark.parametrize(
    ("change", "param"),
    [
        ({"tools": [{"type": "function", "function": {"description": "no name"}}]}, "tools.0.function.name"),
        (
            {"tools": [{"type": "function", "function": {"name": "f", "parameters": [1]}}]},
            "tools.0.function.parameters",
        ),
        (
            {"tools": [WEATHER], "tool_choice": {"type": "function", "function": {"name": "nope"}}},
            "tool_choice",
        ),
        ({"tool_choice": "required"}, "tool_choice"),
        ({"messages": [*ASK, {"role": "tool", "content": "21"}]}, "messages.1.tool_call_id"),
        (
            {
                "messages": [
                    *ASK,
                    {
                        "role": "assistant",
                        "tool_calls": [
                            {
                                "id": "c1",
                                "type": "function",
                                "function": {"name": "get_weather", "arguments": "{oops"},
                            }
                        ],
                    },
                ]
            },
            "messages.1.tool_calls.0.function.arguments",
        ),
    ],
)
def test_bad_tool_input_is_a_400(tools_http: httpx.Client, change: dict[str, Any], param: str) -> None:
    body = {"model": "qwen-tools", "messages": ASK, "max_tokens": 4, **change}
    response = tools_http.post("/v1/chat/completions", json=body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["param"] == param


@pytest.mark.parametrize("model", [*TEMPLATED, BASE_MODEL])
def test_a_call_cut_by_max_tokens_is_a_partial_call_or_nothing_never_markup(
    tools_client: openai.OpenAI, model: str
) -> None:
    request = dict(
        model=model, messages=ASK, tools=[WEATHER], tool_choice="required", parallel_tool_calls=False, seed=5
    )
    whole = tools_client.chat.completions.create(**request, max_tokens=200, temperature=0).choices[0]
    (full,) = whole.message.tool_calls
    for max_tokens in (2, 5, 9, 14):
        cut = tools_client.chat.completions.create(**request, max_tokens=max_tokens, temperature=0).choices[0]
        if cut.finish_reason != "length":
            continue  # the whole call fits (a terse family): nothing was cut
        assert not (cut.message.content or "").strip(), (max_tokens, cut.message.content)
        for call in cut.message.tool_calls or []:
            assert call.function.name == full.function.name
            assert full.function.arguments.startswith(call.function.arguments.rstrip()), (
                call.function.arguments
            )
        calls, finish, content = _streamed_calls(
            tools_client.chat.completions.create(**request, max_tokens=max_tokens, temperature=0, stream=True)
        )
        assert finish == "length" and not content.strip()
        assert [(c["name"], c["arguments"]) for c in calls.values()] == [
            (c.function.name, c.function.arguments) for c in cut.message.tool_calls or []
        ]
