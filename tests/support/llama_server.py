"""llama.cpp's own llama-server, built from the llama.cpp llama-cpp-python vendors
(scripts/build_llama_server.sh), as the reference localchat's answers are checked against: same
file, same request, same tokens."""

from __future__ import annotations

import glob
import os
import socket
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
STARTUP_SECONDS = 120


def llama_server_binary() -> Path:
    """The binary (LLAMA_SERVER, or the build script's output); skips the test when there is none,
    and fails it where CI says one must be there (LOCALCHAT_REQUIRE_LLAMA_SERVER=1)."""
    named = os.environ.get("LLAMA_SERVER")
    found = (
        [Path(named)]
        if named
        else [Path(p) for p in glob.glob(str(REPO_ROOT / ".cache/llama-server-*/build/bin/llama-server"))]
    )
    for path in found:
        if path.is_file() and os.access(path, os.X_OK):
            return path
    if os.environ.get("LOCALCHAT_REQUIRE_LLAMA_SERVER") == "1":
        pytest.fail(
            "llama-server is required here (LOCALCHAT_REQUIRE_LLAMA_SERVER=1): "
            "bash scripts/build_llama_server.sh"
        )
    pytest.skip("llama-server is not built (bash scripts/build_llama_server.sh)")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def running_llama_server(model: Path, *, n_ctx: int, extra_args: Sequence[str] = ()) -> Iterator[str]:
    """One slot of `n_ctx` tokens on `model`; yields the base URL."""
    port = _free_port()
    process = subprocess.Popen(
        [
            str(llama_server_binary()),
            "-m",
            str(model),
            "--port",
            str(port),
            "-c",
            str(n_ctx),
            "-np",
            "1",
            "-t",
            str(os.cpu_count() or 2),
            *extra_args,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"llama-server exited with {process.returncode}")
            try:
                if httpx.get(f"{base_url}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("llama-server did not become healthy")
            time.sleep(0.2)
        yield base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
