"""Metrics: valid Prometheus text, counters fed by request records, gauges read from the pool."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from server.engine.scheduler import StepTimes
from server.service.metrics import Metrics
from server.service.middleware.request_tracking import RequestRecord
from tests.unit.asgi_app import client_for, make_app


@dataclass
class _FakeEngine:
    num_waiting: int
    num_running: int
    step_times: StepTimes = field(default_factory=lambda: StepTimes(4, 1.0, 0.7, 0.1))


@dataclass
class _FakeModel:
    name: str
    engine: _FakeEngine


@dataclass
class _FakePool:
    loaded: list[_FakeModel] = field(default_factory=list)


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_metrics_gauges_are_read_from_the_pool_at_scrape_time() -> None:
    pool = _FakePool()
    metrics = Metrics(pool)  # type: ignore[arg-type]
    before = _samples(metrics.exposition().decode())
    assert before[("localchat_loaded_models", ())] == 0
    pool.loaded.append(_FakeModel("gemma", _FakeEngine(num_waiting=3, num_running=2)))
    after = _samples(metrics.exposition().decode())
    assert after[("localchat_loaded_models", ())] == 1
    assert after[("localchat_queue_depth", (("model", "gemma"),))] == 3
    assert after[("localchat_running_sequences", (("model", "gemma"),))] == 2


def test_metrics_observe_counts_tokens_and_timings() -> None:
    metrics = Metrics(_FakePool())  # type: ignore[arg-type]
    record = RequestRecord(
        "id", "POST", "/v1/completions", started=10.0, route="/v1/completions", status=200, model="gemma"
    )
    record.first_event_at, record.finished_at = 10.2, 11.0
    record.num_prompt_tokens, record.num_completion_tokens = 7, 5
    metrics.observe(record)
    metrics.observe(record)
    samples = _samples(metrics.exposition().decode())
    assert samples[("localchat_requests_total", (("route", "/v1/completions"), ("status", "200")))] == 2
    assert samples[("localchat_prompt_tokens_total", (("model", "gemma"),))] == 14
    assert samples[("localchat_completion_tokens_total", (("model", "gemma"),))] == 10
    assert samples[("localchat_time_to_first_token_seconds_count", (("model", "gemma"),))] == 2
    ttft_bucket = ("localchat_time_to_first_token_seconds_bucket", (("le", "0.25"), ("model", "gemma")))
    assert samples[ttft_bucket] == 2
    duration_sum = samples[("localchat_request_duration_seconds_sum", (("route", "/v1/completions"),))]
    assert abs(duration_sum - 2.0) < 1e-9


def test_metrics_registries_are_per_app(tmp_path: Path) -> None:
    # Two apps in one process: the process-global registry would refuse the second set of names.
    first, second = make_app(tmp_path), make_app(tmp_path)
    assert first.state.metrics.registry is not second.state.metrics.registry


async def test_metrics_endpoint_counts_requests_by_route_and_status(tmp_path: Path) -> None:
    async with client_for(make_app(tmp_path, api_key=["k"])) as client:
        await client.get("/v1/models/abc")  # 401 before routing, still labelled with its route
        await client.get("/no/such/route", headers={"Authorization": "Bearer k"})
        response = await client.get("/metrics", headers={"Authorization": "Bearer k"})
    assert response.headers["content-type"].startswith("text/plain")
    samples = _samples(response.text)
    refused = ("localchat_requests_total", (("route", "/v1/models/{model_id:path}"), ("status", "401")))
    assert samples[refused] == 1
    assert samples[("localchat_requests_total", (("route", "unmatched"), ("status", "404")))] == 1


def test_metrics_report_where_the_decode_loop_spends_its_time() -> None:
    metrics = Metrics(_FakePool([_FakeModel("m", _FakeEngine(0, 1))]))  # type: ignore[arg-type]
    samples = _samples(metrics.exposition().decode())
    assert samples[("localchat_decode_steps_total", (("model", "m"),))] == 4
    seconds = {
        phase: samples[("localchat_step_seconds_total", (("model", "m"), ("phase", phase)))]
        for phase in ("decode", "sample", "other")
    }
    assert seconds == {"decode": 0.7, "sample": 0.1, "other": 1.0 - 0.7 - 0.1}
