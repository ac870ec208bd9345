from __future__ import annotations

import numpy as np
import pytest

from server.engine.sampling import SamplingParams
from server.engine.sampling.numpy_sampler import NumpySampler, top_k_indices

VOCAB = 5000


def _logits(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal(VOCAB).astype(np.float32)
    logits[[17, 4242, 999]] = [14.0, 13.5, 13.0]
    return logits


def _frequencies(params: SamplingParams, logits: np.ndarray, draws: int = 4000) -> np.ndarray:
    sampler = NumpySampler(params, penalty_window=1)
    counts = np.zeros(len(logits))
    for _ in range(draws):
        counts[sampler.sample_logits(logits)] += 1
    return counts / draws


def _softmax(values: np.ndarray) -> np.ndarray:
    weights = np.exp(values - values.max())
    return weights / weights.sum()


def test_greedy_is_the_argmax_and_leaves_the_logits_unchanged() -> None:
    logits = _logits()
    before = logits.copy()
    assert NumpySampler(SamplingParams(temperature=0), penalty_window=8).sample_logits(logits) == 17
    assert np.array_equal(logits, before)


def test_logit_bias_bans_and_favours_tokens() -> None:
    logits = _logits()
    params = SamplingParams(temperature=0, logit_bias={17: -100.0, 3: 100.0})
    assert NumpySampler(params, penalty_window=8).sample_logits(logits) == 3
    params = SamplingParams(temperature=0, logit_bias={17: -100.0})
    assert NumpySampler(params, penalty_window=8).sample_logits(logits) == 4242


def test_penalties_push_a_repeated_token_down() -> None:
    logits = _logits()
    sampler = NumpySampler(SamplingParams(temperature=0, frequency_penalty=2.0), penalty_window=8)
    assert [sampler.sample_logits(logits) for _ in range(3)] == [17, 4242, 999]


def test_repeat_penalty_divides_positive_and_multiplies_negative_logits() -> None:
    logits = np.zeros(8, dtype=np.float32)
    logits[[1, 2, 3]] = [4.0, 3.0, -1.0]
    sampler = NumpySampler(SamplingParams(temperature=0, repeat_penalty=2.0), penalty_window=8)
    assert sampler.sample_logits(logits) == 1  # then 4.0 / 2 = 2.0 < 3.0
    assert sampler.sample_logits(logits) == 2  # then 3.0 / 2 = 1.5: token 1's 2.0 wins again
    assert sampler.sample_logits(logits) == 1
    ids, values = sampler._adjusted(logits) or (None, None)
    assert dict(zip(ids.tolist(), values.tolist(), strict=True)) == {1: 2.0, 2: 1.5}
    negative = NumpySampler(SamplingParams(temperature=0, repeat_penalty=2.0), penalty_window=8)
    logits[[1, 2]] = -5.0
    assert negative.sample_logits(logits) == 0  # 0.0 is the largest logit
    negative._counts[3] += 1
    ids, values = negative._adjusted(logits) or (None, None)
    assert dict(zip(ids.tolist(), values.tolist(), strict=True))[3] == -2.0


def test_penalty_window_is_the_last_n_generated_tokens() -> None:
    assert SamplingParams(repeat_penalty=1.1, penalty_last_n=64).penalty_window(512) == 64
    assert SamplingParams(repeat_penalty=1.1, penalty_last_n=64).penalty_window(10) == 10
    assert SamplingParams(repeat_penalty=1.1).penalty_window(512) == 512
    with pytest.raises(ValueError, match="repeat_penalty"):
        SamplingParams(repeat_penalty=0.0)


def test_same_seed_same_sequence_of_tokens() -> None:
    logits = _logits()
    params = SamplingParams(temperature=1.2, top_p=0.9, seed=7)
    one, two = NumpySampler(params, penalty_window=1), NumpySampler(params, penalty_window=1)
    assert [one.sample_logits(logits) for _ in range(50)] == [two.sample_logits(logits) for _ in range(50)]


def test_temperature_sampling_follows_the_softmax() -> None:
    logits = _logits(1)
    expected = _softmax(logits.astype(np.float64) / 1.5)
    observed = _frequencies(SamplingParams(temperature=1.5, seed=3), logits)
    assert expected[TOP].sum() < 0.95  # the rest of the vocabulary matters in this check
    assert np.allclose(_buckets(observed), _buckets(expected), atol=0.03)


TOP = [17, 4242, 999]


def _buckets(probs: np.ndarray) -> list[float]:
    """The three best tokens' probabilities, then the rest of the vocabulary's."""
    return [*probs[TOP], 1.0 - probs[TOP].sum()]


@pytest.mark.parametrize(
    "params",
    [
        SamplingParams(temperature=1.0, top_k=3, seed=1),
        SamplingParams(temperature=1.0, top_p=0.6, seed=1),
        SamplingParams(temperature=1.0, min_p=0.5, seed=1),
    ],
)
def test_truncation_keeps_only_the_tokens_it_allows(params: SamplingParams) -> None:
    logits = _logits()
    observed = _frequencies(params, logits, draws=1500)
    allowed = {17, 4242, 999} if params.top_k == 3 else ({17, 4242} if params.min_p else None)
    if allowed is None:  # top_p 0.6 of (9.0, 8.5, 8.0, ...) keeps the first two
        allowed = {17, 4242}
    assert set(np.flatnonzero(observed)) <= allowed
    assert set(np.flatnonzero(observed)) == allowed


def test_top_k_indices_match_a_full_partition() -> None:
    logits = np.random.default_rng(5).standard_normal(262_144 + 77).astype(np.float32)
    for k in (1, 5, 40, 300):
        assert set(top_k_indices(logits, k)) == set(np.argpartition(-logits, k - 1)[:k])


def test_grammar_requests_are_refused() -> None:
    with pytest.raises(ValueError):
        NumpySampler(SamplingParams(grammar='root ::= "a"'), penalty_window=1)
