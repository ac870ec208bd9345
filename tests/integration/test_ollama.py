"""Ollama's native API through the official `ollama` Python client against a real localchat: list,
show, ps, chat and generate (whole and streamed), a forced tool call, thinking, embeddings, pull from
a stand-in hub, keep_alive, and errors in Ollama's envelope."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import ollama
import pytest

from .conftest import BASE_MODEL, N_CTX
from .model_servers import RunningServer, free_port, start_server, stop, wait_until
from .ollama_models import PULL_REPO, THINKING_MODEL, TOOLS_MODEL

GREEDY = {"temperature": 0, "num_predict": 12, "seed": 3}
ASK = [{"role": "user", "content": "Name a colour."}]
# A thought, then an answer, in Qwen3's own markers (a base model does not think on its own).
THINK_THEN_ANSWER = r'root ::= "<think>\n" [a-z]{2,8} " " [a-z]{2,8} "\n</think>\n\n" [A-Z] [a-z]{2,10} "."'
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


@pytest.fixture(scope="module")
def client(ollama_server: RunningServer) -> ollama.Client:
    return ollama.Client(host=ollama_server.base_url, timeout=120)


@pytest.fixture
def http(ollama_server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=ollama_server.base_url, timeout=120) as session:
        yield session


def test_root_and_version_answer_as_ollama_does(http: httpx.Client) -> None:
    root = http.get("/")
    assert root.status_code == 200 and root.text == "Ollama is running"
    assert http.head("/").status_code == 200
    # A browser still lands on the playground.
    assert http.get("/", headers={"accept": "text/html"}, follow_redirects=False).status_code == 307
    version = http.get("/api/version").json()["version"]
    assert tuple(int(part) for part in version.split(".")) >= (0, 6, 4)


def test_list_names_every_model_with_a_tag(client: ollama.Client) -> None:
    models = {model.model: model for model in client.list().models}
    assert {f"{BASE_MODEL}:latest", f"{TOOLS_MODEL}:latest", f"{THINKING_MODEL}:latest"} <= set(models)
    base = models[f"{BASE_MODEL}:latest"]
    assert isinstance(base.modified_at, datetime) and base.size and base.size > 100_000_000
    assert base.details is not None and base.details.family == "gemma3"
    assert base.details.format == "gguf" and base.details.quantization_level == "Q4_K_M"
    assert base.details.parameter_size == "270M" and len(base.digest or "") == 64


@pytest.mark.parametrize("name", [BASE_MODEL, f"{BASE_MODEL}:latest", "gemma-base", "gemma-base:latest"])
def test_show_finds_names_tags_and_aliases(client: ollama.Client, name: str) -> None:
    shown = client.show(name)
    assert shown.modelinfo is not None and shown.modelinfo["general.architecture"] == "gemma3"
    assert shown.modelinfo["gemma3.context_length"] == 32768
    assert shown.capabilities == ["completion"]
    assert f"num_ctx                        {N_CTX}" in (shown.parameters or "")


def test_show_says_what_templated_models_can_do(client: ollama.Client, http: httpx.Client) -> None:
    assert client.show(TOOLS_MODEL).capabilities == ["completion", "tools"]
    assert client.show(THINKING_MODEL).capabilities == ["completion", "tools", "thinking"]
    # Continue sends the legacy `name`; the template is the model's own.
    shown = http.post("/api/show", json={"name": TOOLS_MODEL}).json()
    assert "<tool_call>" in shown["template"] and ".Suffix" not in shown["template"]
    # /v1/models reports the same list, computed in one place.
    card = http.get(f"/v1/models/{THINKING_MODEL}").json()
    assert card["capabilities"] == ["completion", "tools", "thinking"]


def test_the_query_parameter_chooses_the_model(http: httpx.Client) -> None:
    response = http.post(
        f"/api/chat?model={TOOLS_MODEL}",
        json={"model": BASE_MODEL, "messages": ASK, "stream": False, "options": GREEDY},
    )
    assert response.status_code == 200 and response.json()["model"] == TOOLS_MODEL


def test_unknown_model_is_a_404_in_ollamas_envelope(client: ollama.Client, http: httpx.Client) -> None:
    with pytest.raises(ollama.ResponseError) as caught:
        client.chat(model="no-such-model", messages=ASK)
    assert caught.value.status_code == 404 and "no-such-model" in caught.value.error
    response = http.post("/api/generate", json={"model": "no-such-model:latest", "prompt": "hi"})
    assert response.status_code == 404 and response.json() == {
        "error": "model 'no-such-model:latest' not found"
    }


def _streamed_chat(client: ollama.Client, **request: Any) -> tuple[str, Any]:
    text, last = "", None
    for chunk in client.chat(stream=True, **request):
        assert chunk.message.role == "assistant"
        text += chunk.message.content or ""
        last = chunk
    return text, last


def test_chat_streamed_equals_whole_at_temperature_zero(client: ollama.Client) -> None:
    whole = client.chat(model=BASE_MODEL, messages=ASK, options=GREEDY)
    assert whole.done and whole.done_reason in ("stop", "length") and whole.message.content
    streamed, last = _streamed_chat(client, model=BASE_MODEL, messages=ASK, options=GREEDY)
    assert streamed == whole.message.content
    assert last.done and last.done_reason == whole.done_reason
    assert last.eval_count == whole.eval_count and last.eval_count <= GREEDY["num_predict"]
    assert last.prompt_eval_count == whole.prompt_eval_count > 0
    assert last.total_duration >= last.eval_duration > 0 and last.prompt_eval_duration > 0


def test_generate_streamed_equals_whole_at_temperature_zero(client: ollama.Client) -> None:
    prompt = "The three primary colours are"
    whole = client.generate(model=BASE_MODEL, prompt=prompt, options=GREEDY)
    assert whole.done and whole.response and whole.eval_count == GREEDY["num_predict"]
    chunks = list(client.generate(model=BASE_MODEL, prompt=prompt, options=GREEDY, stream=True))
    assert "".join(chunk.response or "" for chunk in chunks) == whole.response
    assert chunks[-1].done and chunks[-1].done_reason == "length" and not chunks[0].done
    # Raw mode on a base model is the same continuation.
    raw = client.generate(model=BASE_MODEL, prompt=prompt, options=GREEDY, raw=True)
    assert raw.response == whole.response


def test_num_predict_beyond_the_context_stops_at_the_context(client: ollama.Client) -> None:
    answer = client.generate(
        model=BASE_MODEL, prompt="Once", options={"num_predict": N_CTX * 4, "temperature": 0}
    )
    assert answer.done  # Ollama's num_predict is a ceiling, not a demand that must fit


def test_forced_tool_call_has_object_arguments(client: ollama.Client) -> None:
    answer = client.chat(
        model=TOOLS_MODEL,
        messages=[{"role": "user", "content": "What is the weather in Paris?"}],
        tools=[WEATHER],
        options={"tool_choice": "required", "temperature": 0, "num_predict": 60, "seed": 1},
    )
    calls = answer.message.tool_calls or []
    assert calls and all(call.function.name == "get_weather" for call in calls)
    for call in calls:
        assert isinstance(call.function.arguments, dict) and isinstance(call.function.arguments["city"], str)
    streamed = list(
        client.chat(
            model=TOOLS_MODEL,
            messages=[{"role": "user", "content": "What is the weather in Paris?"}],
            tools=[WEATHER],
            options={"tool_choice": "required", "temperature": 0, "num_predict": 60, "seed": 1},
            stream=True,
        )
    )
    streamed_calls = [call for chunk in streamed for call in chunk.message.tool_calls or []]
    assert [(call.function.name, dict(call.function.arguments)) for call in streamed_calls] == [
        (call.function.name, dict(call.function.arguments)) for call in calls
    ]
    # The result goes back as a tool message naming its tool, and the conversation goes on.
    follow_up = client.chat(
        model=TOOLS_MODEL,
        messages=[
            {"role": "user", "content": "What is the weather in Paris?"},
            {"role": "assistant", "content": "", "tool_calls": [call.model_dump() for call in calls]},
            {"role": "tool", "tool_name": "get_weather", "content": "Sunny, 21 C"},
        ],
        tools=[WEATHER],
        options={"tool_choice": "none", **GREEDY},
    )
    assert follow_up.message.content and not follow_up.message.tool_calls


def test_think_puts_reasoning_in_thinking(client: ollama.Client) -> None:
    answer = client.chat(
        model=THINKING_MODEL, messages=ASK, think=True, options={"grammar": THINK_THEN_ANSWER, "seed": 4}
    )
    assert answer.message.thinking and "<think>" not in answer.message.thinking
    assert answer.message.content and "<think>" not in answer.message.content
    thinking, content = "", ""
    for chunk in client.chat(
        model=THINKING_MODEL,
        messages=ASK,
        think=True,
        options={"grammar": THINK_THEN_ANSWER, "seed": 4},
        stream=True,
    ):
        thinking += chunk.message.thinking or ""
        content += chunk.message.content or ""
    assert (thinking, content) == (answer.message.thinking, answer.message.content)


def test_think_false_switches_the_template_off(http: httpx.Client) -> None:
    # Qwen3's template closes an empty thought when thinking is off; the answer then has none.
    answer = http.post(
        "/api/chat",
        json={"model": THINKING_MODEL, "messages": ASK, "think": False, "stream": False, "options": GREEDY},
    ).json()
    assert "thinking" not in answer["message"]


def test_think_on_a_model_that_cannot_think_is_refused(client: ollama.Client) -> None:
    with pytest.raises(ollama.ResponseError) as caught:
        client.chat(model=BASE_MODEL, messages=ASK, think=True)
    assert (
        caught.value.status_code == 400 and caught.value.error == f'"{BASE_MODEL}" does not support thinking'
    )


def test_format_json_answers_json(client: ollama.Client) -> None:
    schema = {"type": "object", "properties": {"colour": {"type": "string"}}, "required": ["colour"]}
    answer = client.chat(
        model=BASE_MODEL, messages=ASK, format=schema, options={"temperature": 0, "num_predict": 40}
    )
    assert isinstance(json.loads(answer.message.content or "")["colour"], str)


def test_embed_and_legacy_embeddings(client: ollama.Client) -> None:
    embedded = client.embed(model=BASE_MODEL, input=["red", "a longer text about green"])
    assert len(embedded.embeddings) == 2
    for vector in embedded.embeddings:
        assert math.isclose(math.sqrt(sum(value * value for value in vector)), 1.0, rel_tol=1e-4)
    assert embedded.prompt_eval_count and embedded.prompt_eval_count > 2
    one = client.embed(model=BASE_MODEL, input="red", dimensions=8)
    assert len(one.embeddings[0]) == 8
    assert math.isclose(math.sqrt(sum(value * value for value in one.embeddings[0])), 1.0, rel_tol=1e-4)
    legacy = client.embeddings(model=BASE_MODEL, prompt="red")
    assert legacy.embedding == pytest.approx(embedded.embeddings[0], abs=1e-6)


def test_ps_lists_what_is_loaded(client: ollama.Client) -> None:
    client.generate(model=BASE_MODEL, prompt="Hi", options={"num_predict": 1})
    running = {model.model: model for model in client.ps().models}
    base = running[f"{BASE_MODEL}:latest"]
    assert base.context_length == N_CTX and isinstance(base.expires_at, datetime)
    assert base.size and base.size > 100_000_000 and base.size_vram == 0  # this build runs on the CPU


def _loaded(http: httpx.Client) -> set[str]:
    return {model["model"] for model in http.get("/api/ps").json()["models"]}


def test_keep_alive_zero_unloads_and_an_empty_request_loads(
    client: ollama.Client, http: httpx.Client
) -> None:
    name = f"{TOOLS_MODEL}:latest"
    loaded = client.generate(model=TOOLS_MODEL, prompt="")
    assert loaded.done and loaded.done_reason == "load" and name in _loaded(http)
    answer = client.chat(model=TOOLS_MODEL, messages=ASK, options=GREEDY, keep_alive=0)
    assert answer.done
    wait_until(lambda: name not in _loaded(http), timeout=30, what="unloaded after keep_alive 0")
    client.chat(model=TOOLS_MODEL, messages=[], keep_alive="10m")
    assert name in _loaded(http)
    unloaded = client.chat(model=TOOLS_MODEL, messages=[], keep_alive=0)
    assert unloaded.done_reason == "unload" and name not in _loaded(http)


def test_keep_alive_sets_that_models_idle_time(client: ollama.Client, http: httpx.Client) -> None:
    name = f"{TOOLS_MODEL}:latest"
    client.generate(model=TOOLS_MODEL, prompt="", keep_alive="1s")
    assert name in _loaded(http)
    wait_until(lambda: name not in _loaded(http), timeout=30, what="unloaded after its idle second")
    with pytest.raises(ollama.ResponseError) as caught:
        client.generate(model=TOOLS_MODEL, prompt="", keep_alive="300")  # no unit: Ollama refuses it too
    assert caught.value.status_code == 400


def test_pull_from_the_hub_streams_progress(client: ollama.Client, http: httpx.Client) -> None:
    name = f"hf.co/{PULL_REPO}:Q4_K_M"
    statuses = list(client.pull(name, stream=True))
    texts = [status.status for status in statuses]
    assert texts[0] == "pulling manifest" and texts[-3:] == [
        "verifying sha256 digest",
        "writing manifest",
        "success",
    ]
    progress = [
        status for status in statuses if (status.status or "").startswith("pulling ") and status.total
    ]
    assert len(progress) >= 2 and progress[-1].completed == progress[-1].total
    assert progress[0].digest and progress[0].digest.startswith("sha256:")
    assert name in {model.model for model in client.list().models}
    assert client.show(name).details.quantization_level == "Q4_K_M"
    # Pulling it again is a success at once; a registry name says where localchat pulls from.
    assert client.pull(name).status == "success"
    with pytest.raises(ollama.ResponseError) as caught:
        client.pull("llama3.2")
    assert "hf.co/" in caught.value.error
    # Copy gives it another name; delete takes names away, and then the model.
    client.copy(name, "tiny-copy")
    assert client.show("tiny-copy:latest").details.quantization_level == "Q4_K_M"
    client.delete("tiny-copy")
    client.delete(name)
    assert name not in {model.model for model in client.list().models}
    with pytest.raises(ollama.ResponseError) as missing:
        client.delete(name)
    assert missing.value.status_code == 404


def test_the_default_model_cannot_be_deleted(client: ollama.Client) -> None:
    with pytest.raises(ollama.ResponseError) as caught:
        client.delete(BASE_MODEL)
    assert caught.value.status_code == 409


def test_registry_routes_answer_501(http: httpx.Client) -> None:
    response = http.post("/api/create", json={"model": "x", "from": BASE_MODEL})
    assert response.status_code == 501 and "Hugging Face" in response.json()["error"]


def test_errors_inside_and_before_a_stream(http: httpx.Client) -> None:
    # Before the stream: a real status and the envelope, even for a body sent as a form (curl -d).
    response = http.post(
        "/api/chat",
        content=json.dumps({"model": BASE_MODEL, "messages": ASK, "options": {"temperature": 9}}).encode(),
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 400 and "options.temperature" in response.json()["error"]
    # A prompt longer than the context: refused before the stream starts.
    long = http.post("/api/generate", json={"model": BASE_MODEL, "prompt": "word " * (N_CTX * 2)})
    assert long.status_code == 400 and set(long.json()) == {"error"}


def test_a_second_port_serves_ollamas_clients(base_model_path: Path, tmp_path: Path) -> None:
    port = free_port()
    running = start_server(
        tmp_path / "two-ports",
        f"models:\n  - name: {BASE_MODEL}\n    file: {base_model_path}\n",
        {"LOCALCHAT_OLLAMA_PORT": str(port)},
    )
    try:
        second = ollama.Client(host=f"http://127.0.0.1:{port}", timeout=120)
        assert f"{BASE_MODEL}:latest" in {model.model for model in second.list().models}
        assert second.generate(model=BASE_MODEL, prompt="Hi", options={"num_predict": 2}).done
        # The first port serves everything as before.
        assert httpx.get(f"{running.base_url}/api/version", timeout=30).status_code == 200
        assert httpx.get(f"http://127.0.0.1:{port}/v1/models", timeout=30).status_code == 200
    finally:
        stop(running)
