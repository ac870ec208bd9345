"""What is loaded: models resident in memory, each with its engine; loads run off the event loop."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from server.config import Settings
from server.engine.engine import Engine
from server.engine.llama import LlamaRuntime, RuntimeConfig, supports_gpu_offload
from server.models.bundled import assemble_bundled_model
from server.models.catalog import Catalog, ModelEntry, ModelInfo
from server.templates.prompt import ChatPrompt, format_chat

log = logging.getLogger("localchat.models")

ALL_LAYERS = 999


class ModelUnavailable(RuntimeError):
    """The entry exists but cannot be served (file missing, llama.cpp refused it)."""


@dataclass
class LoadedModel:
    info: ModelInfo
    engine: Engine
    load_seconds: float

    @property
    def name(self) -> str:
        return self.info.name

    @property
    def runtime(self) -> LlamaRuntime:
        return self.engine.runtime

    @property
    def n_ctx(self) -> int:
        return self.runtime.n_ctx_seq

    def tokenize(self, text: str, *, parse_special: bool) -> list[int]:
        runtime = self.runtime
        tokens = runtime.tokenize(text, add_bos=runtime.adds_bos, parse_special=parse_special)
        # Templates usually write {{ bos_token }} themselves; llama.cpp then adds a second one.
        if len(tokens) >= 2 and tokens[0] == tokens[1] == runtime.bos_token:
            tokens = tokens[1:]
        return tokens

    def format_chat(
        self, messages: Sequence[dict[str, Any]], tools: Sequence[dict[str, Any]] | None = None
    ) -> ChatPrompt:
        return format_chat(self.info.template, messages, tools=tools)


class ModelPool:
    def __init__(self, catalog: Catalog, settings: Settings) -> None:
        self.catalog = catalog
        self.settings = settings
        self._loaded: dict[str, LoadedModel] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    def loaded_model(self, name: str) -> LoadedModel | None:
        return self._loaded.get(name)

    @property
    def loaded(self) -> list[LoadedModel]:
        return list(self._loaded.values())

    async def get(self, name: str) -> LoadedModel:
        """The loaded model for a name or alias; concurrent callers for a cold model share one load."""
        entry = self.catalog.resolve(name)
        loaded = self._loaded.get(entry.name)
        if loaded is not None:
            return loaded
        lock = self._locks.setdefault(entry.name, asyncio.Lock())
        async with lock:
            loaded = self._loaded.get(entry.name)
            if loaded is None:
                loaded = await asyncio.to_thread(self._load, entry)
                self._loaded[entry.name] = loaded
            return loaded

    def _load(self, entry: ModelEntry) -> LoadedModel:
        started = time.perf_counter()
        if not entry.path.exists():
            if not entry.is_bundled:
                raise ModelUnavailable(f"model '{entry.name}': file {entry.path} does not exist")
            assemble_bundled_model(entry.path)
        info = self.catalog.info(entry.name)
        if info.metadata_error is not None:
            raise ModelUnavailable(f"model '{entry.name}' is unreadable: {info.metadata_error}")
        settings = self.settings
        n_gpu_layers = entry.n_gpu_layers if entry.n_gpu_layers is not None else settings.n_gpu_layers
        if n_gpu_layers is None:
            n_gpu_layers = ALL_LAYERS if supports_gpu_offload() else 0
        elif n_gpu_layers == -1:
            n_gpu_layers = ALL_LAYERS
        config = RuntimeConfig(
            path=entry.path,
            n_ctx=(entry.n_ctx or settings.n_ctx) * settings.n_parallel,
            n_batch=settings.n_batch,
            n_seq_max=settings.n_parallel,
            n_threads=settings.n_threads or os.cpu_count() or 1,
            n_gpu_layers=n_gpu_layers,
        )
        try:
            runtime = LlamaRuntime(config)
        except Exception as exc:
            raise ModelUnavailable(f"model '{entry.name}' failed to load: {exc}") from exc
        engine = Engine(
            runtime, n_parallel=settings.n_parallel, max_queue=settings.max_queue, name=entry.name
        )
        seconds = time.perf_counter() - started
        log.info(
            "loaded '%s' in %.2fs (n_ctx=%d, gpu layers=%d)", entry.name, seconds, runtime.n_ctx, n_gpu_layers
        )
        return LoadedModel(info=info, engine=engine, load_seconds=seconds)

    async def close(self) -> None:
        loaded, self._loaded = list(self._loaded.values()), {}
        for model in loaded:
            await asyncio.to_thread(model.engine.close)
