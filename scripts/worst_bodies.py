"""How long the worst bodies take: for each text shape that costs llama.cpp's tokenizer the most, a
prompt at the body limit on every route that tokenizes (refused: it cannot fit the context), and
/tokenize on the same text (answered), with the slowest /health answer meanwhile.

    .venv/bin/python scripts/worst_bodies.py [--megabytes 8]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from tests.integration.model_servers import start_server, stop  # noqa: E402
from tests.support.bundled import bundled_model_path  # noqa: E402
from tests.support.worst_bodies import UNITS, bodies, post  # noqa: E402

ROUTES = ("/v1/completions", "/v1/chat/completions", "/v1/embeddings", "/tokenize")


def _slowest_health(url: str, stop_event: threading.Event, slowest: list[float]) -> None:
    with httpx.Client(timeout=120) as http:
        while not stop_event.is_set():
            started = time.perf_counter()
            http.get(url)
            slowest[0] = max(slowest[0], time.perf_counter() - started)
            stop_event.wait(0.1)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--megabytes", type=float, default=8.0)
    args = parser.parse_args()
    base_file = bundled_model_path()
    num_bytes = int(args.megabytes * 1024 * 1024)
    with tempfile.TemporaryDirectory(prefix="localchat-bodies-") as folder:
        server = start_server(
            Path(folder),
            f"models:\n  - name: gemma-3-270m\n    file: {base_file}\n",
            {"LOCALCHAT_MAX_BODY_BYTES": str(num_bytes + 4096)},
        )
        try:
            print(f"{'shape':18s}" + "".join(f"{route:>24s}" for route in ROUTES) + "   slowest /health")
            with httpx.Client(base_url=server.base_url, timeout=600) as http:
                for shape in UNITS:
                    routes = bodies(shape, num_bytes)
                    stop_event, slowest = threading.Event(), [0.0]
                    watcher = threading.Thread(
                        target=_slowest_health, args=(f"{server.base_url}/health", stop_event, slowest)
                    )
                    watcher.start()
                    cells = []
                    for route in ROUTES:
                        answer = post(http, route, routes[route])
                        cells.append(f"{answer.status} in {answer.seconds:6.2f} s")
                    stop_event.set()
                    watcher.join()
                    print(
                        f"{shape:18s}" + "".join(f"{cell:>24s}" for cell in cells) + f"   {slowest[0]:.2f} s"
                    )
        finally:
            stop(server)
    return 0


if __name__ == "__main__":
    sys.exit(main())
