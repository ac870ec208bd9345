"""What the Ollama room decides without a model: its envelope on /api paths (and only there), the key
check (open for /api/version), bodies read as JSON whatever their Content-Type, the root text, and
501 for the registry's routes."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.asgi_app import client_for, make_app

KEY = "ollama-test-key"


async def test_api_paths_answer_in_ollamas_envelope(tmp_path: Path) -> None:
    async with client_for(make_app(tmp_path)) as client:
        missing = await client.post("/api/chat", json={"model": "nope", "messages": []})
        assert missing.status_code == 404 and missing.json() == {"error": "model 'nope' not found"}
        bad = await client.post("/api/chat", json={"messages": "not a list"})
        assert bad.status_code == 400 and set(bad.json()) == {"error"} and "messages" in bad.json()["error"]
        # Outside /api the default envelope is unchanged.
        other = await client.post("/v1/chat/completions", json={"model": "nope", "messages": []})
        assert set(other.json()["error"]) == {"message", "type", "param", "code"}


async def test_api_key_guards_api_but_not_version(tmp_path: Path) -> None:
    async with client_for(make_app(tmp_path, api_key=[KEY])) as client:
        assert (await client.get("/api/version")).status_code == 200
        assert (await client.head("/api/version")).status_code == 200
        assert (await client.get("/")).text == "Ollama is running"
        refused = await client.get("/api/tags")
        assert refused.status_code == 401 and set(refused.json()) == {"error"}
        allowed = await client.get("/api/tags", headers={"authorization": f"Bearer {KEY}"})
        assert allowed.status_code == 200 and allowed.json() == {"models": []}


@pytest.mark.parametrize("content_type", [None, "application/x-www-form-urlencoded", "text/plain"])
async def test_api_bodies_are_json_whatever_their_content_type(
    tmp_path: Path, content_type: str | None
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    async with client_for(make_app(tmp_path)) as client:
        response = await client.post("/api/show", content=b'{"model": "nope"}', headers=headers)
        assert response.status_code == 404
        if content_type is not None:
            # Outside /api a body declared as something else is still refused.
            other = await client.post("/v1/chat/render", content=b'{"messages": []}', headers=headers)
            assert other.status_code == 415


async def test_show_needs_a_name(tmp_path: Path) -> None:
    async with client_for(make_app(tmp_path)) as client:
        response = await client.post("/api/show", json={})
    assert response.status_code == 400 and response.json() == {"error": "model is required"}


@pytest.mark.parametrize(
    ("method", "path"), [("POST", "/api/create"), ("POST", "/api/push"), ("POST", "/api/blobs/sha256:00")]
)
async def test_registry_routes_are_not_implemented(tmp_path: Path, method: str, path: str) -> None:
    async with client_for(make_app(tmp_path)) as client:
        response = await client.request(method, path, json={})
    assert response.status_code == 501 and "Hugging Face" in response.json()["error"]


async def test_unknown_api_path_is_a_404_in_the_envelope(tmp_path: Path) -> None:
    async with client_for(make_app(tmp_path)) as client:
        response = await client.get("/api/nothing-here")
    assert response.status_code == 404 and set(response.json()) == {"error"}


@pytest.mark.parametrize("path", ["/api/chat", "/api/generate", "/api/embed", "/infill"])
async def test_a_lone_surrogate_is_a_400_in_the_paths_envelope(tmp_path: Path, path: str) -> None:
    body = b'{"messages": [{"role": "user", "content": "\\ud800"}], "prompt": "\\ud800", "input": "\\ud800",'
    body += b' "input_prefix": "\\ud800", "input_suffix": "x"}'
    async with client_for(make_app(tmp_path)) as client:
        response = await client.post(path, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400
    error = response.json()["error"]
    assert isinstance(error, str) if path.startswith("/api") else error["code"] == "invalid_unicode"
