"""Turning a catalog entry into a running model: the llama.cpp runtime plus its decode loop.

Everything here blocks (reading weights, building the context); the pool runs it in a worker thread.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from server.config import Settings
from server.engine.cpu_probe import extra_buffers_work
from server.engine.engine import Engine
from server.engine.llama import LlamaRuntime, RuntimeConfig, supports_gpu_offload
from server.engine.media import MediaLoadError
from server.models.catalog import ModelEntry, ModelInfo
from server.templates.prompt import ChatPrompt, format_chat

log = logging.getLogger("localchat.models")

# What llama.cpp takes as "every layer" when the model's layer count is unknown.
ALL_LAYERS = 999


class ModelUnavailable(RuntimeError):
    """The entry exists but cannot be served (file missing, llama.cpp refused it)."""


@dataclass
class LoadedModel:
    """One model in memory, ready to serve: what the catalog knows of it (`info`: kind, template, chat
    format), and its engine, which owns the llama.cpp runtime and the decode loop. The pool owns the
    LoadedModel and closes it; a request only ever holds it through a Lease."""

    info: ModelInfo
    engine: Engine
    load_seconds: float
    n_gpu_layers: int = 0

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
        self,
        messages: Sequence[dict[str, Any]],
        tools: Sequence[dict[str, Any]] | None = None,
        variables: dict[str, Any] | None = None,
    ) -> ChatPrompt:
        return format_chat(self.info.template, messages, tools=tools, variables=variables)


def effective_gpu_layers(requested: int | None, num_layers: int | None, *, can_offload: bool) -> int:
    """The layers llama.cpp puts on the GPU, counting the output layer as one more (as it does).

    `requested` None or -1 means all of them; a build without GPU offload puts none there."""
    if not can_offload:
        return 0
    num_total = num_layers + 1 if num_layers is not None else None
    if requested is None or requested == -1:
        return num_total if num_total is not None else ALL_LAYERS
    return min(requested, num_total) if num_total is not None else requested


def gpu_layers_for(info: ModelInfo, settings: Settings) -> int:
    requested = info.entry.n_gpu_layers if info.entry.n_gpu_layers is not None else settings.n_gpu_layers
    num_layers = info.metadata.num_layers if info.metadata is not None else None
    return effective_gpu_layers(requested, num_layers, can_offload=supports_gpu_offload())


def _attach_projector(runtime: LlamaRuntime, entry: ModelEntry, info: ModelInfo, *, use_gpu: bool) -> None:
    """The entry's projector beside its weights; a projector that cannot serve this model fails the
    load with the reason (libmtmd itself would only log it)."""
    assert entry.mmproj is not None
    problem = info.projector_error
    projector = info.projector
    if problem is None and projector is not None and projector.output_width not in (None, runtime.n_embd):
        problem = (
            f"mmproj {entry.mmproj.name} makes embeddings {projector.output_width} wide, but this model "
            f"reads {runtime.n_embd}: it belongs to another model"
        )
    if problem is None:
        try:
            runtime.attach_projector(entry.mmproj, use_gpu=use_gpu)
        except MediaLoadError as exc:
            problem = str(exc)
    if problem is not None:
        runtime.close()
        raise ModelUnavailable(f"model '{entry.name}': {problem}")


def load_model(entry: ModelEntry, info: ModelInfo, settings: Settings) -> LoadedModel:
    """Load weights and start the model's decode loop; the file must exist."""
    started = time.perf_counter()
    if info.metadata_error is not None:
        raise ModelUnavailable(f"model '{entry.name}' is unreadable: {info.metadata_error}")
    n_gpu_layers = gpu_layers_for(info, settings)
    config = RuntimeConfig(
        path=entry.path,
        n_ctx=(entry.n_ctx or settings.n_ctx) * settings.n_parallel,
        n_batch=settings.n_batch,
        n_seq_max=settings.n_parallel,
        is_batch_invariant=settings.batch_invariant,
        # A shared cache makes attention span the other sequences' (masked) cells: not invariant.
        is_kv_unified=settings.kv_unified and not settings.batch_invariant,
        use_extra_buffers=settings.batch_invariant or extra_buffers_work(entry.path),
        n_threads=settings.n_threads or os.cpu_count() or 1,
        n_gpu_layers=n_gpu_layers,
    )
    try:
        runtime = LlamaRuntime(config)
    except Exception as exc:
        raise ModelUnavailable(f"model '{entry.name}' failed to load: {exc}") from exc
    if entry.mmproj is not None:
        _attach_projector(runtime, entry, info, use_gpu=n_gpu_layers > 0)
    engine = Engine(
        runtime,
        n_parallel=settings.n_parallel,
        max_queue=settings.max_queue,
        min_prefix_reuse=settings.min_prefix_reuse,
        name=entry.name,
        use_numpy_sampler=settings.sampler == "numpy",
    )
    seconds = time.perf_counter() - started
    log.info(
        "loaded '%s' in %.2fs (n_ctx=%d, gpu layers=%d)", entry.name, seconds, runtime.n_ctx, n_gpu_layers
    )
    return LoadedModel(info=info, engine=engine, load_seconds=seconds, n_gpu_layers=n_gpu_layers)
