"""API keys against the real server, through the openai client: missing and wrong keys get 401."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from .conftest import BASE_MODEL, RunningServer
from .model_servers import start_server, stop

KEYS = ("first-key", "second-key")
HELLO = [{"role": "user", "content": "Say hello."}]


@pytest.fixture(scope="module")
def keyed_server(base_model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    catalog = f"models:\n  - name: {BASE_MODEL}\n    file: {base_model_path}\n"
    running = start_server(tmp_path_factory.mktemp("keyed"), catalog, {"LOCALCHAT_API_KEY": ",".join(KEYS)})
    yield running
    stop(running)


def _client(server: RunningServer, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.api_url, api_key=key, max_retries=0, timeout=60)


@pytest.mark.parametrize("key", KEYS)
def test_auth_right_key_works_with_openai_client(keyed_server: RunningServer, key: str) -> None:
    reply = _client(keyed_server, key).chat.completions.create(
        model=BASE_MODEL, messages=HELLO, max_tokens=5, temperature=0
    )
    assert reply.choices[0].message.content is not None
    assert reply.usage is not None and reply.usage.completion_tokens > 0


def test_auth_wrong_key_is_401(keyed_server: RunningServer) -> None:
    with pytest.raises(openai.AuthenticationError) as caught:
        _client(keyed_server, "not-a-key").chat.completions.create(
            model=BASE_MODEL, messages=HELLO, max_tokens=5
        )
    assert caught.value.status_code == 401
    assert caught.value.code == "invalid_api_key"
    assert caught.value.body["type"] == "authentication_error"  # type: ignore[index]


def test_auth_missing_key_is_401(keyed_server: RunningServer) -> None:
    response = httpx.post(
        f"{keyed_server.api_url}/chat/completions", json={"messages": HELLO, "max_tokens": 5}, timeout=30
    )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"


def test_auth_streaming_with_key(keyed_server: RunningServer) -> None:
    stream = _client(keyed_server, KEYS[0]).chat.completions.create(
        model=BASE_MODEL, messages=HELLO, max_tokens=5, stream=True
    )
    finish_reasons = [chunk.choices[0].finish_reason for chunk in stream if chunk.choices]
    assert finish_reasons[-1] in ("stop", "length")


def test_auth_health_is_open_without_key(keyed_server: RunningServer) -> None:
    response = httpx.get(f"{keyed_server.base_url}/health", timeout=10)
    assert response.status_code == 200
    assert response.json()["status"] == "ok"
    assert httpx.get(f"{keyed_server.base_url}/metrics", timeout=10).status_code == 401
