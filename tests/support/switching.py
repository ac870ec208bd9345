"""Model switches on the real server: two catalog names for the bundled file and room for one model,
so each request unloads one model and loads the other. Memory is sampled after every cycle; the
median of the first samples after a warm-up against the median of the last ones is what the cycles
between left behind (a single sample swings by ±10 MiB with where the allocator happens to be).

Used by scripts/switch_memory.py (200 cycles) and tests/integration/test_switch_memory.py (CI)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.integration.model_servers import start_server, stop
from tests.support.soak import ProcessSample, sample_process

NAMES = ("switch-a", "switch-b")
# The share of the samples on each side of the comparison.
MEDIAN_SHARE = 3


@dataclass(frozen=True)
class SwitchReport:
    num_cycles: int
    seconds: float
    # One sample after each cycle.
    samples: list[ProcessSample]
    num_loads: int

    @property
    def warm(self) -> ProcessSample:
        return self.samples[0]

    @property
    def end(self) -> ProcessSample:
        return self.samples[-1]

    def _median_growth_mib(self, kib: Callable[[ProcessSample], int]) -> float:
        count = max(1, len(self.samples) // MEDIAN_SHARE)
        first = statistics.median(kib(sample) for sample in self.samples[:count])
        last = statistics.median(kib(sample) for sample in self.samples[-count:])
        return (last - first) / 1024

    @property
    def rss_growth_mib(self) -> float:
        return self._median_growth_mib(lambda sample: sample.rss_kib)

    @property
    def anon_growth_mib(self) -> float:
        return self._median_growth_mib(lambda sample: sample.rss_anon_kib)

    def summary(self) -> str:
        warm, end = self.warm, self.end
        return (
            f"{self.num_cycles} load/unload cycles in {self.seconds:.0f} s ({self.num_loads} loads in all); "
            f"RSS after warm-up {warm.rss_kib / 1024:.1f} MiB, at the end {end.rss_kib / 1024:.1f} MiB "
            f"(medians: {self.rss_growth_mib:+.1f} MiB, anonymous {self.anon_growth_mib:+.1f} MiB); "
            f"threads {warm.num_threads} -> {end.num_threads}, fds {warm.num_fds} -> {end.num_fds}"
        )


def _catalog(model: Path) -> str:
    entries = "".join(f"  - name: {name}\n    file: {model}\n" for name in NAMES)
    return f"settings:\n  max_loaded_models: 1\nmodels:\n{entries}"


def _one_token(http: httpx.Client, name: str) -> None:
    response = http.post("/v1/completions", json={"model": name, "prompt": "Hello", "max_tokens": 1})
    response.raise_for_status()


def run_switch_cycles(model: Path, workdir: Path, *, num_cycles: int, num_warm_up: int) -> SwitchReport:
    """`num_warm_up` then `num_cycles` requests, each to the model not loaded (one load, one unload)."""
    server = start_server(workdir, _catalog(model), {"LOCALCHAT_DEFAULT_MODEL": NAMES[0]})
    try:
        with httpx.Client(base_url=server.base_url, timeout=120) as http:
            for index in range(num_warm_up):
                _one_token(http, NAMES[(index + 1) % 2])
            samples = [sample_process(server.process.pid)]
            started = time.perf_counter()
            for index in range(num_cycles):
                _one_token(http, NAMES[(num_warm_up + index + 1) % 2])
                samples.append(sample_process(server.process.pid))
            seconds = time.perf_counter() - started
            num_loads = sum(http.get(f"/v1/models/{name}").json()["num_loads"] for name in NAMES)
        return SwitchReport(num_cycles, seconds, samples, num_loads)
    finally:
        stop(server)
