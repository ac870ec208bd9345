"""GET /v1/models and /v1/models/{id}: the catalog in OpenAI shape, plus kind, template and load state."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from server.models.capabilities import capabilities
from server.models.catalog import ModelNotFound
from server.models.loader import gpu_layers_for
from server.models.pool import ModelPool
from server.pipeline.model_lease import model_not_found
from server.protocols.openai.wire import ModelCard, ModelList

router = APIRouter()


def _status(pool: ModelPool, name: str) -> str:
    if name in pool.loading:
        return "loading"
    if pool.is_ready(name):
        return "loaded"
    if pool.loaded_model(name) is not None:
        return "draining"
    return "unloading" if pool.is_closing(name) else "unloaded"


def model_card(pool: ModelPool, name: str) -> ModelCard:
    info = pool.catalog.info(name)
    entry, metadata = info.entry, info.metadata
    loaded = pool.loaded_model(entry.name)
    stat = entry.path.stat() if entry.path.exists() else None
    settings = pool.settings
    return ModelCard(
        id=entry.name,
        created=int(stat.st_mtime) if stat is not None else 0,
        kind=info.kind,
        capabilities=list(capabilities(info)),
        has_chat_template=info.has_chat_template,
        chat_format=info.chat_format.name,
        template_error=info.template_error,
        metadata_error=info.metadata_error,
        mmproj=entry.mmproj.name if entry.mmproj is not None else None,
        projector_error=info.projector_error,
        loaded=loaded is not None,
        status=_status(pool, entry.name),
        aliases=list(entry.aliases),
        architecture=metadata.architecture if metadata else None,
        size_label=metadata.size_label if metadata else None,
        quantization=metadata.quantization if metadata else None,
        context_length=metadata.context_length if metadata else None,
        n_ctx=loaded.n_ctx if loaded else None,
        n_gpu_layers=loaded.n_gpu_layers if loaded else gpu_layers_for(info, settings),
        file_exists=stat is not None,
        size_bytes=stat.st_size if stat is not None else None,
        repo=entry.hub.repo if entry.hub is not None else None,
        num_loads=pool.num_loads(entry.name),
        num_in_flight=pool.num_in_flight(entry.name),
        n_parallel=loaded.engine.n_parallel if loaded else None,
        num_running=loaded.engine.num_running if loaded else None,
        num_waiting=loaded.engine.num_waiting if loaded else None,
        num_kv_tokens=loaded.engine.num_kv_tokens if loaded else None,
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
