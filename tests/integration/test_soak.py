"""A one-minute soak in CI: 8 concurrent streams, clients that hang up at every kind of point, slow
readers. Full streams equal their solo runs, nothing is left running, KV and threads come back."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.soak import DISCONNECT_KINDS, NUM_STREAMS, Soak, start_soak_server

from .model_servers import stop

SOAK_SECONDS = 60
MIN_DISCONNECTS = 50
# Generous bounds: two shared, noisy cores; these catch leaks and stalls, not slowness.
MAX_RSS_GROWTH_MIB = 200
MAX_P99_TTFT_SECONDS = 30


@pytest.mark.asyncio
async def test_soak_with_abrupt_disconnects(
    base_model_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    server = start_soak_server(tmp_path, base_model_path)
    try:
        soak = Soak(server, seconds=SOAK_SECONDS, seed=1, log=lambda line: None)
        report = await soak.run(warm_up_seconds=15)
    finally:
        stop(server)
    with capsys.disabled():
        print(f"\n{report.summary()}")
    assert report.problems(max_rss_growth_mib=MAX_RSS_GROWTH_MIB) == [], server.log_text()[-4000:]
    assert report.seconds >= SOAK_SECONDS
    assert report.num_disconnects >= MIN_DISCONNECTS, report.disconnects
    assert all(report.disconnects[kind] > 0 for kind in DISCONNECT_KINDS), report.disconnects
    assert report.num_completed >= NUM_STREAMS and report.num_slow_completed > 0
    assert report.ttft_percentile(0.99) < MAX_P99_TTFT_SECONDS
