"""Memory across model switches: the bundled model under two names with room for one, so every
request unloads one model and loads the other; RSS after a warm-up against RSS at the end.

    .venv/bin/python scripts/switch_memory.py --cycles 200

Exits non-zero when RSS grew by more than --max-growth-mib (default 15) over the cycles.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from tests.support.bundled import bundled_model_path  # noqa: E402
from tests.support.switching import run_switch_cycles  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cycles", type=int, default=200)
    parser.add_argument("--warm-up", type=int, default=20)
    parser.add_argument("--max-growth-mib", type=float, default=15.0)
    args = parser.parse_args()
    base_file = bundled_model_path()
    with tempfile.TemporaryDirectory(prefix="localchat-switch-") as folder:
        report = run_switch_cycles(base_file, Path(folder), num_cycles=args.cycles, num_warm_up=args.warm_up)
    print(report.summary())
    if report.rss_growth_mib > args.max_growth_mib:
        print(f"PROBLEM: RSS grew by {report.rss_growth_mib:.1f} MiB (limit {args.max_growth_mib:g})")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
