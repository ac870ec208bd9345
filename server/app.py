"""create_app(settings) -> FastAPI: all state lives on app.state; the lifespan owns the model pool.

The app is the service layer (server/service/) around every protocol found under server/protocols/,
plus the playground; it names no protocol itself."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from fastapi import FastAPI

from server import __version__
from server.config import Settings
from server.models.catalog import Catalog, ModelNotFound
from server.models.pool import ModelPool, ModelUnavailable
from server.playground import PAGE_PATH, install_playground, is_playground_path
from server.protocols import discover
from server.service.error_handlers import install_error_handlers
from server.service.errors import ErrorEnvelopes
from server.service.middleware_stack import install_service_layer
from server.service.open_paths import OpenPaths, no_path
from server.service.root import DEFAULT_ROOT_TEXT, install_root

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
    protocols = discover()

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
            for protocol in protocols:
                protocol.close(app)

    app = FastAPI(title="localchat", version=__version__, lifespan=lifespan)
    app.state.settings = settings
    app.state.pool = ModelPool(catalog or Catalog.from_settings(settings), settings)
    app.state.is_ready = False
    app.state.startup_error = None
    app.state.error_envelopes = ErrorEnvelopes()
    install_error_handlers(app)
    keyless = frozenset().union(*(protocol.keyless_paths for protocol in protocols))
    open_paths = OpenPaths(is_static=is_playground_path if settings.playground else no_path, keyless=keyless)
    json_body_prefixes = tuple(prefix for protocol in protocols for prefix in protocol.json_body_prefixes)
    install_service_layer(app, settings, open_paths, json_body_prefixes=json_body_prefixes)
    for protocol in protocols:
        protocol.install(app, app.state.error_envelopes)
    root_text = next((p.root_text for p in protocols if p.root_text is not None), DEFAULT_ROOT_TEXT)
    install_root(app, text=root_text, page_path=PAGE_PATH if settings.playground else None)
    if settings.playground:
        install_playground(app)
    return app
