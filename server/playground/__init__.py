"""The browser playground: static files under /playground, a client of the public API and nothing more.
A browser that opens `/` is sent here (server/service/root.py).

The page and its scripts hold no data, so they load without an API key (the page asks for one and
sends it with every API call, which the key check guards as usual). A strict Content-Security-Policy
keeps the page on this origin: no CDN, no external font, no inline script.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from starlette.responses import FileResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

STATIC_DIR = Path(__file__).parent / "static"
PAGE_PATH = "/playground"
ASSETS_PATH = "/playground/assets"

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # Revalidate every time (ETags make that cheap) so an upgraded server never runs stale scripts.
    "Cache-Control": "no-cache",
}


def is_playground_path(path: str) -> bool:
    """Paths that serve the page's static files, open without an API key."""
    return path == PAGE_PATH or path.startswith(ASSETS_PATH + "/")


class _Assets(StaticFiles):
    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers.update(SECURITY_HEADERS)
        return response


def install_playground(app: FastAPI) -> None:
    @app.api_route(PAGE_PATH, methods=["GET", "HEAD"], include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", headers=SECURITY_HEADERS)

    app.mount(ASSETS_PATH, _Assets(directory=STATIC_DIR), name="playground-assets")
