"""Sentence embeddings from a loaded model's weights: a second llama.cpp context returns the last
layer's state of each token, and they are pooled here into one vector: as the GGUF's pooling type
says (mean, CLS or last token), and by their mean for a causal model that names none.

Why pool here and not in llama.cpp: llama.cpp pools only a whole input in one micro-batch, and for a
causal model it also runs the output head over every token of it. For Gemma's 262k-token vocabulary
that made a 4 GiB compute buffer at a 4,096-token context. Asking for per-token states instead lets
a long input go through in 256-token micro-batches (the KV cache carries the earlier ones), and CLS
or last-token pooling asks for one token's state only.

Each input is decoded on its own, so an input's vector does not depend on what else is in the
request (a batch equals the same inputs one by one), then L2-normalised as OpenAI's are.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Sequence
from enum import IntEnum

import llama_cpp
import numpy as np

# Tokens per micro-batch for a causal model: the compute buffer grows with it (by 1 MiB a token
# for a 262k vocabulary) while longer micro-batches gain little.
CAUSAL_UBATCH = 256


class Pooling(IntEnum):
    # llama.cpp's enum llama_pooling_type
    NONE = 0
    MEAN = 1
    CLS = 2
    LAST = 3


class EmbeddingError(RuntimeError):
    """llama.cpp refused an input (too long for the context, or a decode failure)."""


def _meta(model: ctypes.c_void_p, key: str) -> str | None:
    buffer = ctypes.create_string_buffer(256)
    size = llama_cpp.llama_model_meta_val_str(model, key.encode(), buffer, len(buffer))
    return buffer.value.decode(errors="replace") if size >= 0 else None


def declared_pooling(model: ctypes.c_void_p) -> Pooling:
    """The GGUF's `<arch>.pooling_type`; mean when it names none (or one that is not a pooling of
    sentences, such as a reranker's)."""
    architecture = _meta(model, "general.architecture")
    value = _meta(model, f"{architecture}.pooling_type") if architecture else None
    try:
        pooling = Pooling(int(value)) if value is not None else Pooling.NONE
    except ValueError:
        pooling = Pooling.NONE
    return Pooling.MEAN if pooling is Pooling.NONE else pooling


def _is_causal(model: ctypes.c_void_p) -> bool:
    architecture = _meta(model, "general.architecture")
    return _meta(model, f"{architecture}.attention.causal") != "false"


class EmbeddingContext:
    def __init__(self, model: ctypes.c_void_p, *, n_ctx: int, n_threads: int) -> None:
        self.pooling = declared_pooling(model)
        self._uses_encoder = bool(llama_cpp.llama_model_has_encoder(model))
        # A bidirectional model must see a whole input in one micro-batch.
        self._ubatch = min(n_ctx, CAUSAL_UBATCH) if _is_causal(model) and not self._uses_encoder else n_ctx
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = n_ctx
        params.n_batch = self._ubatch
        params.n_ubatch = self._ubatch
        params.n_seq_max = 1
        params.n_threads = n_threads
        params.n_threads_batch = n_threads
        params.embeddings = True
        params.no_perf = True
        params.pooling_type = llama_cpp.LLAMA_POOLING_TYPE_NONE
        ctx = llama_cpp.llama_init_from_model(model, params)
        if not ctx:
            raise EmbeddingError(f"llama.cpp could not create an embedding context of {n_ctx} tokens")
        self._ctx = ctx
        self._memory = llama_cpp.llama_get_memory(ctx)
        self.n_ctx = n_ctx
        self.n_embd = llama_cpp.llama_model_n_embd(model)
        self._batch = llama_cpp.llama_batch_init(self._ubatch, 0, 1)
        # One decode at a time per context; requests for the same model queue here.
        self._lock = threading.Lock()

    def embed(self, inputs: Sequence[Sequence[int]]) -> list[np.ndarray]:
        with self._lock:
            return [self._embed_one(tokens) for tokens in inputs]

    def _is_wanted(self, position: int, num_tokens: int) -> bool:
        """Whether pooling needs this token's state."""
        if self.pooling is Pooling.CLS:
            return position == 0
        if self.pooling is Pooling.LAST:
            return position == num_tokens - 1
        return True

    def _embed_one(self, tokens: Sequence[int]) -> np.ndarray:
        if not tokens:
            raise EmbeddingError("an input has no tokens")
        if len(tokens) > self.n_ctx:
            raise EmbeddingError(f"an input of {len(tokens)} tokens exceeds the context ({self.n_ctx})")
        llama_cpp.llama_memory_clear(self._memory, True)
        total = np.zeros(self.n_embd, dtype=np.float64)
        num_pooled = 0
        for start in range(0, len(tokens), self._ubatch):
            chunk = tokens[start : start + self._ubatch]
            for offset in self._decode(chunk, start, len(tokens)):
                pointer = llama_cpp.llama_get_embeddings_ith(self._ctx, offset)
                if not pointer:
                    raise EmbeddingError("llama.cpp returned no embedding")
                total += np.ctypeslib.as_array(pointer, shape=(self.n_embd,))
                num_pooled += 1
        vector = (total / max(num_pooled, 1)).astype(np.float32)
        norm = float(np.linalg.norm(vector))
        return vector / norm if norm > 0 else vector

    def _decode(self, chunk: Sequence[int], start: int, num_tokens: int) -> list[int]:
        """Decode one micro-batch; returns where in it are the tokens whose states were asked for."""
        batch = self._batch
        batch.n_tokens = len(chunk)
        wanted: list[int] = []
        for offset, token in enumerate(chunk):
            position = start + offset
            batch.token[offset] = token
            batch.pos[offset] = position
            batch.n_seq_id[offset] = 1
            batch.seq_id[offset][0] = 0
            is_wanted = self._is_wanted(position, num_tokens)
            batch.logits[offset] = is_wanted
            if is_wanted:
                wanted.append(offset)
        run = llama_cpp.llama_encode if self._uses_encoder else llama_cpp.llama_decode
        if run(self._ctx, batch) != 0:
            raise EmbeddingError("llama.cpp failed to compute the embedding")
        return wanted

    def close(self) -> None:
        with self._lock:
            llama_cpp.llama_batch_free(self._batch)
            llama_cpp.llama_free(self._ctx)
