"""CORS: configured origins get the headers on preflight and on answers; others and the default get none."""

from __future__ import annotations

from pathlib import Path

from tests.unit.asgi_app import client_for, make_app

ALLOWED = "http://app.example"
PREFLIGHT = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"}


async def test_cors_preflight_from_allowed_origin_gets_headers(tmp_path: Path) -> None:
    app = make_app(tmp_path, cors_origins=[ALLOWED], api_key=["k"])
    async with client_for(app) as client:
        response = await client.options("/v1/chat/completions", headers={"Origin": ALLOWED, **PREFLIGHT})
    # The preflight passes without a key: browsers never send one on it.
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == ALLOWED
    assert "POST" in response.headers["access-control-allow-methods"]
    assert "authorization" in response.headers["access-control-allow-headers"].lower()


async def test_cors_preflight_from_other_origin_gets_no_headers(tmp_path: Path) -> None:
    async with client_for(make_app(tmp_path, cors_origins=[ALLOWED])) as client:
        response = await client.options(
            "/v1/chat/completions", headers={"Origin": "http://evil.example", **PREFLIGHT}
        )
    assert "access-control-allow-origin" not in response.headers


async def test_cors_simple_request_from_allowed_origin_can_read_401(tmp_path: Path) -> None:
    async with client_for(make_app(tmp_path, cors_origins=[ALLOWED], api_key=["k"])) as client:
        response = await client.get("/v1/models", headers={"Origin": ALLOWED})
    assert response.status_code == 401
    assert response.headers["access-control-allow-origin"] == ALLOWED
    assert "x-request-id" in response.headers["access-control-expose-headers"].lower()


async def test_cors_default_sends_no_headers(tmp_path: Path) -> None:
    async with client_for(make_app(tmp_path)) as client:
        preflight = await client.options("/v1/chat/completions", headers={"Origin": ALLOWED, **PREFLIGHT})
        simple = await client.get("/v1/models", headers={"Origin": ALLOWED})
    assert "access-control-allow-origin" not in preflight.headers
    assert "access-control-allow-origin" not in simple.headers
