"""Per-sequence sampling: OpenAI parameters mapped onto a llama.cpp sampler chain, plus logprobs."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Protocol

import llama_cpp
import numpy as np

from server.engine.llama import LlamaRuntime
from server.engine.sampling.grammar import new_grammar_sampler


@dataclass(frozen=True)
class SamplingParams:
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0  # 0: off
    min_p: float = 0.0  # 0: off
    presence_penalty: float = 0.0
    frequency_penalty: float = 0.0
    # llama.cpp's repeat penalty: a token already generated has its logit divided by this when
    # positive and multiplied by it when negative. 1: off.
    repeat_penalty: float = 1.0
    # The penalties look back over this many generated tokens; None: the whole answer.
    penalty_last_n: int | None = None
    seed: int | None = None
    logit_bias: dict[int, float] = field(default_factory=dict)
    # None: no logprobs; 0..20: the sampled token's logprob plus this many alternatives
    top_logprobs: int | None = None
    # GBNF text with a "root" rule: only strings it accepts can be generated.
    grammar: str | None = None
    # Regexes after which the grammar applies (lazy grammar); empty: it applies from the start.
    grammar_triggers: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not 0.0 <= self.temperature <= 2.0:
            raise ValueError("temperature must be between 0 and 2")
        if not 0.0 < self.top_p <= 1.0:
            raise ValueError("top_p must be in (0, 1]")
        if self.top_k < 0:
            raise ValueError("top_k must be >= 0")
        if not 0.0 <= self.min_p <= 1.0:
            raise ValueError("min_p must be between 0 and 1")
        for name in ("presence_penalty", "frequency_penalty"):
            if not -2.0 <= getattr(self, name) <= 2.0:
                raise ValueError(f"{name} must be between -2 and 2")
        if self.repeat_penalty <= 0.0:
            raise ValueError("repeat_penalty must be positive")
        if self.penalty_last_n is not None and self.penalty_last_n < 1:
            raise ValueError("penalty_last_n must be at least 1")
        if self.top_logprobs is not None and not 0 <= self.top_logprobs <= 20:
            raise ValueError("top_logprobs must be between 0 and 20")

    @property
    def is_greedy(self) -> bool:
        return self.temperature == 0.0

    @property
    def has_penalties(self) -> bool:
        return self.presence_penalty != 0.0 or self.frequency_penalty != 0.0 or self.repeat_penalty != 1.0

    def penalty_window(self, max_tokens: int) -> int:
        return max(min(self.penalty_last_n or max_tokens, max_tokens), 1)


@dataclass(frozen=True)
class TokenLogprob:
    token: int
    logprob: float
    top: tuple[tuple[int, float], ...]


class Sampler(Protocol):
    def sample(self, runtime: LlamaRuntime, batch_index: int) -> int: ...

    def close(self) -> None: ...


class SamplerChain:
    """Owns one llama_sampler chain; free it with close() when the sequence ends."""

    def __init__(self, runtime: LlamaRuntime, params: SamplingParams, *, penalty_window: int) -> None:
        self.params = params
        self._chain = llama_cpp.llama_sampler_chain_init(llama_cpp.llama_sampler_chain_default_params())
        self._add_all(runtime, params, penalty_window)

    def _add(self, sampler: llama_cpp.llama_sampler_p) -> None:
        llama_cpp.llama_sampler_chain_add(self._chain, sampler)

    def _add_all(self, runtime: LlamaRuntime, params: SamplingParams, penalty_window: int) -> None:
        if params.grammar is not None:
            # First, so every later sampler only ever sees tokens the grammar allows.
            self._add(new_grammar_sampler(runtime, params.grammar, params.grammar_triggers))
        if params.logit_bias:
            biases = (llama_cpp.llama_logit_bias * len(params.logit_bias))()
            for slot, (token, bias) in enumerate(params.logit_bias.items()):
                biases[slot].token = token
                biases[slot].bias = bias
            self._add(
                llama_cpp.llama_sampler_init_logit_bias(runtime.n_vocab, len(params.logit_bias), biases)
            )
        if params.has_penalties:
            self._add(
                llama_cpp.llama_sampler_init_penalties(
                    runtime.n_vocab,
                    max(penalty_window, 1),
                    params.repeat_penalty,
                    params.frequency_penalty,
                    params.presence_penalty,
                )
            )
        if params.is_greedy:
            self._add(llama_cpp.llama_sampler_init_greedy())
            return
        if params.top_k > 0:
            self._add(llama_cpp.llama_sampler_init_top_k(params.top_k))
        if params.top_p < 1.0:
            self._add(llama_cpp.llama_sampler_init_top_p(params.top_p, 1))
        if params.min_p > 0.0:
            self._add(llama_cpp.llama_sampler_init_min_p(params.min_p, 1))
        self._add(llama_cpp.llama_sampler_init_temp(params.temperature))
        seed = params.seed if params.seed is not None else random.getrandbits(32)
        self._add(llama_cpp.llama_sampler_init_dist(seed & 0xFFFFFFFF))

    def sample(self, runtime: LlamaRuntime, batch_index: int) -> int:
        return int(llama_cpp.llama_sampler_sample(self._chain, runtime.ctx, batch_index))

    def close(self) -> None:
        if self._chain is not None:
            llama_cpp.llama_sampler_free(self._chain)
            self._chain = None


def token_logprob(logits: np.ndarray, token: int, num_top: int) -> TokenLogprob:
    """Log-probabilities under the model's raw distribution (before sampling filters), as OpenAI reports."""
    values = logits.astype(np.float64, copy=False)
    peak = float(values.max())
    log_total = peak + float(np.log(np.exp(values - peak).sum()))
    top: tuple[tuple[int, float], ...] = ()
    if num_top > 0:
        candidates = np.argpartition(-values, num_top - 1)[:num_top]
        ranked = candidates[np.argsort(-values[candidates])]
        top = tuple((int(t), float(values[t] - log_total)) for t in ranked)
    return TokenLogprob(token=token, logprob=float(values[token] - log_total), top=top)
