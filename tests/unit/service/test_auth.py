"""APIKeyAuth: Bearer keys on every route but /health and CORS preflights, 401 in the OpenAI envelope."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from server.service.middleware.auth import APIKeyAuth, bearer_token
from tests.unit.asgi_app import client_for, make_app

KEYS = ["key-one", "key-two"]


def _assert_401(response: httpx.Response) -> dict:
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == "Bearer"
    error = response.json()["error"]
    assert (error["type"], error["code"]) == ("authentication_error", "invalid_api_key")
    return error


async def test_auth_missing_key_is_401(tmp_path: Path) -> None:
    async with client_for(make_app(tmp_path, api_key=KEYS)) as client:
        error = _assert_401(await client.get("/v1/models"))
    assert "didn't provide an API key" in error["message"]


async def test_auth_wrong_key_is_401(tmp_path: Path) -> None:
    async with client_for(make_app(tmp_path, api_key=KEYS)) as client:
        error = _assert_401(await client.get("/v1/models", headers={"Authorization": "Bearer key-three"}))
    assert error["message"] == "Incorrect API key provided."


@pytest.mark.parametrize("key", KEYS)
async def test_auth_any_configured_key_is_accepted(tmp_path: Path, key: str) -> None:
    async with client_for(make_app(tmp_path, api_key=KEYS)) as client:
        response = await client.get("/v1/models", headers={"Authorization": f"bearer {key}"})
    assert response.status_code == 200, response.text


async def test_auth_covers_metrics_but_not_health(tmp_path: Path) -> None:
    async with client_for(make_app(tmp_path, api_key=KEYS)) as client:
        assert (await client.get("/metrics")).status_code == 401
        # 503: no lifespan ran, so the default model is "loading"; what matters is that it is not 401.
        assert (await client.get("/health")).status_code == 503


async def test_auth_is_off_without_keys(tmp_path: Path) -> None:
    async with client_for(make_app(tmp_path)) as client:
        assert (await client.get("/v1/models")).status_code == 200


def test_auth_bearer_token_parsing() -> None:
    def scope(value: bytes) -> dict:
        return {"headers": [(b"authorization", value)]}

    assert bearer_token(scope(b"Bearer abc")) == b"abc"
    assert bearer_token(scope(b"BEARER  abc ")) == b"abc"
    assert bearer_token(scope(b"Basic abc")) is None
    assert bearer_token(scope(b"Bearer ")) is None
    assert bearer_token({"headers": []}) is None


def test_auth_is_authorized_checks_every_key() -> None:
    async def app(scope: object, receive: object, send: object) -> None:
        raise AssertionError("not called")

    auth = APIKeyAuth(app, ["a", "bb", "ccc"])
    assert [auth.is_authorized(token) for token in (b"a", b"bb", b"ccc")] == [True, True, True]
    assert not auth.is_authorized(b"cc")
    assert not auth.is_authorized(None)
    with pytest.raises(ValueError, match="at least one key"):
        APIKeyAuth(app, [])
