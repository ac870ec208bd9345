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
from .test_responses import TEXT_EVENTS

NODE_DIR = Path(__file__).resolve().parents[1] / "node"
SCRIPT = NODE_DIR / "responses_stream.mjs"
MAX_OUTPUT_TOKENS = 16  # what responses_stream.mjs asks for


@pytest.fixture(scope="session")
def node_client() -> Path:
    if shutil.which("node") is None or shutil.which("npm") is None:
        # CI sets LOCALCHAT_REQUIRE_NODE=1 so that a missing node fails rather than skips.
        if os.environ.get("LOCALCHAT_REQUIRE_NODE") == "1":
            pytest.fail("node and npm are required here (LOCALCHAT_REQUIRE_NODE=1)")
        pytest.skip("node and npm are not installed")
    if not (NODE_DIR / "node_modules" / "openai").is_dir():
        # npm ci installs exactly the locked version; without a lockfile, npm install makes one.
        command = "ci" if (NODE_DIR / "package-lock.json").exists() else "install"
        subprocess.run(["npm", command, "--no-audit", "--no-fund"], cwd=NODE_DIR, check=True, timeout=300)
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
    # A run of deltas counts once, so this also asks for at least one delta.
    collapsed = [t for i, t in enumerate(types) if i == 0 or not (t.endswith(".delta") and types[i - 1] == t)]
    assert collapsed[:-1] == TEXT_EVENTS
    final = report["final"]
    assert final["status"] in ("completed", "incomplete")
    assert collapsed[-1] == f"response.{final['status']}"
    assert [event["sequence_number"] for event in report["events"]] == list(range(len(types)))
    assert report["deltas"] == report["doneText"] == final["output_text"] != ""
    # A base model rarely stops by itself: "incomplete" exactly when it used every token allowed.
    output_tokens = final["usage"]["output_tokens"]
    assert 0 < output_tokens <= MAX_OUTPUT_TOKENS
    if final["status"] == "incomplete":
        assert final["incomplete_details"] == {"reason": "max_output_tokens"}
        assert output_tokens == MAX_OUTPUT_TOKENS
    else:
        assert final["incomplete_details"] is None
    # The same greedy request, not streamed, says the same.
    whole = report["whole"]
    assert whole["id"].startswith("resp_") and whole["output_text"] == final["output_text"]
    assert whole["status"] == final["status"]
