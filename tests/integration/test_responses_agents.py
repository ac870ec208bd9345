"""The openai-agents SDK runs a one-tool agent to completion over localchat's Responses API: a call
to the tool, the tool's output sent back, a final answer. A base model never chooses a tool, so the
first turn is forced (tool_choice "required"); the SDK then resets tool_choice, and the model answers
in text."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from agents import (
    Agent,
    ModelSettings,
    OpenAIResponsesModel,
    Runner,
    function_tool,
    set_tracing_disabled,
)
from agents.items import MessageOutputItem, ToolCallItem, ToolCallOutputItem
from openai import AsyncOpenAI

from .model_servers import RunningServer

WEATHER_REPORT = "Sunny and 24 C in {city}"
# A base model never ends its turn by itself (the agent SDK takes an answer cut by max_tokens as a
# failure), so once the tool has run, a grammar gives the model a sentence that ends.
FINAL_SENTENCE = 'root ::= "It is " [a-z]{2,10} " there."'


@pytest.fixture(autouse=True)
def _no_trace_export() -> None:
    # The SDK would upload traces to OpenAI; nothing here can reach it.
    set_tracing_disabled(True)


async def test_one_tool_agent_runs_to_completion(tool_server: RunningServer) -> None:
    calls: list[str] = []
    requests: list[dict[str, Any]] = []

    async def record(request: httpx.Request) -> None:
        if request.url.path.endswith("/responses"):
            requests.append(json.loads(request.content))

    @function_tool
    def get_weather(city: str) -> str:
        """Current weather in a city."""
        calls.append(city)
        agent.model_settings = agent.model_settings.resolve(
            ModelSettings(extra_body={"grammar": FINAL_SENTENCE})
        )
        return WEATHER_REPORT.format(city=city)

    client = AsyncOpenAI(
        base_url=f"{tool_server.base_url}/v1",
        api_key="unused",
        http_client=httpx.AsyncClient(timeout=120, event_hooks={"request": [record]}),
    )
    agent = Agent(
        name="weather",
        instructions="Answer questions about the weather.",
        tools=[get_weather],
        model=OpenAIResponsesModel(model="qwen-tools", openai_client=client),
        model_settings=ModelSettings(
            tool_choice="required", parallel_tool_calls=False, max_tokens=80, temperature=0
        ),
    )
    result = await Runner.run(agent, "What is the weather in Paris?", max_turns=4)

    # Forced once, then reset to "auto" by the SDK: one call, and an answer in text.
    assert len(calls) == 1 and calls[0]
    assert isinstance(result.final_output, str)
    assert result.final_output.startswith("It is ") and result.final_output.endswith(" there.")
    kinds = [type(item) for item in result.new_items]
    assert kinds == [ToolCallItem, ToolCallOutputItem, MessageOutputItem]
    assert result.new_items[1].output == WEATHER_REPORT.format(city=calls[0])
    first, last = result.raw_responses[0], result.raw_responses[-1]
    assert [item.type for item in first.output] == ["function_call"]
    assert last.output[-1].type == "message"

    # The SDK sends the whole conversation again (no previous_response_id): the call and its output
    # come back as input items, and localchat stored them as such.
    assert len(requests) == 2 and requests[1].get("tool_choice") != "required"
    sent = [item.get("type") for item in requests[1]["input"]]
    assert sent[-2:] == ["function_call", "function_call_output"]
    response_id = last.response_id
    async with httpx.AsyncClient(base_url=tool_server.base_url, timeout=60) as http:
        listed = (await http.get(f"/v1/responses/{response_id}/input_items", params={"order": "asc"})).json()
    kinds_sent = [item["type"] for item in listed["data"]]
    assert kinds_sent[-2:] == ["function_call", "function_call_output"]
    assert listed["data"][-1]["output"] == WEATHER_REPORT.format(city=calls[0])
