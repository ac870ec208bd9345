"""Sentence embeddings from a loaded model's weights: a second llama.cpp context, set up to pool the
last layer's states of a whole input into one vector: as the GGUF's pooling type says (mean, CLS or
last token), and by their mean for a causal model that names none.

Each input is decoded on its own, so an input's vector does not depend on what else is in the
request (a batch equals the same inputs one by one), then L2-normalised as OpenAI's are.
"""

from __future__ import annotations

import ctypes
import threading
from collections.abc import Sequence

import llama_cpp
import numpy as np


class EmbeddingError(RuntimeError):
    """llama.cpp refused an input (too long for the context, or a decode failure)."""


class EmbeddingContext:
    def __init__(self, model: ctypes.c_void_p, *, n_ctx: int, n_threads: int) -> None:
        params = llama_cpp.llama_context_default_params()
        params.n_ctx = n_ctx
        # Pooling needs the whole input in one micro-batch.
        params.n_batch = n_ctx
        params.n_ubatch = n_ctx
        params.n_seq_max = 1
        params.n_threads = n_threads
        params.n_threads_batch = n_threads
        params.embeddings = True
        params.no_perf = True
        # Unspecified: llama.cpp takes the pooling type from the model file.
        params.pooling_type = llama_cpp.LLAMA_POOLING_TYPE_UNSPECIFIED
        ctx = llama_cpp.llama_init_from_model(model, params)
        if ctx and llama_cpp.llama_pooling_type(ctx) == llama_cpp.LLAMA_POOLING_TYPE_NONE:
            llama_cpp.llama_free(ctx)
            params.pooling_type = llama_cpp.LLAMA_POOLING_TYPE_MEAN
            ctx = llama_cpp.llama_init_from_model(model, params)
        if not ctx:
            raise EmbeddingError(f"llama.cpp could not create an embedding context of {n_ctx} tokens")
        self.pooling_type = int(llama_cpp.llama_pooling_type(ctx))
        self._ctx = ctx
        self._memory = llama_cpp.llama_get_memory(ctx)
        self._uses_encoder = bool(llama_cpp.llama_model_has_encoder(model))
        self.n_ctx = n_ctx
        self.n_embd = llama_cpp.llama_model_n_embd(model)
        self._batch = llama_cpp.llama_batch_init(n_ctx, 0, 1)
        # One decode at a time per context; requests for the same model queue here.
        self._lock = threading.Lock()

    def embed(self, inputs: Sequence[Sequence[int]]) -> list[np.ndarray]:
        with self._lock:
            return [self._embed_one(tokens) for tokens in inputs]

    def _embed_one(self, tokens: Sequence[int]) -> np.ndarray:
        if not tokens:
            raise EmbeddingError("an input has no tokens")
        if len(tokens) > self.n_ctx:
            raise EmbeddingError(f"an input of {len(tokens)} tokens exceeds the context ({self.n_ctx})")
        llama_cpp.llama_memory_clear(self._memory, True)
        batch = self._batch
        batch.n_tokens = len(tokens)
        for position, token in enumerate(tokens):
            batch.token[position] = token
            batch.pos[position] = position
            batch.n_seq_id[position] = 1
            batch.seq_id[position][0] = 0
            batch.logits[position] = True
        run = llama_cpp.llama_encode if self._uses_encoder else llama_cpp.llama_decode
        if run(self._ctx, batch) != 0:
            raise EmbeddingError("llama.cpp failed to compute the embedding")
        pointer = llama_cpp.llama_get_embeddings_seq(self._ctx, 0)
        if not pointer:
            raise EmbeddingError("llama.cpp returned no pooled embedding")
        vector = np.ctypeslib.as_array(pointer, shape=(self.n_embd,)).astype(np.float32, copy=True)
        norm = float(np.linalg.norm(vector))
        return vector / norm if norm > 0 else vector

    def close(self) -> None:
        with self._lock:
            llama_cpp.llama_batch_free(self._batch)
            llama_cpp.llama_free(self._ctx)
