"""GET /health: 200 once the default model is loaded, 503 while it loads (or failed to)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

router = APIRouter()


@router.get("/health")
async def health(request: Request) -> JSONResponse:
    state = request.app.state
    if state.startup_error is not None:
        return JSONResponse({"status": "error", "error": state.startup_error}, status_code=503)
    if not state.is_ready:
        return JSONResponse({"status": "loading"}, status_code=503)
    loaded = [model.name for model in state.pool.loaded]
    return JSONResponse({"status": "ok", "default_model": state.settings.default_model, "loaded": loaded})
