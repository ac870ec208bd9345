"""Clients of Ollama's API that are not its own libraries, against a real localchat: LangChain's
ChatOllama (invoke, stream, bind_tools), and the request sequences Open WebUI and Continue send,
replayed from their source (see README, Ollama API), asserting the fields they read."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest
from langchain_core.messages import AIMessage
from langchain_core.tools import tool
from langchain_ollama import ChatOllama

from .conftest import BASE_MODEL, N_CTX
from .model_servers import RunningServer
from .ollama_models import TOOLS_MODEL

# Continue's reading of /api/show's parameters (core/llm/llms/Ollama.ts).
CONTINUE_PARAMETER = re.compile(r"^(\S+)\s+((?:\".*\")|\S+)$")


@pytest.fixture
def http(ollama_server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=ollama_server.base_url, timeout=120) as session:
        yield session


def _ndjson(response: httpx.Response, *, skip_blank: bool = False) -> list[dict[str, Any]]:
    """Lines as Open WebUI and ollama-python read them: every line must be JSON (a blank one is an
    error to them); Continue skips blank lines."""
    assert response.headers["content-type"].startswith("application/x-ndjson")
    lines = []
    for line in response.iter_lines():
        if skip_blank and not line.strip():
            continue
        lines.append(json.loads(line))
    return lines


# -- LangChain -----------------------------------------------------------------------------------------


@tool
def get_weather(city: str) -> str:
    """The weather in a city."""
    return f"Sunny in {city}"


def test_langchain_chat_ollama_invoke_and_stream(ollama_server: RunningServer) -> None:
    llm = ChatOllama(
        model=BASE_MODEL,
        base_url=ollama_server.base_url,
        temperature=0,
        num_predict=12,
        seed=2,
        validate_model_on_init=True,
    )
    answer = llm.invoke("Name a colour.")
    assert isinstance(answer, AIMessage) and answer.content
    assert answer.usage_metadata and answer.usage_metadata["output_tokens"] <= 12
    assert answer.response_metadata["done_reason"] in ("stop", "length")
    streamed = "".join(str(chunk.content) for chunk in llm.stream("Name a colour."))
    assert streamed == answer.content


def test_langchain_bind_tools_gets_a_call(ollama_server: RunningServer) -> None:
    llm = ChatOllama(model=TOOLS_MODEL, base_url=ollama_server.base_url, temperature=0, seed=1)
    # Ollama's API has no tool_choice; localchat's options extension forces the call.
    answer = llm.bind_tools([get_weather]).invoke(
        "What is the weather in Paris?",
        options={"tool_choice": "required", "num_predict": 60, "temperature": 0},
    )
    assert answer.tool_calls and answer.tool_calls[0]["name"] == "get_weather"
    assert isinstance(answer.tool_calls[0]["args"]["city"], str)


# -- Open WebUI (backend/open_webui/routers/ollama.py) ---------------------------------------------------


def test_open_webui_sequence(http: httpx.Client) -> None:
    # Verify connection: GET /api/version; the lowest version of all backends, as dotted integers.
    version = http.get("/api/version").json()["version"]
    assert tuple(map(int, re.sub(r"^v|-.*", "", version).split(".")))
    # The model list: each model needs `model` (the merge key) and `name`; Open WebUI adds :latest
    # to a requested name without a tag and looks it up by `model`.
    models = {model["model"]: model for model in http.get("/api/tags").json()["models"]}
    assert all(model["name"] == key for key, model in models.items())
    name = f"{BASE_MODEL}:latest"
    assert name in models and models[name]["details"]["parameter_size"]
    # Show: the form's model, plus `name`.
    shown = http.post("/api/show", json={"model": name, "name": name})
    assert shown.status_code == 200 and "model_info" in shown.json()
    # Chat as its payload converter sends it: options from the UI's parameters, stream on.
    with http.stream(
        "POST",
        "/api/chat",
        json={
            "model": name,
            "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
            "stream": True,
            "options": {
                "temperature": 0.0,
                "num_predict": 10,
                "top_p": 0.9,
                "num_ctx": 2048,
                "stop": ["\n\n"],
            },
        },
    ) as response:
        lines = _ndjson(response)
    last = lines[-1]
    assert last["done"] is True and all(not line["done"] for line in lines[:-1])
    text = "".join(line["message"]["content"] for line in lines)
    assert text and "\n\n" not in text
    for field in (
        "prompt_eval_count",
        "eval_count",
        "eval_duration",
        "prompt_eval_duration",
        "total_duration",
    ):
        assert isinstance(last[field], int), field
    # The model list also reads /api/ps: model and expires_at, parsed with fromisoformat.
    running = http.get("/api/ps").json()["models"]
    assert any(model["model"] == name for model in running)
    for model in running:
        datetime.fromisoformat(model["expires_at"])
    # Unload: an empty generate with keep_alive 0, not streamed.
    unloaded = http.post(
        "/api/generate", json={"model": name, "keep_alive": 0, "prompt": "", "stream": False}
    )
    assert unloaded.status_code == 200 and unloaded.json()["done_reason"] == "unload"
    assert name not in {model["model"] for model in http.get("/api/ps").json()["models"]}
    # RAG embeddings.
    embedded = http.post(
        "/api/embed", json={"input": ["first chunk", "second chunk"], "model": name, "truncate": True}
    )
    assert embedded.status_code == 200 and len(embedded.json()["embeddings"]) == 2


# -- Continue (core/llm/llms/Ollama.ts) ------------------------------------------------------------------


def test_continue_sequence(http: httpx.Client) -> None:
    model = BASE_MODEL
    # Once per model: /api/show with `name`; num_ctx and quoted stops from `parameters`, FIM from
    # whether the template says .Suffix.
    shown = http.post("/api/show", json={"name": model}).json()
    context_length, stops = None, []
    for line in shown["parameters"].splitlines():
        match = CONTINUE_PARAMETER.match(line)
        if match is None:
            continue
        key, value = match.groups()
        if key == "num_ctx":
            context_length = int(value)
        elif key == "stop":
            stops.append(json.loads(value))
    assert context_length == N_CTX
    assert stops == ["\nUser:", "\nAssistant:", "\nTool:"]  # what a base model's chat stops at
    assert ".Suffix" not in shown["template"]  # no fill-in-the-middle here, so none is offered
    assert model in {
        entry["name"].removesuffix(":latest") for entry in http.get("/api/tags").json()["models"]
    }
    # Chat: its options, keep_alive as seconds, tools only after a user turn.
    with http.stream(
        "POST",
        "/api/chat",
        json={
            "model": model,
            "messages": [{"role": "user", "content": "Hi"}],
            "options": {
                "temperature": 0,
                "top_p": 1,
                "top_k": 1,
                "num_predict": 8,
                "stop": stops,
                "num_ctx": 8192,
            },
            "keep_alive": 1800,
            "stream": True,
        },
    ) as response:
        assert response.status_code == 200
        lines = _ndjson(response, skip_blank=True)
    assert all("error" not in line and "type" not in line for line in lines)  # "type" reads as n8n
    assert all(line["message"]["role"] != "tool" for line in lines)
    assert "".join(line["message"]["content"] for line in lines)
    # Completion with a prompt it formatted itself: raw.
    with http.stream(
        "POST",
        "/api/generate",
        json={
            "model": model,
            "prompt": "def add(a, b):\n    return",
            "raw": True,
            "options": {"temperature": 0, "num_predict": 6},
            "keep_alive": 1800,
            "stream": True,
        },
    ) as response:
        generated = _ndjson(response, skip_blank=True)
    assert "".join(line["response"] for line in generated) and generated[-1]["done"] is True
    embedded = http.post("/api/embed", json={"model": model, "input": ["a chunk of code"]}).json()
    assert len(embedded["embeddings"]) == 1
