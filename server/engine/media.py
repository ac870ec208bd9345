"""libmtmd's context for a model's multimodal projector (an mmproj GGUF): what turns images and audio
into chunks of the prompt and into embeddings the text model reads. It is made from the model's own
llama.cpp handle and freed before it, by the runtime that owns both (server/engine/llama.py)."""

from __future__ import annotations

import ctypes
import threading
from pathlib import Path

import llama_cpp
from llama_cpp import _logger as llama_logging
from llama_cpp import mtmd_cpp as mtmd

# The marker a rendered prompt carries where each media item goes; libmtmd splits the text there.
MEDIA_MARKER = mtmd.mtmd_default_marker().decode()
_log_lock = threading.Lock()
_is_log_routed = False


class MediaLoadError(RuntimeError):
    pass


def _route_logs() -> None:
    """libmtmd logs through its own hook: send it where llama.cpp's go, at the same level."""
    global _is_log_routed
    with _log_lock:
        if not _is_log_routed:
            mtmd.mtmd_log_set(llama_logging.llama_log_callback, ctypes.c_void_p(0))
            mtmd.mtmd_helper_log_set(llama_logging.llama_log_callback, ctypes.c_void_p(0))
            _is_log_routed = True


class MediaContext:
    def __init__(self, model: llama_cpp.llama_model_p, path: Path, *, n_threads: int, use_gpu: bool) -> None:
        _route_logs()
        params = mtmd.mtmd_context_params_default()
        params.use_gpu = use_gpu
        params.n_threads = n_threads
        params.print_timings = False
        params.warmup = True
        self._marker = MEDIA_MARKER.encode()  # the params point at it: keep it alive
        params.media_marker = self._marker
        ctx = mtmd.mtmd_init_from_file(str(path).encode(), model, params)
        if not ctx:
            raise MediaLoadError(f"libmtmd could not load the projector {path.name} for this model")
        self._ctx = ctx
        self.supports_vision = bool(mtmd.mtmd_support_vision(ctx))
        self.supports_audio = bool(mtmd.mtmd_support_audio(ctx))

    def close(self) -> None:
        if self._ctx is not None:
            mtmd.mtmd_free(self._ctx)
            self._ctx = None
