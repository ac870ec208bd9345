"""GET /metrics in the Prometheus text format.

Each app owns its CollectorRegistry (never the process-global one), so tests that build several
apps do not collide. Counters and histograms are fed from finished request records; queue depth,
running sequences and loaded models are read from the pool at scrape time, so they are never stale.
"""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from server.models.pool import ModelPool
from server.service.middleware.request_tracking import RequestRecord
from server.service.open_paths import METRICS_PATH

router = APIRouter()

# First tokens on CPU take tens of milliseconds for a short prompt, seconds for a long one.
TTFT_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
DURATION_BUCKETS = (0.005, 0.025, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)


class _PoolCollector(Collector):
    """Gauges read from the loaded models' engines each time Prometheus scrapes."""

    def __init__(self, pool: ModelPool) -> None:
        self._pool = pool

    @staticmethod
    def _families() -> tuple[GaugeMetricFamily, GaugeMetricFamily, GaugeMetricFamily]:
        return (
            GaugeMetricFamily(
                "localchat_queue_depth", "Requests waiting for a free sequence slot", labels=["model"]
            ),
            GaugeMetricFamily("localchat_running_sequences", "Sequences being decoded", labels=["model"]),
            GaugeMetricFamily("localchat_loaded_models", "Models resident in memory"),
        )

    @staticmethod
    def _step_families() -> tuple[CounterMetricFamily, CounterMetricFamily]:
        return (
            CounterMetricFamily("localchat_decode_steps", "Steps of the decode loop", labels=["model"]),
            CounterMetricFamily(
                "localchat_step_seconds",
                "Decode-loop time by phase: llama_decode, sampling, and the rest",
                labels=["model", "phase"],
            ),
        )

    def describe(self) -> Iterator[Metric]:
        yield from self._families()
        yield from self._step_families()

    def collect(self) -> Iterator[Metric]:
        waiting, running, loaded = self._families()
        steps, seconds = self._step_families()
        models = self._pool.loaded
        for model in models:
            waiting.add_metric([model.name], model.engine.num_waiting)
            running.add_metric([model.name], model.engine.num_running)
            times = model.engine.step_times
            steps.add_metric([model.name], times.num_steps)
            for phase, value in (("decode", times.decode), ("sample", times.sample), ("other", times.other)):
                seconds.add_metric([model.name, phase], value)
        loaded.add_metric([], len(models))
        yield from (waiting, running, loaded, steps, seconds)


class Metrics:
    def __init__(self, pool: ModelPool) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "localchat_requests",
            "HTTP requests by route and status",
            ["route", "status"],
            registry=self.registry,
        )
        self.prompt_tokens = Counter(
            "localchat_prompt_tokens",
            "Prompt tokens of finished generations",
            ["model"],
            registry=self.registry,
        )
        self.completion_tokens = Counter(
            "localchat_completion_tokens", "Tokens generated", ["model"], registry=self.registry
        )
        self.time_to_first_token = Histogram(
            "localchat_time_to_first_token_seconds",
            "From request arrival to the first generated text",
            ["model"],
            buckets=TTFT_BUCKETS,
            registry=self.registry,
        )
        self.request_duration = Histogram(
            "localchat_request_duration_seconds",
            "From request arrival to the last byte of the response",
            ["route"],
            buckets=DURATION_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_PoolCollector(pool))

    def observe(self, record: RequestRecord) -> None:
        self.requests.labels(route=record.route, status=str(record.status)).inc()
        self.request_duration.labels(route=record.route).observe(record.duration_seconds)
        if record.model is None:
            return
        if record.ttft_seconds is not None:
            self.time_to_first_token.labels(model=record.model).observe(record.ttft_seconds)
        if record.num_prompt_tokens is not None:
            self.prompt_tokens.labels(model=record.model).inc(record.num_prompt_tokens)
        if record.num_completion_tokens is not None:
            self.completion_tokens.labels(model=record.model).inc(record.num_completion_tokens)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


@router.get(METRICS_PATH, include_in_schema=False)
async def metrics(request: Request) -> Response:
    return Response(request.app.state.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)
