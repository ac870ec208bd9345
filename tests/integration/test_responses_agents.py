"""The openai-agents SDK runs a one-tool agent to completion over localchat's Responses API: a call
to the tool, the tool's output sent back, a final answer. A base model never chooses a tool, so the
first turn is forced (tool_choice "required"); the SDK then resets tool_choice (it leaves it out of
the next request), and the model answers in text."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from agents import (
    Agent,
    AgentHooks,
    ModelSettings,
    OpenAIResponsesModel,
    RunContextWrapper,
    Runner,
    Tool,
    function_tool,
    set_tracing_disabled,
)
from agents.items import MessageOutputItem, ToolCallItem, ToolCallOutputItem
from openai import AsyncOpenAI

from .model_servers import RunningServer

WEATHER_REPORT = "Sunny and 24 C in {city}"
# A base model never ends its turn by itself, and the SDK raises on a response cut by max_output_tokens
# (status "incomplete"), so once the tool has run a grammar gives the model a sentence that ends. It
# cannot be set from the start: the server refuses a grammar together with a forced tool_choice.
FINAL_SENTENCE = 'root ::= "It is " [a-z]{2,10} " there."'


@pytest.fixture(autouse=True)
def _no_trace_export() -> None:
    # The SDK would upload traces to OpenAI; nothing here can reach it.
    set_tracing_disabled(True)


class _EndInASentence(AgentHooks[Any]):
    """After the tool has run, constrain the agent's next (unforced) turn to FINAL_SENTENCE."""

    async def on_tool_end(
        self, context: RunContextWrapper[Any], agent: Agent[Any], tool: Tool, result: object
    ) -> None:
        agent.model_settings = agent.model_settings.resolve(
            ModelSettings(extra_body={"grammar": FINAL_SENTENCE})
        )


async def test_one_tool_agent_runs_to_completion(tool_server: RunningServer) -> None:
    calls: list[str] = []
    requests: list[dict[str, Any]] = []
    responses: list[dict[str, Any]] = []

    async def record_request(request: httpx.Request) -> None:
        if request.url.path.endswith("/responses"):
            requests.append(json.loads(request.content))

    async def record_response(response: httpx.Response) -> None:
        if response.request.url.path.endswith("/responses"):
            await response.aread()
            responses.append({"status_code": response.status_code, "body": response.json()})

    @function_tool
    def get_weather(city: str) -> str:
        """Current weather in a city."""
        calls.append(city)
        return WEATHER_REPORT.format(city=city)

    client = AsyncOpenAI(
        base_url=tool_server.api_url,
        api_key="unused",
        max_retries=0,
        http_client=httpx.AsyncClient(
            timeout=120, event_hooks={"request": [record_request], "response": [record_response]}
        ),
    )
    agent = Agent(
        name="weather",
        instructions="Answer questions about the weather.",
        tools=[get_weather],
        model=OpenAIResponsesModel(model="qwen-tools", openai_client=client),
        # 80, not fewer: the forced Hermes-style call (<tool_call>{...}</tool_call>, in Gemma's tokens)
        # does not fit in 24, and both turns end on their own grammar's end well before the limit.
        model_settings=ModelSettings(
            tool_choice="required", parallel_tool_calls=False, max_tokens=80, temperature=0
        ),
        hooks=_EndInASentence(),
    )
    try:
        result = await Runner.run(agent, "What is the weather in Paris?", max_turns=4)
    finally:
        await client.close()

    # Both turns answered 200 with a finished response (the SDK raises on "incomplete" anyway).
    assert [(r["status_code"], r["body"]["status"]) for r in responses] == [(200, "completed")] * 2

    # Exactly once: the call is forced only on the first turn (no parallel calls); the SDK then drops
    # tool_choice, and the second turn's grammar admits only text. A second call would be a bug.
    assert len(calls) == 1 and calls[0]
    kinds = [type(item) for item in result.new_items]
    assert kinds == [ToolCallItem, ToolCallOutputItem, MessageOutputItem]
    call = result.new_items[0].raw_item
    assert call.type == "function_call" and call.name == "get_weather"
    arguments = json.loads(call.arguments)
    schema = get_weather.params_json_schema
    assert set(arguments) == set(schema["required"]) == set(schema["properties"]) == {"city"}
    assert isinstance(arguments["city"], str) and arguments == {"city": calls[0]}
    assert result.new_items[1].output == WEATHER_REPORT.format(city=calls[0])
    assert result.new_items[1].raw_item["call_id"] == call.call_id

    assert isinstance(result.final_output, str) and result.final_output
    assert result.final_output.startswith("It is ") and result.final_output.endswith(" there.")
    first, last = result.raw_responses[0], result.raw_responses[-1]
    assert len(result.raw_responses) == 2
    assert [item.type for item in first.output] == ["function_call"]
    assert last.output[-1].type == "message"

    # What the SDK sends: the first turn forced, the second with tool_choice left out (the server's
    # "auto"); no previous_response_id and no store (the server's default, true, keeps both), so the
    # second request carries the whole conversation: the question, the call and its output.
    assert requests[0]["tool_choice"] == "required" and "tool_choice" not in requests[1]
    assert all("previous_response_id" not in r and "store" not in r for r in requests)
    assert all(r["body"]["store"] is True for r in responses)
    sent = requests[1]["input"]
    assert [item.get("type", "message") for item in sent] == [
        "message",
        "function_call",
        "function_call_output",
    ]
    assert sent[0]["content"] == "What is the weather in Paris?"
    assert sent[1]["call_id"] == sent[2]["call_id"] == call.call_id
    assert sent[2]["output"] == WEATHER_REPORT.format(city=calls[0])

    # localchat stored the second request's input items as sent, the tool's output last.
    async with httpx.AsyncClient(base_url=tool_server.base_url, timeout=60) as http:
        listed = await http.get(f"/v1/responses/{last.response_id}/input_items", params={"order": "asc"})
    assert listed.status_code == 200
    stored = listed.json()["data"]
    assert [item["type"] for item in stored] == ["message", "function_call", "function_call_output"]
    assert stored[1]["call_id"] == stored[2]["call_id"] == call.call_id
    assert stored[2]["output"] == WEATHER_REPORT.format(city=calls[0])
