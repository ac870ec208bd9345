"""What runs around every route, outermost first:

request tracking (X-Request-Id, access log, metrics) → CORS → shutdown gate → API key → body limit.

Tracking is outside everything so refused requests (401, 413, 503) are logged and counted too;
CORS is outside the key check so a browser can read a 401; the key is checked before the body is
read, so an unauthenticated client cannot make the server buffer megabytes.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

from server.api import metrics
from server.api.access_log import log_access
from server.api.auth import APIKeyAuth
from server.api.limits import BodySizeLimit
from server.api.metrics import Metrics
from server.api.request_tracking import REQUEST_ID_HEADER, RequestTracking
from server.api.shutdown_gate import ShutdownGate
from server.config import Settings
from server.playground import is_playground_path
from server.shutdown import ShutdownState

CORS_MAX_AGE_SECONDS = 600


def install_service_layer(app: FastAPI, settings: Settings) -> None:
    """Needs app.state.pool. Sets app.state.shutdown and app.state.metrics and adds GET /metrics."""
    app.state.shutdown = ShutdownState(settings.shutdown_grace_seconds)
    app.state.metrics = Metrics(app.state.pool)
    app.include_router(metrics.router)
    # Each add_middleware wraps the ones added before it, so the innermost layer comes first.
    app.add_middleware(
        BodySizeLimit, max_bytes=settings.max_body_bytes, timeout_seconds=settings.body_timeout_seconds
    )
    if settings.api_key:
        is_open = is_playground_path if settings.playground else (lambda path: False)
        app.add_middleware(APIKeyAuth, keys=settings.api_key, is_open=is_open)
    app.add_middleware(ShutdownGate, state=app.state.shutdown)
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
