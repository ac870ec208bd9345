"""Ollama's model routes: GET /api/version, /api/tags and /api/ps, POST /api/show, and the routes that
change the catalog where that maps onto it cleanly (DELETE /api/delete, POST /api/copy; pull has its
own module). Creating, pushing and blobs are Ollama's registry, which localchat does not have: 501."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter, Request
from starlette.responses import Response

from server.models.capabilities import capabilities
from server.models.catalog import ModelNotFound
from server.protocols.ollama import catalog_changes, model_facts
from server.protocols.ollama.model_use import find_entry, listed_name, ollama_json, pool_of
from server.protocols.ollama.wire import (
    API_PREFIX,
    VERSION_PATH,
    CopyRequest,
    ListedModel,
    ModelList,
    NamedModelRequest,
    RunningModel,
    RunningModels,
    ShowRequest,
    ShowResponse,
    VersionResponse,
    model_not_found,
    timestamp,
)
from server.service.errors import APIError, invalid_request

router = APIRouter()
# The Ollama API level served: clients compare it with the versions that added what they use
# (VS Code Copilot wants 0.6.4 or later; Open WebUI reads dotted integers).
OLLAMA_VERSION = "0.13.0"
# How /api/ps writes "never": Ollama's own far-future expiry for keep_alive -1.
_NEVER = datetime(2318, 1, 1, tzinfo=UTC)


@router.head(VERSION_PATH, include_in_schema=False)
@router.get(VERSION_PATH, response_model=VersionResponse)
async def version() -> VersionResponse:
    return VersionResponse(version=OLLAMA_VERSION)


@router.head(f"{API_PREFIX}/tags", include_in_schema=False)
@router.get(f"{API_PREFIX}/tags", response_model=ModelList)
async def list_models(request: Request) -> Any:
    catalog = pool_of(request).catalog
    models = []
    for name in catalog.names:
        info = await asyncio.to_thread(catalog.info, name)
        if not info.entry.path.exists():
            continue  # not pulled yet: Ollama lists only what it has
        listed = listed_name(name)
        models.append(
            ListedModel(
                name=listed,
                model=listed,
                modified_at=model_facts.modified_at(info),
                size=model_facts.file_size(info),
                digest=model_facts.digest(info),
                details=model_facts.details(info),
                capabilities=list(capabilities(info)),
            )
        )
    return ollama_json(ModelList(models=models))


def _named(request: Request, body: NamedModelRequest) -> str:
    name = body.model_name
    if not name:
        raise invalid_request("model is required", param="model")
    return name


@router.post(f"{API_PREFIX}/show", response_model=ShowResponse)
async def show(request: Request, body: ShowRequest) -> Any:
    name = _named(request, body)
    pool = pool_of(request)
    try:
        entry = find_entry(pool.catalog, name)
    except ModelNotFound:
        raise model_not_found(name) from None
    info = await asyncio.to_thread(pool.catalog.info, entry.name)
    settings = request.app.state.settings
    listed = listed_name(entry.name)
    return ollama_json(
        ShowResponse(
            modelfile=model_facts.modelfile(info, settings, listed),
            parameters=model_facts.parameters(info, settings),
            template=model_facts.template(info),
            details=model_facts.details(info),
            model_info=await asyncio.to_thread(model_facts.model_info, info, verbose=body.verbose),
            capabilities=list(capabilities(info)),
            modified_at=model_facts.modified_at(info),
        )
    )


@router.get(f"{API_PREFIX}/ps", response_model=RunningModels)
async def running_models(request: Request) -> Any:
    pool = pool_of(request)
    models = []
    for loaded in pool.loaded:
        info = loaded.info
        size = pool.resident_bytes(loaded.name) or model_facts.file_size(info)
        num_layers = (info.metadata.num_layers if info.metadata else None) or 0
        on_gpu = loaded.n_gpu_layers
        left = pool.seconds_until_unload(loaded.name)
        expires = _NEVER if left is None else datetime.now(UTC) + timedelta(seconds=left)
        listed = listed_name(loaded.name)
        models.append(
            RunningModel(
                name=listed,
                model=listed,
                size=size,
                digest=model_facts.digest(info),
                details=model_facts.details(info),
                expires_at=timestamp(expires),
                # The share of the layers offloaded, as a share of the file (the output layer counts).
                size_vram=int(size * min(on_gpu / (num_layers + 1), 1.0)) if num_layers else 0,
                context_length=loaded.n_ctx,
            )
        )
    models.sort(key=lambda model: model.expires_at, reverse=True)
    return ollama_json(RunningModels(models=models))


@router.delete(f"{API_PREFIX}/delete")
async def delete(request: Request, body: NamedModelRequest) -> Response:
    await catalog_changes.delete(request.app, _named(request, body))
    return Response(status_code=200)


@router.post(f"{API_PREFIX}/copy")
async def copy(request: Request, body: CopyRequest) -> Response:
    await catalog_changes.copy(request.app, body.source, body.destination)
    return Response(status_code=200)


def _registry_only(what: str) -> APIError:
    return APIError(
        501,
        f"{what} is part of Ollama's model registry, which localchat does not have. localchat serves GGUF "
        "files: put one in the models folder, or pull one from Hugging Face (/api/pull, localchat pull).",
        code="not_implemented",
    )


@router.post(f"{API_PREFIX}/create", include_in_schema=False)
async def create() -> None:
    raise _registry_only("Creating a model from a Modelfile")


@router.post(f"{API_PREFIX}/push", include_in_schema=False)
async def push() -> None:
    raise _registry_only("Pushing a model")


@router.api_route(f"{API_PREFIX}/blobs/{{digest}}", methods=["HEAD", "POST"], include_in_schema=False)
async def blobs(digest: str) -> None:
    raise _registry_only("Uploading blobs")
