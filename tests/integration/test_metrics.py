"""GET /metrics on the real server: valid Prometheus text whose counters move with each request."""

from __future__ import annotations

import time

import httpx
import openai
from prometheus_client.parser import text_string_to_metric_families

from .conftest import BASE_MODEL

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def _scrape(http: httpx.Client) -> Samples:
    response = http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def test_metrics_counters_move_after_a_request(http: httpx.Client, client: openai.OpenAI) -> None:
    model = (("model", BASE_MODEL),)
    route = (("route", "/v1/completions"), ("status", "200"))
    before = _scrape(http)
    reply = client.completions.create(model=BASE_MODEL, prompt="The sky is", max_tokens=6, temperature=0)
    after = _scrape(http)
    assert reply.usage is not None

    def moved(name: str, labels: tuple[tuple[str, str], ...]) -> float:
        return after[(name, labels)] - before.get((name, labels), 0.0)

    assert moved("localchat_requests_total", route) == 1
    assert moved("localchat_prompt_tokens_total", model) == reply.usage.prompt_tokens
    assert moved("localchat_completion_tokens_total", model) == reply.usage.completion_tokens
    assert moved("localchat_time_to_first_token_seconds_count", model) == 1
    assert moved("localchat_request_duration_seconds_count", (("route", "/v1/completions"),)) == 1
    assert after[("localchat_loaded_models", ())] >= 1
    assert after[("localchat_queue_depth", model)] == 0
    assert after[("localchat_running_sequences", model)] == 0


def test_metrics_stream_counts_tokens_too(http: httpx.Client, client: openai.OpenAI) -> None:
    key = ("localchat_completion_tokens_total", (("model", BASE_MODEL),))
    before = _scrape(http).get(key, 0.0)
    stream = client.completions.create(
        model=BASE_MODEL,
        prompt="Count: one, two,",
        max_tokens=8,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    usage = [chunk.usage for chunk in stream if chunk.usage is not None]
    assert usage
    # A stream is counted when its response has closed, a moment after the client read [DONE].
    deadline = time.monotonic() + 5
    while _scrape(http).get(key, 0.0) == before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _scrape(http)[key] - before == usage[-1].completion_tokens


def test_metrics_request_id_is_returned(http: httpx.Client) -> None:
    response = http.get("/v1/models", headers={"X-Request-Id": "it-test-7"})
    assert response.headers["x-request-id"] == "it-test-7"
