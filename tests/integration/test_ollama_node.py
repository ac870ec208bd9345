"""The `ollama` JavaScript library (tests/node/ollama_chat.mjs, in node) against a real localchat: a
streamed chat ends with `done`, and its text equals the whole answer's at temperature 0."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from .conftest import BASE_MODEL
from .model_servers import RunningServer


def test_ollama_js_streams_a_chat_to_done(node_clients: Path, ollama_server: RunningServer) -> None:
    finished = subprocess.run(
        ["node", str(node_clients / "ollama_chat.mjs"), ollama_server.base_url, BASE_MODEL],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    report = json.loads(finished.stdout.strip().splitlines()[-1])
    chunks = report["chunks"]
    # The library stops at the first chunk with done and throws if none comes: it came, last.
    assert chunks[-1]["done"] is True and chunks[-1]["done_reason"] in ("stop", "length")
    assert not any(chunk["done"] for chunk in chunks[:-1]) and len(chunks) > 2
    assert report["streamed"] == report["whole"] != ""
    assert report["wholeDone"] is True and 0 < report["evalCount"] <= 12
    assert f"{BASE_MODEL}:latest" in report["models"]
    assert tuple(int(part) for part in report["version"].split(".")) >= (0, 6, 4)
