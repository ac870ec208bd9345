"""create_app(settings) -> FastAPI: all state lives on app.state; the lifespan owns the model pool."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI

from server import __version__
from server.api import chat, completions, embeddings, messages, models, ops, responses, tokenize
from server.api.errors import install_error_handlers
from server.api.middleware import install_service_layer
from server.config import Settings
from server.models.catalog import Catalog, ModelNotFound
from server.models.pool import ModelPool, ModelUnavailable
from server.playground import install_playground
from server.store import ResponseStore, StoreLimits

log = logging.getLogger("localchat")


async def _preload_models(app: FastAPI) -> None:
    state = app.state
    try:
        await state.pool.get(state.settings.default_model)
        state.is_ready = True
        log.info("ready: default model '%s' is loaded", state.settings.default_model)
    except ModelNotFound as exc:
        state.startup_error = f"default model '{exc.name}' is not in the catalog ({', '.join(exc.available)})"
    except ModelUnavailable as exc:
        state.startup_error = str(exc)
    if state.startup_error:
        log.error("%s", state.startup_error)
    for name in state.settings.preload:
        try:
            await state.pool.get(name)
        except (ModelNotFound, ModelUnavailable) as exc:
            log.error("preloading '%s' failed: %s", name, exc)


def create_app(settings: Settings, catalog: Catalog | None = None) -> FastAPI:
    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.pool.start()
        preload = asyncio.create_task(_preload_models(app))
        try:
            yield
        finally:
            preload.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await preload
            await app.state.pool.close()
            app.state.response_store.close()

    app = FastAPI(title="localchat", version=__version__, lifespan=lifespan)
    app.state.settings = settings
    app.state.pool = ModelPool(catalog or Catalog.from_settings(settings), settings)
    app.state.response_store = ResponseStore(
        settings.state_dir,
        StoreLimits(
            max_count=settings.responses_max_count,
            max_age_seconds=settings.responses_max_age_days * 86400,
            max_bytes=settings.responses_max_bytes,
        ),
    )
    app.state.is_ready = False
    app.state.startup_error = None
    install_error_handlers(app)
    install_service_layer(app, settings)
    for module in (chat, completions, embeddings, messages, models, ops, responses, tokenize):
        app.include_router(module.router)
    if settings.playground:
        install_playground(app)
    return app
