"""An abandoned stream stops generating: the next request is not queued behind it."""

from __future__ import annotations

import time

import httpx
import openai

from .conftest import BASE_MODEL, RunningServer

LONG_STORY = [{"role": "user", "content": "Tell me a very long story about the sea."}]
ABANDONED_TOKENS = 1500


def _tokens_per_second(client: openai.OpenAI) -> float:
    started = time.perf_counter()
    response = client.completions.create(
        model=BASE_MODEL, prompt="The sea", max_tokens=60, temperature=0, logit_bias={"1": -100, "106": -100}
    )
    elapsed = time.perf_counter() - started
    assert response.usage is not None
    return response.usage.completion_tokens / elapsed


def test_disconnect_stops_generation(server: RunningServer, client: openai.OpenAI) -> None:
    rate = _tokens_per_second(client)
    body = {
        "model": BASE_MODEL,
        "messages": LONG_STORY,
        "max_tokens": ABANDONED_TOKENS,
        "stream": True,
        "temperature": 1.0,
        "seed": 3,
        "logit_bias": {"1": -100, "106": -100},
        "stop": ["zzzz-never"],
    }
    with httpx.stream("POST", f"{server.api_url}/chat/completions", json=body, timeout=60) as response:
        received = 0
        for line in response.iter_lines():
            if line.startswith("data:"):
                received += 1
            if received >= 5:
                break
    # The abandoned request alone would keep the model busy for this long:
    remaining_seconds = (ABANDONED_TOKENS - received) / rate
    started = time.perf_counter()
    follow_up = client.completions.create(model=BASE_MODEL, prompt="Hello", max_tokens=5, temperature=0)
    waited = time.perf_counter() - started
    assert follow_up.choices[0].text is not None
    assert waited < 0.2 * remaining_seconds, (waited, remaining_seconds)
