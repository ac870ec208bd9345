"""Ollama's copy and delete on localchat's catalog. Copy gives a model another name (an alias in
models.yaml); delete removes a name: an alias goes from its entry, a model's entry goes from
models.yaml and its file from the models folder (a file elsewhere is left where it is). The server's
default model cannot be deleted. After a change the catalog is read again, so every route sees it."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from fastapi import FastAPI

from server.models import catalog_file
from server.models.catalog import Catalog, ModelEntry, ModelNotFound
from server.models.pool import ModelPool
from server.protocols.ollama.model_use import LATEST, find_entry
from server.protocols.ollama.wire import model_not_found
from server.service.errors import APIError, invalid_request


def catalog_lock(app: FastAPI) -> asyncio.Lock:
    lock = getattr(app.state, "ollama_catalog_lock", None)
    if lock is None:
        lock = app.state.ollama_catalog_lock = asyncio.Lock()
    return lock


def reload_catalog(app: FastAPI) -> None:
    pool: ModelPool = app.state.pool
    pool.catalog = Catalog.from_settings(app.state.settings)


def catalog_name(name: str) -> str:
    """How a name from an Ollama client is written into the catalog: without `:latest`."""
    return name.removesuffix(LATEST)


def _is_in_models_dir(path: Path, models_dir: Path) -> bool:
    return path.resolve().is_relative_to(models_dir.resolve())


async def delete(app: FastAPI, name: str) -> None:
    pool: ModelPool = app.state.pool
    settings = app.state.settings
    async with catalog_lock(app):
        try:
            entry = find_entry(pool.catalog, name)
        except ModelNotFound:
            raise model_not_found(name) from None
        alias = next((alias for alias in entry.aliases if alias in (name, catalog_name(name))), None)
        if alias is not None:
            await asyncio.to_thread(_remove_alias, settings.catalog_path, entry, alias)
        else:
            if entry.name == settings.default_model:
                raise APIError(
                    409,
                    f"'{name}' is this server's default model; start it with another --model first.",
                    param="model",
                    code="model_in_use",
                )
            await pool.unload_when_idle(entry.name)  # now, or once the responses using it end
            await asyncio.to_thread(
                _remove_model, settings.catalog_path, settings.models_dir, pool.catalog, entry
            )
        reload_catalog(app)


def _remove_alias(catalog_path: Path, entry: ModelEntry, alias: str) -> None:
    def without(raw: dict[str, Any]) -> dict[str, Any]:
        return {**raw, "aliases": [item for item in raw.get("aliases", []) if item != alias]}

    catalog_file.change_entry(catalog_path, entry.name, without)


def _remove_model(catalog_path: Path, models_dir: Path, catalog: Catalog, entry: ModelEntry) -> None:
    listed = catalog_file.change_entry(catalog_path, entry.name, lambda raw: None)
    shared = any(
        other.path.resolve() == entry.path.resolve() for other in catalog.entries() if other != entry
    )
    # A file dropped into the models folder is the model itself; one elsewhere only came in by name.
    if entry.path.exists() and not shared and (_is_in_models_dir(entry.path, models_dir) or not listed):
        entry.path.unlink()


async def copy(app: FastAPI, source: str, destination: str) -> None:
    pool: ModelPool = app.state.pool
    settings = app.state.settings
    new_name = catalog_name(destination)
    async with catalog_lock(app):
        try:
            entry = find_entry(pool.catalog, source)
        except ModelNotFound:
            raise APIError(
                404, f'model "{source}" not found', param="source", code="model_not_found"
            ) from None
        if pool.catalog.has_name(new_name):
            if pool.catalog.resolve(new_name).name == entry.name:
                return  # already a name of this model
            raise invalid_request(
                f"destination '{destination}' is already another model's name.", param="destination"
            )
        await asyncio.to_thread(_add_alias, settings.catalog_path, settings.models_dir, entry, new_name)
        reload_catalog(app)


def _add_alias(catalog_path: Path, models_dir: Path, entry: ModelEntry, alias: str) -> None:
    def with_alias(raw: dict[str, Any]) -> dict[str, Any]:
        return {**raw, "aliases": [*raw.get("aliases", []), alias]}

    if not catalog_file.change_entry(catalog_path, entry.name, with_alias):
        # A file dropped into the folder has no entry yet: it gets one, under the name it had.
        path = entry.path.resolve()
        file = (
            str(path.relative_to(models_dir.resolve())) if _is_in_models_dir(path, models_dir) else str(path)
        )
        catalog_file.add_entry(catalog_path, {"name": entry.name, "file": file, "aliases": [alias]})
