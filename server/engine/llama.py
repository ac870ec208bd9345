"""The only module that owns llama.cpp handles: model, context, vocabulary, batch, and the model's
multimodal projector (server/engine/media.py), freed before the model it was made from.

Everything here runs on the model's scheduler thread (or before it starts); llama.cpp contexts are
not thread-safe, and ctypes releases the GIL during each call so the event loop keeps running.
"""

from __future__ import annotations

import ctypes
import functools
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import llama_cpp
import numpy as np

from server.engine.embeddings import EmbeddingContext
from server.engine.media import MediaContext
from server.engine.text_chunks import PIECE_CHARS, RunCuts, VocabularyFacts, pieces

# Token texts kept per model (each a ctypes call to make again when dropped).
MAX_CACHED_PIECES = 16_384
_backend_lock = threading.Lock()
_is_backend_ready = False


class LlamaLoadError(RuntimeError):
    pass


class DecodeError(RuntimeError):
    pass


def init_backend() -> None:
    global _is_backend_ready
    with _backend_lock:
        if not _is_backend_ready:
            # llama.cpp logs every tensor at load; keep errors only unless the user asks for debug.
            if logging.getLogger("localchat").getEffectiveLevel() > logging.DEBUG:
                logging.getLogger("llama-cpp-python").setLevel(logging.ERROR)
            llama_cpp.llama_backend_init()
            _is_backend_ready = True


def supports_gpu_offload() -> bool:
    init_backend()
    return bool(llama_cpp.llama_supports_gpu_offload())


@dataclass(frozen=True)
class RuntimeConfig:
    path: Path
    n_ctx: int
    n_batch: int
    n_seq_max: int
    n_threads: int
    n_gpu_layers: int
    # Same seed, same text whether a request decodes alone or beside others (a few % slower).
    is_batch_invariant: bool = False
    # One KV cache for all sequences; each is still held to n_ctx / n_seq_max positions.
    is_kv_unified: bool = True
    # llama.cpp's repacked/AMX weight layouts (faster; off where they fail, see cpu_probe).
    use_extra_buffers: bool = True

    def __post_init__(self) -> None:
        if self.n_ctx < 16 or self.n_batch < 1 or self.n_seq_max < 1 or self.n_threads < 1:
            raise ValueError(f"invalid runtime config: {self}")


@dataclass(frozen=True)
class FimTokens:
    """A vocabulary's fill-in-the-middle tokens, as llama.cpp finds them (the GGUF's
    tokenizer.ggml.fim_*_token_id keys, or the known pieces of its vocabulary)."""

    prefix: int
    suffix: int
    middle: int
    pad: int | None = None
    # Repository context: a repo's name after `repo`, each file after `sep` (Qwen2.5-Coder's).
    repo: int | None = None
    separator: int | None = None


class LlamaRuntime:
    def __init__(self, config: RuntimeConfig) -> None:
        init_backend()
        self.config = config
        model_params = llama_cpp.llama_model_default_params()
        model_params.n_gpu_layers = config.n_gpu_layers
        if config.is_batch_invariant or not config.use_extra_buffers:
            # Repacked weights switch to a different matmul kernel once a batch has 4+ rows, which
            # changes the numbers a sequence gets depending on how many others share its step.
            model_params.use_extra_bufts = False
        model = llama_cpp.llama_model_load_from_file(str(config.path).encode(), model_params)
        if not model:
            raise LlamaLoadError(f"llama.cpp could not load {config.path}")
        self._model = model
        context_params = llama_cpp.llama_context_default_params()
        context_params.n_ctx = config.n_ctx
        context_params.n_batch = config.n_batch
        context_params.n_ubatch = config.n_batch
        context_params.n_seq_max = config.n_seq_max
        context_params.n_threads = config.n_threads
        context_params.n_threads_batch = config.n_threads
        context_params.no_perf = True
        # Sliding-window layers keep every position, so a cached prefix can be trimmed and reused.
        context_params.swa_full = True
        if config.is_batch_invariant:
            # llama.cpp's CPU flash attention changes its arithmetic with the other sequences' lengths.
            context_params.flash_attn_type = llama_cpp.LLAMA_FLASH_ATTN_TYPE_DISABLED
        context_params.kv_unified = config.is_kv_unified
        ctx = llama_cpp.llama_init_from_model(model, context_params)
        if not ctx:
            llama_cpp.llama_model_free(model)
            raise LlamaLoadError(f"llama.cpp could not create a context of {config.n_ctx} tokens")
        self.ctx = ctx
        self.vocab = llama_cpp.llama_model_get_vocab(model)
        self._memory = llama_cpp.llama_get_memory(ctx)
        self.n_vocab = llama_cpp.llama_vocab_n_tokens(self.vocab)
        self.n_ctx = llama_cpp.llama_n_ctx(ctx)
        # A unified cache lets one sequence take it all; the per-sequence limit stays the same.
        self.n_ctx_seq = min(llama_cpp.llama_n_ctx_seq(ctx), self.n_ctx // config.n_seq_max)
        self.n_batch = config.n_batch
        self.bos_token = llama_cpp.llama_vocab_bos(self.vocab)
        self.adds_bos = bool(llama_cpp.llama_vocab_get_add_bos(self.vocab))
        self._batch = llama_cpp.llama_batch_init(config.n_batch, 0, config.n_seq_max)
        self._piece_cache: dict[int, bytes] = {}
        self._special_piece_cache: dict[int, bytes] = {}
        self._is_closed = False
        self._embedder: EmbeddingContext | None = None
        self._embedder_lock = threading.Lock()
        self.n_embd = llama_cpp.llama_model_n_embd(model)
        self.media: MediaContext | None = None

    @functools.cached_property
    def fim_tokens(self) -> FimTokens | None:
        """None unless the vocabulary has the prefix, suffix and middle tokens."""

        def token(read: Callable[[llama_cpp.llama_vocab_p], int]) -> int | None:
            found = int(read(self.vocab))
            return found if 0 <= found < self.n_vocab else None

        prefix, suffix, middle = (
            token(read)
            for read in (
                llama_cpp.llama_vocab_fim_pre,
                llama_cpp.llama_vocab_fim_suf,
                llama_cpp.llama_vocab_fim_mid,
            )
        )
        if prefix is None or suffix is None or middle is None:
            return None
        return FimTokens(
            prefix,
            suffix,
            middle,
            pad=token(llama_cpp.llama_vocab_fim_pad),
            repo=token(llama_cpp.llama_vocab_fim_rep),
            separator=token(llama_cpp.llama_vocab_fim_sep),
        )

    def attach_projector(self, path: Path, *, use_gpu: bool) -> MediaContext:
        """Load a multimodal projector beside the model (once, before serving)."""
        if self.media is None:
            self.media = MediaContext(self._model, path, n_threads=self.config.n_threads, use_gpu=use_gpu)
        return self.media

    # -- vocabulary ---------------------------------------------------------------------------------

    def tokenize(self, text: str, *, add_bos: bool, parse_special: bool) -> list[int]:
        if len(text) <= PIECE_CHARS:
            return self._tokenize(text, add_bos=add_bos, parse_special=parse_special)
        data = [piece.encode("utf-8") for piece in pieces(text, self.vocabulary_facts.run_cuts)]
        # One buffer for all pieces: a piece has at most one token per byte, plus BOS.
        buffer = (llama_cpp.llama_token * (sum(map(len, data)) + 8))()
        start = ctypes.addressof(buffer)
        token_size = ctypes.sizeof(llama_cpp.llama_token)
        num_tokens = 0
        for index, piece in enumerate(data):
            room = len(buffer) - num_tokens
            at = ctypes.cast(start + num_tokens * token_size, ctypes.POINTER(llama_cpp.llama_token))
            count = llama_cpp.llama_tokenize(
                self.vocab, piece, len(piece), at, room, add_bos and index == 0, parse_special
            )
            if count < 0:  # cannot happen by the bound above; kept honest rather than silent
                raise ValueError(f"a piece of {len(piece)} bytes needs {-count} tokens")
            num_tokens += count
        return buffer[:num_tokens]

    def _tokenize(self, text: str, *, add_bos: bool, parse_special: bool) -> list[int]:
        data = text.encode("utf-8")
        capacity = len(data) + 8
        buffer = (llama_cpp.llama_token * capacity)()
        count = llama_cpp.llama_tokenize(
            self.vocab, data, len(data), buffer, capacity, add_bos, parse_special
        )
        if count < 0:
            capacity = -count
            buffer = (llama_cpp.llama_token * capacity)()
            count = llama_cpp.llama_tokenize(
                self.vocab, data, len(data), buffer, capacity, add_bos, parse_special
            )
        return list(buffer[:count])

    def token_bytes(self, token: int) -> bytes:
        """The token's text as raw bytes (may be part of a UTF-8 character); special tokens render empty."""
        return self._cached_piece(self._piece_cache, token, special=False)

    def token_bytes_special(self, token: int) -> bytes:
        """As token_bytes, but control tokens render as their text."""
        return self._cached_piece(self._special_piece_cache, token, special=True)

    def _cached_piece(self, cache: dict[int, bytes], token: int, *, special: bool) -> bytes:
        piece = cache.get(token)
        if piece is None:
            # Bounded: a long-running model writing its way through a 262k vocabulary would
            # otherwise grow the cache by tens of MiB. Starting over costs a few µs a token.
            if len(cache) >= MAX_CACHED_PIECES:
                cache.clear()
            piece = cache[token] = self._piece(token, special=special)
        return piece

    def _piece(self, token: int, *, special: bool = False) -> bytes:
        buffer = ctypes.create_string_buffer(64)
        size = llama_cpp.llama_token_to_piece(self.vocab, token, buffer, 64, 0, special)
        if size < 0:
            buffer = ctypes.create_string_buffer(-size)
            size = llama_cpp.llama_token_to_piece(self.vocab, token, buffer, -size, 0, special)
        return buffer.raw[:size]

    @functools.cached_property
    def vocabulary_facts(self) -> VocabularyFacts:
        """What the tokenizer's cost depends on, read from every token once (under a second for
        262k tokens), on the first long text."""
        always: list[str] = []
        maybe: list[str] = []
        longest = 1
        for token in range(self.n_vocab):
            piece = self._piece(token, special=True)  # not cached: most tokens are never sampled
            longest = max(longest, len(piece))
            attributes = llama_cpp.llama_vocab_get_attr(self.vocab, token)
            if attributes & llama_cpp.LLAMA_TOKEN_ATTR_USER_DEFINED:
                always.append(piece.decode("utf-8", errors="replace"))
            elif attributes & (llama_cpp.LLAMA_TOKEN_ATTR_CONTROL | llama_cpp.LLAMA_TOKEN_ATTR_UNKNOWN):
                maybe.append(piece.decode("utf-8", errors="replace"))
        return VocabularyFacts(max_token_bytes=longest, run_cuts=RunCuts.from_vocabulary(always, maybe))

    def is_end_of_generation(self, token: int) -> bool:
        return bool(llama_cpp.llama_vocab_is_eog(self.vocab, token))

    # -- decoding -----------------------------------------------------------------------------------

    def decode(
        self, entries: list[tuple[int, int, int, bool]], *, before_compute: Callable[[], None] | None = None
    ) -> None:
        """One llama_decode over (token, position, seq_id, wants_logits) entries. `before_compute` runs
        once the batch is built, right before llama.cpp takes over (and releases the GIL)."""
        if len(entries) > self.n_batch:
            raise DecodeError(f"batch of {len(entries)} exceeds n_batch {self.n_batch}")
        batch = self._batch
        for index, (token, position, seq_id, wants_logits) in enumerate(entries):
            batch.token[index] = token
            batch.pos[index] = position
            batch.n_seq_id[index] = 1
            batch.seq_id[index][0] = seq_id
            batch.logits[index] = wants_logits
        batch.n_tokens = len(entries)
        if before_compute is not None:
            before_compute()
        status = llama_cpp.llama_decode(self.ctx, batch)
        if status != 0:
            raise DecodeError(f"llama_decode returned {status}")

    def logits(self, batch_index: int) -> np.ndarray:
        pointer = llama_cpp.llama_get_logits_ith(self.ctx, batch_index)
        return np.ctypeslib.as_array(pointer, shape=(self.n_vocab,))

    def forget_sequence(self, seq_id: int) -> None:
        llama_cpp.llama_memory_seq_rm(self._memory, seq_id, -1, -1)

    def keep_prefix(self, seq_id: int, num_tokens: int) -> bool:
        """Drop cached positions >= num_tokens. False (and the sequence cleared) where the cache
        cannot do that, or no longer holds the whole prefix (sliding-window eviction)."""
        if num_tokens <= 0:
            self.forget_sequence(seq_id)
            return num_tokens == 0
        is_trimmed = llama_cpp.llama_memory_seq_rm(self._memory, seq_id, num_tokens, -1)
        is_complete = (
            llama_cpp.llama_memory_seq_pos_min(self._memory, seq_id) == 0
            and llama_cpp.llama_memory_seq_pos_max(self._memory, seq_id) == num_tokens - 1
        )
        if is_trimmed and is_complete:
            return True
        self.forget_sequence(seq_id)
        return False

    def num_cached(self, seq_id: int) -> int:
        """Positions held for a sequence (0 when empty): how tests see that KV was freed."""
        return llama_cpp.llama_memory_seq_pos_max(self._memory, seq_id) + 1

    def embedder(self) -> EmbeddingContext:
        """A second context on these weights for /v1/embeddings, made on first use: a model that
        only chats never pays for it."""
        with self._embedder_lock:
            if self._embedder is None:
                self._embedder = EmbeddingContext(
                    self._model, n_ctx=self.n_ctx_seq, n_threads=self.config.n_threads
                )
            return self._embedder

    def close(self) -> None:
        if self._is_closed:
            return
        self._is_closed = True
        if self._embedder is not None:
            self._embedder.close()
        if self.media is not None:
            self.media.close()
        llama_cpp.llama_batch_free(self._batch)
        llama_cpp.llama_free(self.ctx)
        llama_cpp.llama_model_free(self._model)
