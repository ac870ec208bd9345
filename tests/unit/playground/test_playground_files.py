"""The playground's static files: served under /playground with a strict CSP, open without a key
(they hold no data), absent with playground off, and self-contained (nothing from another origin)."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from server.cli import _parser
from server.config import load_settings
from server.playground import STATIC_DIR, is_playground_path
from tests.unit.asgi_app import client_for, make_app

KEY = "playground-test-key"


async def _get(models_dir: Path, path: str, **settings: object) -> httpx.Response:
    async with client_for(make_app(models_dir, **settings)) as client:
        return await client.get(path)


BROWSER = {"accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


async def test_playground_root_redirects_a_browser_to_page(tmp_path: Path) -> None:
    async with client_for(make_app(tmp_path)) as client:
        response = await client.get("/", headers=BROWSER)
        assert response.status_code == 307
        assert response.headers["location"] == "/playground"
        page = await client.get("/playground")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="/playground/assets/main.js">' in page.text


async def test_playground_responses_carry_security_headers(tmp_path: Path) -> None:
    async with client_for(make_app(tmp_path)) as client:
        for path in ("/playground", "/playground/assets/main.js", "/playground/assets/playground.css"):
            response = await client.get(path)
            assert response.status_code == 200, path
            policy = response.headers["content-security-policy"]
            assert "default-src 'self'" in policy and "connect-src 'self'" in policy
            assert response.headers["x-content-type-options"] == "nosniff"
    assert (await _get(tmp_path, "/playground/assets/main.js")).headers["content-type"].startswith(
        "text/javascript"
    )


async def test_playground_unknown_asset_is_404(tmp_path: Path) -> None:
    assert (await _get(tmp_path, "/playground/assets/nope.js")).status_code == 404
    assert (await _get(tmp_path, "/playground/assets/../../config.py")).status_code == 404


async def test_playground_loads_without_key_but_api_still_needs_one(tmp_path: Path) -> None:
    async with client_for(make_app(tmp_path, api_key=[KEY])) as client:
        assert (await client.get("/playground")).status_code == 200
        assert (await client.get("/playground/assets/main.js")).status_code == 200
        assert (await client.get("/", headers=BROWSER)).status_code == 307
        assert (await client.get("/v1/models")).status_code == 401
        assert (await client.post("/v1/chat/render", json={})).status_code == 401


async def test_playground_off_serves_nothing_and_opens_nothing(tmp_path: Path) -> None:
    assert (await _get(tmp_path, "/playground", playground=False)).status_code == 404
    async with client_for(make_app(tmp_path, playground=False)) as client:
        # A browser is not sent to a page that is not there; `/` only says the server runs.
        root = await client.get("/", headers=BROWSER)
    assert root.status_code == 200 and root.headers["content-type"].startswith("text/plain")
    # With the playground off its paths are not exempt from the key check either.
    assert (await _get(tmp_path, "/playground", playground=False, api_key=[KEY])).status_code == 401


@pytest.mark.parametrize(
    ("path", "is_open"),
    [
        ("/", False),
        ("/playground", True),
        ("/playground/assets/main.js", True),
        ("/playgroundx", False),
        ("/playground/other", False),
        ("/v1/models", False),
    ],
)
def test_is_playground_path(path: str, is_open: bool) -> None:
    assert is_playground_path(path) is is_open


def test_no_playground_flag_turns_it_off(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("LOCALCHAT_PLAYGROUND", raising=False)
    flags = vars(_parser().parse_args(["serve", "--models-dir", str(tmp_path), "--no-playground"]))
    flags.pop("command")
    assert load_settings(flags).playground is False
    defaults = vars(_parser().parse_args(["serve", "--models-dir", str(tmp_path)]))
    defaults.pop("command")
    assert load_settings(defaults).playground is True
    monkeypatch.setenv("LOCALCHAT_PLAYGROUND", "false")
    assert load_settings(defaults).playground is False


def test_static_files_reference_nothing_outside_this_origin() -> None:
    # "Works offline": no CDN script, stylesheet, font or image; the CSP would block one anyway.
    for path in STATIC_DIR.iterdir():
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"""(src|href)=["'](https?:)?//""", text), path.name
        assert not re.search(r"""(import|from)\s*\(?\s*["'](https?:)?//""", text), path.name
        assert "@import" not in text and "url(http" not in text, path.name
