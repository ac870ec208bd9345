"""Give freed heap back to the OS after a model unloads.

A model's KV cache and compute buffers are hundreds of MB of malloc'd memory; glibc keeps freed
blocks in its arenas, so a server that loads and unloads models (TTL, eviction) would grow by what
each cycle leaves behind. malloc_trim returns it. Elsewhere (musl, macOS) this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools

# glibc's mallopt parameter for the number of malloc arenas.
_M_ARENA_MAX = -8
# Arenas for the whole process: one per thread that allocates (decode loops, loads, worker threads)
# would each keep its own freed memory.
MAX_ARENAS = 2


@functools.cache
def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    try:
        return ctypes.CDLL(name)
    except OSError:
        return None


def release_freed_memory() -> None:
    trim = getattr(_libc(), "malloc_trim", None)
    if trim is not None:
        trim(0)


def limit_arenas() -> None:
    """Call before threads start: fewer arenas keep less freed memory apart from the rest."""
    mallopt = getattr(_libc(), "mallopt", None)
    if mallopt is not None:
        mallopt(_M_ARENA_MAX, MAX_ARENAS)
