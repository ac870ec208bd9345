"""GET /v1/models and /v1/models/{id}: the catalog in OpenAI shape, plus kind, template and load state."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from server.api.generation import model_not_found
from server.api.protocol import ModelCard, ModelList
from server.models.catalog import ModelNotFound
from server.models.pool import ModelPool

router = APIRouter()


def model_card(pool: ModelPool, name: str) -> ModelCard:
    info = pool.catalog.info(name)
    entry, metadata = info.entry, info.metadata
    loaded = pool.loaded_model(entry.name)
    created = int(entry.path.stat().st_mtime) if entry.path.exists() else 0
    return ModelCard(
        id=entry.name,
        created=created,
        kind=info.kind,
        has_chat_template=info.has_chat_template,
        template_error=info.template_error,
        metadata_error=info.metadata_error,
        loaded=loaded is not None,
        aliases=list(entry.aliases),
        architecture=metadata.architecture if metadata else None,
        size_label=metadata.size_label if metadata else None,
        quantization=metadata.quantization if metadata else None,
        context_length=metadata.context_length if metadata else None,
        n_ctx=loaded.n_ctx if loaded else None,
        file_exists=entry.path.exists(),
    )


@router.get("/v1/models", response_model=ModelList)
async def list_models(request: Request) -> Any:
    pool: ModelPool = request.app.state.pool
    return ModelList(data=[model_card(pool, name) for name in pool.catalog.names])


@router.get("/v1/models/{model_id:path}", response_model=ModelCard)
async def retrieve_model(request: Request, model_id: str) -> Any:
    pool: ModelPool = request.app.state.pool
    try:
        return model_card(pool, model_id)
    except ModelNotFound as exc:
        raise model_not_found(exc) from exc
