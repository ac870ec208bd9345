"""Overload in CI: 60 streaming clients at once on one model with 4 slots and 8 queued. The rest get
429 with Retry-After, no 5xx, every admitted stream finishes with all its tokens, nothing is left
running. scripts/overload.py runs the full 200 clients on 8 slots and 64 queued."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.overload import run_overload, start_overload_server, stop

NUM_CLIENTS = 60
N_PARALLEL = 4
MAX_QUEUE = 8
MAX_TOKENS = 16
# A bound on memory, not on speed: the queue, not the crowd, sets what the server holds.
MAX_RSS_GROWTH_MIB = 150


async def test_overload_refuses_past_the_queue_and_finishes_every_admitted_stream(
    base_model_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = start_overload_server(tmp_path, base_model_path, n_parallel=N_PARALLEL, max_queue=MAX_QUEUE)
    try:
        report = await run_overload(server, num_clients=NUM_CLIENTS, max_tokens=MAX_TOKENS)
    finally:
        stop(server)
    with capsys.disabled():
        print(f"\n{report.summary()}")
    assert report.problems == []
    assert set(report.statuses) <= {200, 429}
    assert report.statuses[200] >= N_PARALLEL + MAX_QUEUE and report.statuses[429] > 0
    assert report.num_complete_streams == report.statuses[200]
    assert report.rss_peak_mib - report.rss_start_mib < MAX_RSS_GROWTH_MIB
