"""BodySizeLimit: 413 in the envelope for a large declared body and for a chunked one with no length."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

from starlette.types import Message, Receive, Scope, Send

from server.service.middleware.body_limit import BodySizeLimit
from tests.unit.asgi_app import client_for, make_app

LIMIT = 1024


JSON = {"content-type": "application/json"}


def _chat_body(size: int) -> bytes:
    body = json.dumps({"model": "absent", "messages": [{"role": "user", "content": "x" * size}]})
    return body.encode()


def _assert_413(response_status: int, payload: dict) -> None:
    assert response_status == 413
    assert payload["error"]["code"] == "request_too_large"
    assert str(LIMIT) in payload["error"]["message"]


async def test_limits_declared_length_over_limit_is_413(tmp_path: Path) -> None:
    async with client_for(make_app(tmp_path, max_body_bytes=LIMIT)) as client:
        response = await client.post("/v1/chat/completions", content=_chat_body(2 * LIMIT), headers=JSON)
    _assert_413(response.status_code, response.json())


async def test_limits_chunked_body_without_length_is_413(tmp_path: Path) -> None:
    received: list[int] = []

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(8):
            received.append(1)
            yield b" " * 512

    async with client_for(make_app(tmp_path, max_body_bytes=LIMIT)) as client:
        request = client.build_request("POST", "/v1/chat/completions", content=chunks())
        assert "content-length" not in request.headers
        response = await client.send(request)
    _assert_413(response.status_code, response.json())
    # Refused as soon as the count passed the limit, not after reading everything.
    assert len(received) < 8


async def test_limits_body_under_limit_reaches_the_route_intact(tmp_path: Path) -> None:
    async with client_for(make_app(tmp_path, max_body_bytes=LIMIT)) as client:
        response = await client.post("/v1/chat/completions", content=_chat_body(100), headers=JSON)
    # The route parsed the JSON and looked the model up: the body arrived whole.
    assert response.status_code == 404, response.text
    assert response.json()["error"]["code"] == "model_not_found"


async def test_limits_body_slower_than_its_deadline_is_408() -> None:
    reached: list[bool] = []

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        reached.append(True)

    async def trickle() -> Message:
        # One byte, then nothing more for longer than the deadline: a slowloris body.
        if not sent:
            sent.append(True)
            return {"type": "http.request", "body": b"{", "more_body": True}
        await asyncio.sleep(10)
        return {"type": "http.request", "body": b"}", "more_body": False}

    sent: list[bool] = []
    messages: list[Message] = []

    async def send(message: Message) -> None:
        messages.append(message)

    scope = {"type": "http", "method": "POST", "path": "/v1/chat/completions", "headers": []}
    await BodySizeLimit(app, max_bytes=1024, timeout_seconds=0.2)(scope, trickle, send)
    assert reached == []
    assert messages[0]["status"] == 408
    error = json.loads(messages[1]["body"])["error"]
    assert (error["code"], error["type"]) == ("request_timeout", "invalid_request_error")
