"""Nothing acknowledged is lost: stored Responses survive `kill -9` in the middle of writes, and a data
folder that cannot be written refuses `store: true` requests with a clear 503 (logged once) while
`store: false` and every other route keep serving."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from .conftest import BASE_MODEL
from .model_servers import RunningServer, start_server, stop

NUM_REQUESTS = 48
NUM_ACKNOWLEDGED_BEFORE_KILL = 12


def _catalog(model: Path) -> str:
    return f"settings:\n  default_model: {BASE_MODEL}\nmodels:\n  - name: {BASE_MODEL}\n    file: {model}\n"


def _body(number: int) -> dict:
    return {"input": f"Note {number}: the tide", "max_output_tokens": 3, "temperature": 0, "store": True}


async def _store_until_killed(server: RunningServer) -> dict[str, str]:
    """Many stored responses at once; the server is killed once some are acknowledged. Returns the
    acknowledged ones: id -> output text."""
    acknowledged: dict[str, str] = {}
    killed = asyncio.Event()

    async def one(http: httpx.AsyncClient, number: int) -> None:
        try:
            response = await http.post("/v1/responses", json=_body(number))
        except httpx.HTTPError:
            return  # in flight when the server died: never acknowledged
        if response.status_code == 200:
            body = response.json()
            acknowledged[body["id"]] = body["output"][0]["content"][0]["text"] if body["output"] else ""
            if len(acknowledged) >= NUM_ACKNOWLEDGED_BEFORE_KILL and not killed.is_set():
                killed.set()
                server.process.kill()  # SIGKILL: no shutdown, no flush, mid-write for the others

    async with httpx.AsyncClient(base_url=server.base_url, timeout=120) as http:
        await asyncio.gather(*(one(http, number) for number in range(NUM_REQUESTS)))
    assert killed.is_set(), "the server was never killed"
    return acknowledged


def test_stored_responses_survive_kill_9_mid_write(base_model_path: Path, tmp_path: Path) -> None:
    server = start_server(tmp_path, _catalog(base_model_path), {})
    try:
        acknowledged = asyncio.run(_store_until_killed(server))
    finally:
        server.process.kill()
        server.process.wait(timeout=30)
    database = tmp_path / "responses.sqlite3"
    with sqlite3.connect(database) as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    restarted = start_server(tmp_path, _catalog(base_model_path), {})
    try:
        with httpx.Client(base_url=restarted.base_url, timeout=60) as http:
            for response_id, text in acknowledged.items():
                stored = http.get(f"/v1/responses/{response_id}")
                assert stored.status_code == 200, response_id
                output = stored.json()["output"]
                assert (output[0]["content"][0]["text"] if output else "") == text
            # The store still takes writes after the crash.
            assert http.post("/v1/responses", json=_body(999)).status_code == 200
    finally:
        stop(restarted)
    assert len(acknowledged) >= NUM_ACKNOWLEDGED_BEFORE_KILL


@pytest.fixture
def unwritable_server(base_model_path: Path, tmp_path: Path) -> Iterator[RunningServer]:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the data folder should be")
    server = start_server(
        tmp_path / "models", _catalog(base_model_path), {"LOCALCHAT_DATA_DIR": str(blocker)}
    )
    yield server
    stop(server)


def test_unwritable_data_folder_refuses_only_what_would_be_stored(unwritable_server: RunningServer) -> None:
    with httpx.Client(base_url=unwritable_server.base_url, timeout=60) as http:
        for _ in range(3):
            for body in (_body(1), {**_body(2), "stream": True}):
                refused = http.post("/v1/responses", json=body)
                assert refused.status_code == 503, refused.text
                error = refused.json()["error"]
                assert error["code"] == "store_unavailable" and set(error) == {
                    "message",
                    "type",
                    "param",
                    "code",
                }
        kept_nowhere = http.post("/v1/responses", json={**_body(3), "store": False})
        assert kept_nowhere.status_code == 200 and kept_nowhere.json()["store"] is False
        chat = http.post(
            "/v1/chat/completions", json={"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2}
        )
        assert chat.status_code == 200
        assert http.get("/health").status_code == 200
    log = unwritable_server.log_text()
    assert log.count("the response store is unavailable") == 1, log[-3000:]
