"""Real servers for the integration tests: each a `localchat serve` subprocess with its own catalog
and settings, on a free port of 127.0.0.1."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openai

POLL_SECONDS = 0.02
N_CTX = 2048
STARTUP_SECONDS = 180


@dataclass(frozen=True)
class RunningServer:
    base_url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/v1"

    def client(self, **kwargs: object) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.api_url, api_key="unused", max_retries=0, timeout=120, **kwargs)

    def async_client(self, **kwargs: object) -> openai.AsyncOpenAI:
        return openai.AsyncOpenAI(
            base_url=self.api_url, api_key="unused", max_retries=0, timeout=120, **kwargs
        )

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start_server(workdir: Path, catalog: str, env: Mapping[str, str | None]) -> RunningServer:
    """Serve `catalog` (models.yaml text) from `workdir`; returns once /health answers 200.
    An `env` value of None removes that variable."""
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "models.yaml").write_text(catalog, encoding="utf-8")
    port = free_port()
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
