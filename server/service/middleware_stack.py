"""What runs around every route, outermost first:

request tracking (X-Request-Id, access log, metrics) → CORS → shutdown gate → API key → body limit.

Tracking is outside everything so refused requests (401, 413, 503) are logged and counted too;
CORS is outside the key check so a browser can read a 401; the key is checked before the body is
read, so an unauthenticated client cannot make the server buffer megabytes.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

from server.config import Settings
from server.service import health, metrics
from server.service.metrics import Metrics
from server.service.middleware.access_log import log_access
from server.service.middleware.auth import APIKeyAuth
from server.service.middleware.body_limit import BodySizeLimit
from server.service.middleware.json_body import AssumeJSONBody
from server.service.middleware.request_tracking import REQUEST_ID_HEADER, RequestTracking
from server.service.middleware.shutdown_gate import ShutdownGate
from server.service.open_paths import OpenPaths
from server.service.shutdown import ShutdownState

CORS_MAX_AGE_SECONDS = 600


def install_service_layer(
    app: FastAPI, settings: Settings, open_paths: OpenPaths, *, json_body_prefixes: tuple[str, ...] = ()
) -> None:
    """Needs app.state.pool. Sets app.state.shutdown and app.state.metrics and adds GET /health and
    GET /metrics. Bodies below `json_body_prefixes` are read as JSON whatever their Content-Type."""
    app.state.shutdown = ShutdownState(settings.shutdown_grace_seconds)
    app.state.metrics = Metrics(app.state.pool)
    app.include_router(health.router)
    app.include_router(metrics.router)
    # Each add_middleware wraps the ones added before it, so the innermost layer comes first.
    app.add_middleware(
        BodySizeLimit, max_bytes=settings.max_body_bytes, timeout_seconds=settings.body_timeout_seconds
    )
    if json_body_prefixes:
        app.add_middleware(AssumeJSONBody, prefixes=json_body_prefixes)
    if settings.api_key:
        app.add_middleware(APIKeyAuth, keys=settings.api_key, is_open=open_paths.is_keyless)
    app.add_middleware(ShutdownGate, state=app.state.shutdown, is_open=open_paths.is_open_while_draining)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=[REQUEST_ID_HEADER],
            max_age=CORS_MAX_AGE_SECONDS,
        )
    app.add_middleware(RequestTracking, on_finish=(log_access, app.state.metrics.observe))
