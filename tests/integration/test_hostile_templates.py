"""A downloaded model whose chat template is built to hurt cannot take the server down: a looping
template is refused at load, one that loops only on some requests fails those requests within its
time limit, and the other models, /health and SIGTERM keep working throughout."""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.support.gguf_copies import copy_with_template

from .conftest import BASE_MODEL, RunningServer
from .model_servers import model_card, start_server, stop

LOOPING_MODEL = "looping-template"
SOMETIMES_MODEL = "sometimes-looping-template"
NESTED_LOOPS = "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}"
# Renders the probe conversation (three messages) at load, then loops on longer conversations.
SOMETIMES_LOOPING = (
    "{% if messages|length > 3 %}" + NESTED_LOOPS + "{% endif %}"
    "{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}assistant:"
)
LONG_CONVERSATION = [
    {"role": "user", "content": "one"},
    {"role": "assistant", "content": "two"},
    {"role": "user", "content": "three"},
    {"role": "assistant", "content": "four"},
]
# The render limit is 1 s; the rest is this shared machine's slack.
ANSWER_SECONDS = 15


@pytest.fixture(scope="module")
def hostile_server(
    base_model_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    folder = tmp_path_factory.mktemp("hostile-templates")
    template_file = folder / "looping.jinja"
    template_file.write_text(NESTED_LOOPS + "{{ messages[0].content }}", encoding="utf-8")
    looping = copy_with_template(base_model_path, template_file, folder / "looping.gguf")
    sometimes = SOMETIMES_LOOPING.replace('"', '\\"')
    running = start_server(
        folder / "serve",
        f"""
settings:
  default_model: {BASE_MODEL}
models:
  - name: {BASE_MODEL}
    file: {base_model_path}
  - name: {LOOPING_MODEL}
    file: {looping}
  - name: {SOMETIMES_MODEL}
    file: {base_model_path}
    chat_template: "{sometimes}"
""",
        {},
    )
    yield running
    stop(running)


def test_looping_template_is_refused_at_load_and_the_catalog_answers(hostile_server: RunningServer) -> None:
    with httpx.Client(base_url=hostile_server.base_url, timeout=ANSWER_SECONDS) as http:
        models = {card["id"]: card for card in http.get("/v1/models").json()["data"]}
        assert "ran longer than 1 s" in models[LOOPING_MODEL]["template_error"]
        assert models[SOMETIMES_MODEL]["template_error"] is None
        assert models[BASE_MODEL]["template_error"] is None
        refused = http.post(
            "/v1/chat/completions",
            json={"model": LOOPING_MODEL, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4},
        )
        assert refused.status_code == 409
        assert refused.json()["error"]["code"] == "chat_template_invalid"
        assert http.get("/health").status_code == 200


def test_template_looping_on_one_request_fails_it_while_others_stream(hostile_server: RunningServer) -> None:
    client = hostile_server.client()
    streamed: list[str] = []

    def stream_on_base_model() -> None:
        stream = client.chat.completions.create(
            model=BASE_MODEL,
            messages=[{"role": "user", "content": "Tell me about the sea."}],
            max_tokens=48,
            stream=True,
        )
        streamed.extend(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)

    worker = threading.Thread(target=stream_on_base_model)
    worker.start()
    started = time.monotonic()
    with pytest.raises(openai.BadRequestError) as refused:
        client.chat.completions.create(model=SOMETIMES_MODEL, messages=LONG_CONVERSATION, max_tokens=4)
    assert time.monotonic() - started < ANSWER_SECONDS
    error = refused.value.body
    assert isinstance(error, dict) and error["code"] == "chat_template_error"
    assert "ran longer than 1 s" in error["message"]
    worker.join(timeout=120)
    assert not worker.is_alive() and "".join(streamed)
    # The same model still answers a conversation its template handles.
    short = client.chat.completions.create(
        model=SOMETIMES_MODEL, messages=LONG_CONVERSATION[:1], max_tokens=4
    )
    assert short.choices[0].finish_reason in ("stop", "length")
    with httpx.Client(base_url=hostile_server.base_url, timeout=ANSWER_SECONDS) as http:
        assert model_card(http, SOMETIMES_MODEL)["num_running"] == 0


def test_server_with_a_hostile_template_stops_on_sigterm(hostile_server: RunningServer) -> None:
    # Last in this module: it stops the module's server.
    hostile_server.process.send_signal(signal.SIGTERM)
    try:
        code = hostile_server.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        hostile_server.process.kill()
        pytest.fail("the server did not stop on SIGTERM")
    assert code == 0
