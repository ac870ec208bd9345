"""Memory across model switches, in CI: each request unloads one model and loads the other; after a
warm-up, RSS may not grow by more than a few MiB per dozens of cycles (the full 200-cycle run is
scripts/switch_memory.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.switching import run_switch_cycles

NUM_CYCLES = 40
NUM_WARM_UP = 10
# A bound on memory, not on speed: a leak of a few hundred KiB a cycle crosses it.
MAX_RSS_GROWTH_MIB = 15


def test_switch_cycles_leave_rss_flat(
    base_model_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = run_switch_cycles(base_model_path, tmp_path, num_cycles=NUM_CYCLES, num_warm_up=NUM_WARM_UP)
    with capsys.disabled():
        print(f"\n{report.summary()}")
    assert report.num_loads >= NUM_CYCLES + NUM_WARM_UP
    assert report.rss_growth_mib <= MAX_RSS_GROWTH_MIB, report.summary()
    assert report.end.num_threads <= report.warm.num_threads + 2, report.summary()
