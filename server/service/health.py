"""GET /health: 200 once the default model is loaded, 503 while it loads (or failed to) or shuts down."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from server.service.open_paths import HEALTH_PATH

router = APIRouter()


@router.get(HEALTH_PATH)
async def health(request: Request) -> JSONResponse:
    state = request.app.state
    if state.shutdown.is_shutting_down:
        return JSONResponse({"status": "shutting_down"}, status_code=503)
    if state.startup_error is not None:
        return JSONResponse({"status": "error", "error": state.startup_error}, status_code=503)
    if not state.is_ready:
        return JSONResponse({"status": "loading"}, status_code=503)
    pool = state.pool
    loaded = [model.name for model in pool.loaded]
    return JSONResponse(
        {
            "status": "ok",
            "default_model": state.settings.default_model,
            "loaded": loaded,
            # Models being loaded (or downloaded) right now; /health keeps answering meanwhile.
            "loading": pool.loading,
        }
    )
