"""GET and HEAD `/`: a browser (it asks for HTML) lands on the playground; any other client reads one
line of plain text, which a protocol may set (Ollama's clients and scripts probe for theirs)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from starlette.responses import PlainTextResponse, RedirectResponse, Response

from server.service.open_paths import ROOT_PATH

DEFAULT_ROOT_TEXT = "localchat is running"


def wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "")


def install_root(app: FastAPI, *, text: str, page_path: str | None) -> None:
    @app.api_route(ROOT_PATH, methods=["GET", "HEAD"], include_in_schema=False)
    async def root(request: Request) -> Response:
        if page_path is not None and wants_html(request):
            return RedirectResponse(page_path)
        return PlainTextResponse(text)
