"""Give freed heap back to the OS after a model unloads.

A model's KV cache and compute buffers are hundreds of MB of malloc'd memory; glibc keeps freed
blocks in its arenas, so a server that loads and unloads models (TTL, eviction) would grow by what
each cycle leaves behind. malloc_trim returns it. Elsewhere (musl, macOS) this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools


@functools.cache
def _malloc_trim() -> ctypes._CFuncPtr | None:  # type: ignore[name-defined]
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        return ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None


def release_freed_memory() -> None:
    trim = _malloc_trim()
    if trim is not None:
        trim(0)
