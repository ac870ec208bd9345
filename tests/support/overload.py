"""Overload: many more concurrent streaming clients than one model has slots and queue for. Those past
the queue must get 429 with Retry-After at once; every admitted stream must finish with all its
tokens; nothing may be a 5xx; memory must stay bounded. Used by scripts/overload.py (200 clients,
8 slots, 64 queued) and tests/integration/test_overload.py (a smaller CI run)."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.integration.model_servers import RunningServer, start_server, stop
from tests.support.soak import sample_process

MODEL = "gemma-3-270m"
# Gemma's <eos> and <end_of_turn>: banned, so every admitted stream has exactly max_tokens tokens.
NO_END = {"1": -100, "106": -100}


@dataclass
class OverloadReport:
    num_clients: int
    statuses: Counter[int] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    num_complete_streams: int = 0
    refusal_seconds: list[float] = field(default_factory=list)
    seconds: float = 0.0
    rss_start_mib: float = 0.0
    rss_peak_mib: float = 0.0
    rss_end_mib: float = 0.0

    def summary(self) -> str:
        refusals = sorted(self.refusal_seconds)
        slowest = f"{refusals[-1]:.2f} s" if refusals else "-"
        return (
            f"{self.num_clients} streaming clients in {self.seconds:.1f} s: "
            f"statuses {dict(sorted(self.statuses.items()))}, "
            f"{self.num_complete_streams} admitted streams complete with every token, slowest 429 {slowest}; "
            f"RSS {self.rss_start_mib:.0f} MiB before, {self.rss_peak_mib:.0f} MiB at the peak, "
            f"{self.rss_end_mib:.0f} MiB after; problems: {len(self.problems)}"
        )


async def _client(http: httpx.AsyncClient, index: int, max_tokens: int, report: OverloadReport) -> None:
    body = {
        "model": MODEL,
        "prompt": f"Client {index} writes a story about",
        "max_tokens": max_tokens,
        "stream": True,
        "logit_bias": NO_END,
        "temperature": 0,
    }
    started = time.perf_counter()
    async with http.stream("POST", "/v1/completions", json=body) as response:
        report.statuses[response.status_code] += 1
        if response.status_code == 429:
            report.refusal_seconds.append(time.perf_counter() - started)
            await response.aread()
            if not response.headers.get("retry-after", "").isdigit():
                report.problems.append(f"client {index}: 429 without Retry-After")
            return
        if response.status_code != 200:
            report.problems.append(
                f"client {index}: status {response.status_code}: {(await response.aread())[:200]!r}"
            )
            return
        num_chunks, done = 0, False
        async for line in response.aiter_lines():
            if line == "data: [DONE]":
                done = True
            elif line.startswith("data: "):
                chunk = json.loads(line[6:])
                if "error" in chunk:
                    report.problems.append(f"client {index}: error event {chunk['error']}")
                elif chunk["choices"] and chunk["choices"][0]["text"]:
                    num_chunks += 1
        # A token may end inside a UTF-8 character, held back and sent with the next one.
        if not done or not max_tokens // 2 <= num_chunks <= max_tokens:
            report.problems.append(f"client {index}: {num_chunks} text chunks of {max_tokens}, done={done}")
        else:
            report.num_complete_streams += 1


def _watch_rss(pid: int, stop_event: threading.Event, report: OverloadReport) -> None:
    while not stop_event.is_set():
        report.rss_peak_mib = max(report.rss_peak_mib, sample_process(pid).rss_kib / 1024)
        stop_event.wait(0.2)


async def run_overload(server: RunningServer, *, num_clients: int, max_tokens: int) -> OverloadReport:
    report = OverloadReport(num_clients)
    pid = server.process.pid
    report.rss_start_mib = report.rss_peak_mib = sample_process(pid).rss_kib / 1024
    stop_event = threading.Event()
    watcher = threading.Thread(target=_watch_rss, args=(pid, stop_event, report), daemon=True)
    watcher.start()
    limits = httpx.Limits(max_connections=num_clients + 8, max_keepalive_connections=num_clients + 8)
    started = time.perf_counter()
    try:
        async with httpx.AsyncClient(base_url=server.base_url, timeout=600, limits=limits) as http:
            await asyncio.gather(*(_client(http, index, max_tokens, report) for index in range(num_clients)))
    finally:
        report.seconds = time.perf_counter() - started
        stop_event.set()
        watcher.join()
    report.rss_end_mib = sample_process(pid).rss_kib / 1024
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        card = http.get(f"/v1/models/{MODEL}").json()
        if card["num_running"] or card["num_waiting"]:
            report.problems.append(f"left over: {card['num_running']} running, {card['num_waiting']} waiting")
    return report


def start_overload_server(workdir: Path, model: Path, *, n_parallel: int, max_queue: int) -> RunningServer:
    return start_server(
        workdir,
        f"models:\n  - name: {MODEL}\n    file: {model}\n",
        {
            "LOCALCHAT_N_PARALLEL": str(n_parallel),
            "LOCALCHAT_MAX_QUEUE": str(max_queue),
            "LOCALCHAT_DEFAULT_MODEL": MODEL,
        },
    )


__all__ = ["OverloadReport", "run_overload", "start_overload_server", "stop"]
