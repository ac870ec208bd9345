"""One real server per test session: uvicorn on 127.0.0.1, the real bundled model, plus a copy of it
with a Gemma chat template written into its GGUF metadata (the instruct path)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import openai
import pytest

from server.models.bundled import assemble_bundled_model

REPO_ROOT = Path(__file__).resolve().parents[2]
GEMMA_TEMPLATE = REPO_ROOT / "tests" / "fixtures" / "templates" / "gemma.jinja"
BASE_MODEL = "gemma-3-270m"
INSTRUCT_MODEL = "gemma-3-270m-it"
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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def base_model_path() -> Path:
    path = REPO_ROOT / "models" / "gemma-3-270m-q4_k_m.gguf"
    if not path.exists():
        assemble_bundled_model(path)
    return path


@pytest.fixture(scope="session")
def instruct_model_path(base_model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled base model with the Gemma instruct template added to its metadata."""
    target = tmp_path_factory.mktemp("instruct") / "gemma-3-270m-it-template.gguf"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "gguf.scripts.gguf_new_metadata",
            str(base_model_path),
            str(target),
            "--chat-template-file",
            str(GEMMA_TEMPLATE),
            "--force",
        ],
        check=True,
        capture_output=True,
    )
    return target


@pytest.fixture(scope="session")
def server(
    base_model_path: Path, instruct_model_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    models_dir = tmp_path_factory.mktemp("models")
    (models_dir / "models.yaml").write_text(
        f"""
settings:
  default_model: {BASE_MODEL}
models:
  - name: {BASE_MODEL}
    file: {base_model_path}
    aliases: [gemma-base]
  - name: {INSTRUCT_MODEL}
    file: {instruct_model_path}
    aliases: [gemma-it]
""",
        encoding="utf-8",
    )
    port = _free_port()
    log_path = models_dir / "server.log"
    env = {**os.environ, "LOCALCHAT_N_CTX": str(N_CTX), "LOCALCHAT_N_THREADS": str(os.cpu_count() or 2)}
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "server", "serve", "--models-dir", str(models_dir), "--port", str(port)],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            env=env,
        )
    running = RunningServer(f"http://127.0.0.1:{port}", process, log_path)
    deadline = time.monotonic() + STARTUP_SECONDS
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"server exited during startup:\n{running.log_text()}")
        try:
            if httpx.get(f"{running.base_url}/health", timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"server not healthy after {STARTUP_SECONDS}s:\n{running.log_text()}")
        time.sleep(0.3)
    yield running
    process.terminate()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()


@pytest.fixture(scope="session")
def client(server: RunningServer) -> openai.OpenAI:
    return server.client()


@pytest.fixture
def http(server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=120) as session:
        yield session
