"""Anthropic's envelope answers every error on its paths, also those refused before routing (a
missing key, a body too large), and no other path."""

from __future__ import annotations

from pathlib import Path

from tests.unit.asgi_app import client_for, make_app


async def test_refused_before_routing_on_messages_is_in_anthropic_envelope(tmp_path: Path) -> None:
    async with client_for(make_app(tmp_path, api_key=["k"], max_body_bytes=64)) as client:
        keyless = await client.post("/v1/messages/count_tokens", json={})
        too_large = await client.post(
            "/v1/messages", headers={"x-api-key": "k"}, content=b"{" + b" " * 100 + b"}"
        )
    assert keyless.status_code == 401
    assert keyless.json() == {
        "type": "error",
        "error": {"type": "authentication_error", "message": keyless.json()["error"]["message"]},
    }
    assert too_large.status_code == 413
    assert too_large.json()["type"] == "error"
    assert too_large.json()["error"]["type"] == "request_too_large"


async def test_other_paths_keep_the_default_envelope(tmp_path: Path) -> None:
    async with client_for(make_app(tmp_path, api_key=["k"])) as client:
        for path in ("/v1/messagesX", "/v1/chat/completions", "/tokenize"):
            error = (await client.post(path, json={})).json()["error"]
            assert set(error) == {"message", "type", "param", "code"}, path
