"""openai-node streams a Responses API answer from localchat (tests/node/responses_stream.mjs; the npm
packages come from conftest.py's `node_clients`)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from .conftest import BASE_MODEL
from .model_servers import RunningServer
from .test_responses import TEXT_EVENTS

SCRIPT_NAME = "responses_stream.mjs"
MAX_OUTPUT_TOKENS = 16  # what responses_stream.mjs asks for


def _run(node_dir: Path, server: RunningServer) -> dict[str, Any]:
    finished = subprocess.run(
        ["node", str(node_dir / SCRIPT_NAME), f"{server.base_url}/v1", BASE_MODEL],
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert finished.returncode == 0, finished.stderr[-3000:]
    return json.loads(finished.stdout.strip().splitlines()[-1])


def test_openai_node_streams_a_response(node_clients: Path, server: RunningServer) -> None:
    report = _run(node_clients, server)
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
