"""openai-node streams a Responses API answer from localchat (tests/node/responses_stream.mjs). The
npm package is installed from tests/node's lockfile on first use."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from .conftest import BASE_MODEL
from .model_servers import RunningServer

NODE_DIR = Path(__file__).resolve().parents[1] / "node"
SCRIPT = NODE_DIR / "responses_stream.mjs"
TEXT_EVENTS = [
    "response.created",
    "response.in_progress",
    "response.output_item.added",
    "response.content_part.added",
    "response.output_text.delta",
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
]


@pytest.fixture(scope="module")
def node_client() -> Path:
    if shutil.which("node") is None or shutil.which("npm") is None:
        if os.environ.get("LOCALCHAT_REQUIRE_NODE") == "1":
            pytest.fail("node and npm are required here (LOCALCHAT_REQUIRE_NODE=1)")
        pytest.skip("node and npm are not installed")
    if not (NODE_DIR / "node_modules" / "openai").is_dir():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, check=True, timeout=300)
    return SCRIPT


def _run(script: Path, server: RunningServer) -> dict[str, Any]:
    finished = subprocess.run(
        ["node", str(script), f"{server.base_url}/v1", BASE_MODEL],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    return json.loads(finished.stdout.strip().splitlines()[-1])


def test_openai_node_streams_a_response(node_client: Path, server: RunningServer) -> None:
    report = _run(node_client, server)
    types = [event["type"] for event in report["events"]]
    collapsed = [t for i, t in enumerate(types) if i == 0 or not (t.endswith(".delta") and types[i - 1] == t)]
    assert collapsed[:-1] == TEXT_EVENTS
    final = report["final"]
    assert collapsed[-1] == f"response.{final['status']}"
    assert [event["sequence_number"] for event in report["events"]] == list(range(len(types)))
    assert report["deltas"] == report["doneText"] == final["output_text"] != ""
    output_tokens = final["usage"]["output_tokens"]
    assert 0 < output_tokens <= 16
    if final["status"] == "incomplete":
        assert final["incomplete_details"] == {"reason": "max_output_tokens"} and output_tokens == 16
    # The same greedy request, not streamed, says the same.
    whole = report["whole"]
    assert whole["id"].startswith("resp_") and whole["output_text"] == final["output_text"]
    assert whole["status"] == final["status"]
