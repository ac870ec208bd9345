"""Extra real servers with their own catalog and settings, for the model pool tests."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from .conftest import N_CTX, STARTUP_SECONDS, RunningServer, _free_port

POLL_SECONDS = 0.02


def start_server(workdir: Path, catalog: str, env: Mapping[str, str | None]) -> RunningServer:
    """Serve `catalog` (models.yaml text) from `workdir`; returns once /health answers 200.
    An `env` value of None removes that variable."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "models.yaml").write_text(catalog, encoding="utf-8")
    port = _free_port()
    log_path = workdir / "server.log"
    full_env = {**os.environ, "LOCALCHAT_N_CTX": str(N_CTX), "LOCALCHAT_N_THREADS": str(os.cpu_count() or 2)}
    for key, value in env.items():
        if value is None:
            full_env.pop(key, None)
        else:
            full_env[key] = value
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "server", "serve", "--models-dir", str(workdir), "--port", str(port)],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=full_env,
        )
    running = RunningServer(f"http://127.0.0.1:{port}", process, log_path)
    deadline = time.monotonic() + STARTUP_SECONDS
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"server exited during startup:\n{running.log_text()}")
        try:
            if httpx.get(f"{running.base_url}/health", timeout=2).status_code == 200:
                return running
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"server not healthy after {STARTUP_SECONDS}s:\n{running.log_text()}")
        time.sleep(0.2)


def stop(running: RunningServer) -> None:
    running.process.terminate()
    try:
        running.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        running.process.kill()


def model_card(http: httpx.Client, name: str) -> dict[str, Any]:
    response = http.get(f"/v1/models/{name}")
    response.raise_for_status()
    return response.json()


def wait_until(condition: Any, *, timeout: float = 60.0, what: str = "condition") -> None:
    """Poll `condition()` until it is true; fail after `timeout` seconds (a bound, not a speed claim)."""
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"{what} not reached within {timeout}s"
        time.sleep(POLL_SECONDS)
