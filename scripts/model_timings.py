"""How long model loads and model switches take, measured on the real bundled model.

    .venv/bin/python scripts/model_timings.py [--model PATH] [--rounds 10] [--threads N]

Prints:
- cold load: ModelPool.acquire of a model that is not resident (header, weights, context, decode
  loop), in-process, first run and median of three;
- switch between two resident models: one-token requests over HTTP that stay on one model against
  requests that alternate between two resident models (the same file under two names, so both
  are real, separate llama.cpp contexts), median latency of each and the difference;
- switch with eviction: the same alternation with max_loaded_models=1, so each request unloads one
  model and loads the other.
Each prompt starts with a fresh number, so no request reuses another's cached prefix.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from server.config import Settings  # noqa: E402
from server.models.catalog import Catalog  # noqa: E402
from server.models.pool import ModelPool  # noqa: E402

DEFAULT_MODEL = REPO_ROOT / "models" / "gemma-3-270m-q4_k_m.gguf"
N_CTX = 2048
STARTUP_SECONDS = 180


def _catalog_text(model: Path) -> str:
    return f"models:\n  - name: model-a\n    file: {model}\n  - name: model-b\n    file: {model}\n"


async def _pool_timings(model: Path, threads: int, repeats: int) -> tuple[list[float], float]:
    """Seconds of each cold ModelPool.acquire, and the median seconds of acquiring a resident model."""
    with tempfile.TemporaryDirectory() as directory:
        (Path(directory) / "models.yaml").write_text(_catalog_text(model))
        settings = Settings(models_dir=Path(directory), n_ctx=N_CTX, n_threads=threads)
        cold, resident = [], []
        for _ in range(repeats):
            pool = ModelPool(Catalog.from_settings(settings), settings)
            started = time.perf_counter()
            lease = await pool.acquire("model-a")
            cold.append(time.perf_counter() - started)
            lease.release()
            for _ in range(1000):
                started = time.perf_counter()
                lease = await pool.acquire("model-a")
                resident.append(time.perf_counter() - started)
                lease.release()
            await pool.close()
        return cold, statistics.median(resident)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def _server(model: Path, threads: int, max_loaded_models: int) -> Iterator[str]:
    with tempfile.TemporaryDirectory() as directory:
        (Path(directory) / "models.yaml").write_text(_catalog_text(model))
        port = _free_port()
        env = {
            **os.environ,
            "LOCALCHAT_N_CTX": str(N_CTX),
            "LOCALCHAT_N_THREADS": str(threads),
            "LOCALCHAT_DEFAULT_MODEL": "model-a",
            "LOCALCHAT_PRELOAD": "model-b" if max_loaded_models > 1 else "",
            "LOCALCHAT_MAX_LOADED_MODELS": str(max_loaded_models),
            "LOCALCHAT_LOG_LEVEL": "warning",
        }
        process = subprocess.Popen(
            [sys.executable, "-m", "server", "serve", "--models-dir", directory, "--port", str(port)],
            env=env,
            cwd=REPO_ROOT,
        )
        base_url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + STARTUP_SECONDS
            while True:
                try:
                    if httpx.get(f"{base_url}/health", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the server did not start")
                time.sleep(0.2)
            yield base_url
        finally:
            process.terminate()
            process.wait(timeout=30)


def _request_seconds(http: httpx.Client, model: str, number: int) -> float:
    body = {"model": model, "prompt": f"{number}. The weather today is", "max_tokens": 1, "temperature": 0}
    started = time.perf_counter()
    response = http.post("/v1/completions", json=body)
    elapsed = time.perf_counter() - started
    response.raise_for_status()
    return elapsed


def _wait_resident(http: httpx.Client, names: list[str]) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while not all(http.get(f"/v1/models/{name}").json()["loaded"] for name in names):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{names} not resident")
        time.sleep(0.1)


def _switch_timings(model: Path, threads: int, rounds: int) -> tuple[float, float]:
    """Median request seconds staying on model-a, and alternating model-a/model-b (both resident)."""
    with (
        _server(model, threads, max_loaded_models=2) as base_url,
        httpx.Client(base_url=base_url, timeout=120) as http,
    ):
        _wait_resident(http, ["model-a", "model-b"])
        number = 0
        for name in ("model-a", "model-b", "model-a"):  # warm both decode paths
            number += 1
            _request_seconds(http, name, number)
        stay, switch = [], []
        for _ in range(rounds):
            number += 1
            stay.append(_request_seconds(http, "model-a", number))  # after model-a: no switch
            number += 1
            switch.append(_request_seconds(http, "model-b", number))  # after model-a: a switch
            number += 1
            switch.append(_request_seconds(http, "model-a", number))  # after model-b: a switch
        return statistics.median(stay), statistics.median(switch)


def _evicting_switch(model: Path, threads: int, rounds: int) -> float:
    with (
        _server(model, threads, max_loaded_models=1) as base_url,
        httpx.Client(base_url=base_url, timeout=120) as http,
    ):
        seconds = [_request_seconds(http, ("model-b", "model-a")[i % 2], i) for i in range(rounds)]
        return statistics.median(seconds)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args()
    loads, resident_acquire = asyncio.run(_pool_timings(args.model, args.threads, repeats=3))
    stay, switch = _switch_timings(args.model, args.threads, args.rounds)
    evicting = _evicting_switch(args.model, args.threads, args.rounds)
    rows = [
        ("model", f"{args.model.name}, {args.threads} threads, n_ctx {N_CTX}"),
        ("cold load (pool.acquire)", f"first {loads[0]:.2f} s, median of 3 {statistics.median(loads):.2f} s"),
        ("acquire of a resident model", f"{resident_acquire * 1e6:.1f} us (median of 3000)"),
        ("1-token request, same model", f"{stay * 1000:.1f} ms (median of {args.rounds})"),
        ("1-token request, other resident", f"{switch * 1000:.1f} ms (median of {2 * args.rounds})"),
        ("switch latency, both resident", f"{(switch - stay) * 1000:+.1f} ms"),
        (
            "1-token request, with eviction",
            f"{evicting:.2f} s (max_loaded_models=1, median of {args.rounds})",
        ),
    ]
    for label, value in rows:
        print(f"{label + ':':34}{value}")


if __name__ == "__main__":
    main()
