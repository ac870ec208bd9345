"""RequestTracking and the access log: one record per request, X-Request-Id, one structured line."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from server.engine.sequence import Finished, TextDelta, Usage
from server.service.middleware.access_log import access_fields, log_access
from server.service.middleware.request_tracking import RequestRecord, note_event, note_model
from tests.unit.asgi_app import client_for, make_app


async def test_tracking_generates_request_id(tmp_path: Path) -> None:
    async with client_for(make_app(tmp_path)) as client:
        first = await client.get("/v1/models")
        second = await client.get("/v1/models")
    assert len(first.headers["x-request-id"]) == 32
    assert first.headers["x-request-id"] != second.headers["x-request-id"]


async def test_tracking_keeps_incoming_request_id(tmp_path: Path) -> None:
    async with client_for(make_app(tmp_path)) as client:
        response = await client.get("/v1/models", headers={"X-Request-Id": "trace-42.a"})
    assert response.headers["x-request-id"] == "trace-42.a"


async def test_tracking_replaces_unsafe_request_id(tmp_path: Path) -> None:
    async with client_for(make_app(tmp_path)) as client:
        response = await client.get("/v1/models", headers={"X-Request-Id": 'x" status=200'})
    assert response.headers["x-request-id"] != 'x" status=200'


async def test_access_log_one_line_per_request(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="localchat.access")
    async with client_for(make_app(tmp_path, api_key=["k"])) as client:
        response = await client.get("/v1/models", headers={"X-Request-Id": "req-1"})
        await client.get("/health")  # DEBUG: probes do not flood the log
    lines = [record for record in caplog.records if record.name == "localchat.access"]
    assert len(lines) == 1
    assert response.status_code == 401
    message = lines[0].getMessage()
    assert message.startswith("request_id=req-1 method=GET path=/v1/models status=401 model=-")
    assert "duration_ms=" in message


def test_access_log_quotes_values_that_could_forge_fields(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="localchat.access")
    record = RequestRecord("id", "GET", "/x\nstatus=200 y", started=0.0, status=404, finished_at=0.5)
    log_access(record)
    (line,) = [r.getMessage() for r in caplog.records if r.name == "localchat.access"]
    assert "\n" not in line
    assert 'path="/x\\nstatus=200 y"' in line


def test_record_notes_model_tokens_and_ttft() -> None:
    from server.service.middleware import request_tracking

    record = RequestRecord("id", "POST", "/v1/completions", started=100.0)
    token = request_tracking._current.set(record)
    try:
        note_model("gemma")
        note_event(TextDelta("Hi"))
        first = record.first_event_at
        note_event(Finished("length", Usage(prompt_tokens=7, completion_tokens=3)))
    finally:
        request_tracking._current.reset(token)
    assert first is not None and record.first_event_at == first  # the first event only
    fields = access_fields(record)
    assert (fields["model"], fields["prompt_tokens"], fields["completion_tokens"]) == ("gemma", 7, 3)
    assert record.ttft_seconds == pytest.approx(first - 100.0)


def test_note_without_a_request_is_harmless() -> None:
    note_model("gemma")
    note_event(TextDelta("Hi"))
