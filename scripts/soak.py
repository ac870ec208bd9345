"""Soak the server: 8 concurrent streams for minutes, clients that hang up at random points (before
the first byte, during prefill, mid-stream, inside a UTF-8 character, while the model loads) and
slow readers. Exits non-zero on any mismatch or leak.

    .venv/bin/python scripts/soak.py --minutes 10
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from server.models.bundled import assemble_bundled_model  # noqa: E402
from tests.support.soak import run_soak  # noqa: E402

BASE_FILE = REPO_ROOT / "models" / "gemma-3-270m-q4_k_m.gguf"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=0, help="seeds the clients' random choices")
    parser.add_argument("--max-rss-growth-mib", type=float, default=200.0)
    # After the warm-up, memory stays flat: the bound a 10-minute soak is held to.
    parser.add_argument("--max-rss-growth-percent", type=float, default=5.0)
    args = parser.parse_args()
    if not BASE_FILE.exists():
        assemble_bundled_model(BASE_FILE)
    seconds = args.minutes * 60
    with tempfile.TemporaryDirectory(prefix="localchat-soak-") as folder:
        report, server = asyncio.run(
            run_soak(
                BASE_FILE,
                Path(folder),
                seconds=seconds,
                warm_up_seconds=min(60.0, seconds / 4),
                seed=args.seed,
            )
        )
        problems = report.problems(
            max_rss_growth_mib=args.max_rss_growth_mib, max_rss_growth_percent=args.max_rss_growth_percent
        )
        print(report.summary())
        for problem in problems[:20]:
            print(f"PROBLEM: {problem}")
        if problems:
            print(f"server log tail:\n{server.log_text()[-4000:]}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
