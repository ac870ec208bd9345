"""Sampling in numpy, straight from llama.cpp's logits buffer.

llama.cpp's sampler chain copies every logit of the vocabulary into a candidate array before it
looks at any of them: about 0.7 ms per sequence per token at Gemma's 262,144 entries on a small CPU.
Here the common parameters (temperature, top_k, top_p, min_p, penalties, logit_bias, seed) work on
the buffer in place: greedy is one argmax; top_k, top_p and min_p first find their candidates exactly
(the k best through group maxima, the nucleus inside a growing top-k pool, min_p as a threshold on the
logits), so the sorts and softmaxes run over a few hundred tokens instead of the whole vocabulary;
plain temperature sampling draws from the whole vocabulary in two levels (group sums, then one group).
Grammars keep using llama.cpp's chain (see sampling.SamplerChain).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from typing import Any

import numpy as np

from server.engine.llama import LlamaRuntime
from server.engine.sampling import SamplingParams


class NumpySampler:
    """Same interface as SamplerChain: sample() picks and remembers a token; close() is a no-op."""

    def __init__(self, params: SamplingParams, *, penalty_window: int) -> None:
        if params.grammar is not None:
            raise ValueError("grammars need llama.cpp's sampler chain")
        self.params = params
        seed = params.seed if params.seed is not None else random.getrandbits(32)
        self._rng = np.random.Generator(np.random.PCG64(seed & 0xFFFFFFFF))
        self._penalty_window = max(penalty_window, 1)
        self._recent: list[int] = []
        self._counts: Counter[int] = Counter()
        self._bias = dict(params.logit_bias)

    def sample(self, runtime: LlamaRuntime, batch_index: int) -> int:
        return self.sample_logits(runtime.logits(batch_index))

    def sample_logits(self, logits: np.ndarray) -> int:
        """Pick the next token from one row of logits (left unchanged when this returns)."""
        adjusted = self._adjusted(logits)
        if adjusted is not None:
            ids, values = adjusted
            saved = logits[ids].copy()
            logits[ids] = values
            try:
                token = self._pick(logits)
            finally:
                logits[ids] = saved
        else:
            token = self._pick(logits)
        self._accept(token)
        return token

    def close(self) -> None:
        pass

    def _adjusted(self, logits: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
        """The tokens logit_bias and the penalties touch, and their new logits: in llama.cpp's order
        and float32 arithmetic (bias added; then the repeat penalty, then frequency and presence)."""
        params = self.params
        counts = self._counts if params.has_penalties else {}
        touched = self._bias.keys() | counts.keys()
        if not touched:
            return None
        ids = np.fromiter(touched, dtype=np.int64, count=len(touched))
        values = logits[ids].astype(np.float32, copy=True)
        if self._bias:
            values += np.array([self._bias.get(int(token), 0.0) for token in ids], dtype=np.float32)
        if counts:
            seen_counts = np.array([counts.get(int(token), 0) for token in ids], dtype=np.float32)
            seen = seen_counts > 0
            if params.repeat_penalty != 1.0:
                repeat = np.float32(params.repeat_penalty)
                values = np.where(seen, np.where(values <= 0, values * repeat, values / repeat), values)
            values -= seen_counts * np.float32(params.frequency_penalty) + seen * np.float32(
                params.presence_penalty
            )
        return ids, values.astype(np.float32, copy=False)

    def _accept(self, token: int) -> None:
        if not self.params.has_penalties:
            return
        self._recent.append(token)
        self._counts[token] += 1
        if len(self._recent) > self._penalty_window:
            dropped = self._recent.pop(0)
            self._counts[dropped] -= 1
            if not self._counts[dropped]:
                del self._counts[dropped]

    def _pick(self, logits: np.ndarray) -> int:
        params = self.params
        if params.is_greedy or params.top_k == 1:
            return int(np.argmax(logits))
        total: float | None = None  # of exp(logit - best) over the vocabulary, when top_p needs it
        if params.top_k:
            candidates = top_k_indices(logits, params.top_k)
        elif params.top_p < 1.0:
            candidates, total = _nucleus_pool(logits, params.top_p)
        elif params.min_p > 0.0:
            # Exact: p >= min_p * p_best exactly where logit >= best + ln(min_p).
            candidates = np.flatnonzero(logits >= logits.max() + np.float32(np.log(params.min_p)))
        else:
            return self._sample_whole_vocabulary(logits)
        values = logits[candidates].astype(np.float64)
        order = np.argsort(-values, kind="stable")
        candidates, values = candidates[order], values[order]
        # top_p and min_p judge the model's own distribution (temperature 1) over what top_k left,
        # as llama.cpp's chain does with its temperature sampler last.
        probs = np.exp(values - values[0])
        # top_p without top_k weighs the whole vocabulary; after top_k (or for min_p, which only
        # compares with the best token) the candidates are all there is.
        probs /= total if total is not None else probs.sum()
        keep = len(probs)
        if params.top_p < 1.0:
            keep = min(keep, int(np.searchsorted(np.cumsum(probs), params.top_p)) + 1)
        if params.min_p > 0.0:
            keep = min(keep, max(int(np.count_nonzero(probs >= params.min_p * probs[0])), 1))
        weights = np.exp((values[:keep] - values[0]) / params.temperature)
        return int(candidates[self._draw(weights)])

    def _sample_whole_vocabulary(self, logits: np.ndarray) -> int:
        """Exact temperature sampling over every token: one exp pass, then a two-level cumulative
        search (group sums, then inside one group) instead of a cumulative sum of the whole row."""
        weights = logits - logits.max()
        weights *= np.float32(1.0 / self.params.temperature)
        np.exp(weights, out=weights)
        groups = Groups(len(weights))
        group = self._draw(groups.reduce(weights, np.sum).astype(np.float64))
        members = groups.members(group)
        return int(members[self._draw(weights[members].astype(np.float64))])

    def _draw(self, weights: np.ndarray) -> int:
        """An index drawn with probability proportional to its weight."""
        cumulative = np.cumsum(weights)
        index = int(np.searchsorted(cumulative, self._rng.random() * cumulative[-1], side="right"))
        return min(index, len(weights) - 1)


class Groups:
    """The vocabulary cut into interleaved groups (token i in group i % num_groups) so that a per-group
    max or sum is one fast column-wise numpy reduction; tokens past the last full row form one more
    group."""

    ROWS = 64

    def __init__(self, vocabulary: int) -> None:
        self.num_columns = max(vocabulary // self.ROWS, 1)
        self.whole = self.num_columns * self.ROWS if vocabulary >= self.ROWS else 0
        self.vocabulary = vocabulary
        self.num_groups = self.num_columns + (1 if vocabulary > self.whole else 0) if self.whole else 1

    def reduce(self, row: np.ndarray, reduction: Callable[..., Any]) -> np.ndarray:
        """np.max or np.sum of each group."""
        if not self.whole:
            return np.array([reduction(row)])
        per_column = reduction(row[: self.whole].reshape(self.ROWS, self.num_columns), axis=0)
        if self.vocabulary > self.whole:
            per_column = np.append(per_column, reduction(row[self.whole :]))
        return per_column

    def members(self, group: int) -> np.ndarray:
        if not self.whole:
            return np.arange(self.vocabulary)
        if group == self.num_columns:
            return np.arange(self.whole, self.vocabulary)
        return np.arange(self.ROWS) * self.num_columns + group


def top_k_indices(logits: np.ndarray, k: int) -> np.ndarray:
    """The k best tokens, exactly, without partitioning the whole vocabulary: each of them lies in a
    group whose maximum is among the k largest group maxima."""
    groups = Groups(len(logits))
    if k >= groups.num_groups // 4:
        return np.argpartition(-logits, k - 1)[:k] if k < len(logits) else np.arange(len(logits))
    maxima = groups.reduce(logits, np.max)
    best = np.sort(np.argpartition(-maxima, k - 1)[:k])
    full = best[best < groups.num_columns]
    pool = (np.arange(groups.ROWS)[:, None] * groups.num_columns + full).ravel()
    if len(full) < len(best):
        pool = np.concatenate([pool, groups.members(groups.num_columns)])
    return pool[np.argpartition(-logits[pool], k - 1)[:k]]


def _softmax_total(logits: np.ndarray, best: float) -> float:
    """Sum over the vocabulary of exp(logit - best)."""
    return float(np.exp(logits - np.float32(best)).sum())


def _nucleus_pool(logits: np.ndarray, top_p: float) -> tuple[np.ndarray, float]:
    """The best tokens, enough of them to hold top_p of the probability (the nucleus lies inside),
    and the softmax total of the vocabulary relative to the best token."""
    best = float(logits.max())
    total = _softmax_total(logits, best)
    k = 64
    while True:
        pool = top_k_indices(logits, min(k, len(logits)))
        mass = float(np.exp(logits[pool].astype(np.float64) - best).sum()) / total
        if mass >= top_p or len(pool) == len(logits):
            return pool, total
        k *= 8
