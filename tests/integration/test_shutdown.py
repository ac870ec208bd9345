"""SIGTERM with a stream in flight: /health says shutting_down, new work gets 503, the stream goes
on through the grace period, then ends with a final chunk and [DONE], and the process exits 0."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path

import httpx
import pytest

from .conftest import BASE_MODEL
from .model_servers import start_server, stop

GRACE_SECONDS = 3.0
# Far more than fits in the grace period, and the end-of-turn tokens are banned: only the drain ends it.
LONG_STREAM = {
    "model": BASE_MODEL,
    "prompt": "Once upon a time",
    "max_tokens": 1500,
    "temperature": 0.8,
    "seed": 5,
    "stream": True,
    "stream_options": {"include_usage": True},
    "logit_bias": {"1": -100, "106": -100},
}
CHUNKS_BEFORE_SIGNAL = 3


def test_sigterm_ends_stream_in_flight_with_final_chunk(
    base_model_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    server = start_server(
        tmp_path_factory.mktemp("shutdown"),
        f"models:\n  - name: {BASE_MODEL}\n    file: {base_model_path}\n",
        {"LOCALCHAT_SHUTDOWN_GRACE_SECONDS": str(GRACE_SECONDS)},
    )
    try:
        payloads: list[str] = []
        signalled_at = 0.0
        with httpx.stream("POST", f"{server.api_url}/completions", json=LONG_STREAM, timeout=60) as response:
            assert response.status_code == 200
            for line in response.iter_lines():
                if not line.startswith("data:"):
                    continue
                payloads.append(line.removeprefix("data:").strip())
                if len(payloads) == CHUNKS_BEFORE_SIGNAL:
                    server.process.send_signal(signal.SIGTERM)
                    signalled_at = time.monotonic()
                    health = httpx.get(f"{server.base_url}/health", timeout=5)
                    refused = httpx.post(f"{server.api_url}/completions", json=LONG_STREAM, timeout=5)
        ended_after = time.monotonic() - signalled_at
        exit_code = server.process.wait(timeout=30)
    finally:
        if server.process.poll() is None:
            stop(server)

    assert (health.status_code, health.json()) == (503, {"status": "shutting_down"})
    assert refused.status_code == 503
    assert refused.json()["error"]["code"] == "shutting_down"
    assert payloads[-1] == "[DONE]"
    chunks = [json.loads(payload) for payload in payloads[:-1]]
    # The stream kept producing text during the grace period, and was ended only after it.
    after_signal = chunks[CHUNKS_BEFORE_SIGNAL:]
    assert any(chunk["choices"] and chunk["choices"][0]["text"] for chunk in after_signal)
    assert ended_after >= GRACE_SECONDS * 0.9
    finish = [chunk["choices"][0]["finish_reason"] for chunk in chunks if chunk["choices"]]
    assert finish[-1] == "stop"
    assert all(reason is None for reason in finish[:-1])
    usage = chunks[-1]["usage"]
    assert 0 < usage["completion_tokens"] < LONG_STREAM["max_tokens"]
    assert exit_code == 0, server.log_text()
    assert "grace period over" in server.log_text()
