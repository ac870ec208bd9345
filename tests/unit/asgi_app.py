"""An app from create_app(settings) driven in-process over httpx's ASGI transport: no lifespan, so
no model loads; enough for what the middleware decides on its own (keys, CORS, limits, ids)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from server.app import create_app
from server.config import Settings


def make_app(models_dir: Path, **settings: Any) -> FastAPI:
    return create_app(Settings(models_dir=models_dir, **settings))


def client_for(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://localchat.test")
