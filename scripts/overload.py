"""Overload the server: 200 streaming clients at once on one model with 8 slots and 64 queued (the
defaults). Prints the statuses (200 and 429 only), whether every admitted stream got all its tokens,
how fast a refusal came, and RSS before, at the peak and after.

    .venv/bin/python scripts/overload.py [--clients 200] [--max-tokens 64]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from tests.support.bundled import bundled_model_path  # noqa: E402
from tests.support.overload import run_overload, start_overload_server, stop  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--n-parallel", type=int, default=8)
    parser.add_argument("--max-queue", type=int, default=64)
    args = parser.parse_args()
    base_file = bundled_model_path()
    with tempfile.TemporaryDirectory(prefix="localchat-overload-") as folder:
        server = start_overload_server(
            Path(folder), base_file, n_parallel=args.n_parallel, max_queue=args.max_queue
        )
        try:
            report = asyncio.run(run_overload(server, num_clients=args.clients, max_tokens=args.max_tokens))
        finally:
            stop(server)
    print(report.summary())
    for problem in report.problems[:20]:
        print(f"PROBLEM: {problem}")
    return 1 if report.problems or set(report.statuses) - {200, 429} else 0


if __name__ == "__main__":
    sys.exit(main())
