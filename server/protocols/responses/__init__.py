"""OpenAI's Responses API: its routes, its wire shapes, the translation of input items to the one chat
pipeline and of its answer to output items, and the store that keeps responses across restarts."""

from fastapi import FastAPI

from server.config import Settings
from server.protocols import WireProtocol
from server.protocols.responses.routes import router
from server.protocols.responses.store import ResponseStore, StoreLimits


def _open_store(app: FastAPI) -> None:
    settings: Settings = app.state.settings
    app.state.response_store = ResponseStore(
        settings.state_dir,
        StoreLimits(
            max_count=settings.responses_max_count,
            max_age_seconds=settings.responses_max_age_days * 86400,
            max_bytes=settings.responses_max_bytes,
        ),
    )


def _close_store(app: FastAPI) -> None:
    app.state.response_store.close()


PROTOCOL = WireProtocol(name="responses", routers=(router,), on_create=_open_store, on_close=_close_store)
