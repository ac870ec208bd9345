"""SamplingParams validation and token_logprob on plain numpy logits (no sampler chain, no llama.cpp)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from server.engine.sampling import SamplingParams, token_logprob

# -- SamplingParams ------------------------------------------------------------------------------------


def test_sampling_params_defaults_are_valid_and_not_greedy() -> None:
    params = SamplingParams()
    assert (params.is_greedy, params.has_penalties) == (False, False)


def test_sampling_params_zero_temperature_is_greedy() -> None:
    assert SamplingParams(temperature=0.0).is_greedy


def test_sampling_params_any_penalty_sets_has_penalties() -> None:
    assert SamplingParams(frequency_penalty=-0.5).has_penalties


def test_sampling_params_accepts_boundary_values() -> None:
    params = SamplingParams(
        temperature=2.0, top_p=1.0, min_p=1.0, presence_penalty=-2.0, frequency_penalty=2.0, top_logprobs=20
    )
    assert params.top_logprobs == 20


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("temperature", -0.1, "temperature"),
        ("temperature", 2.01, "temperature"),
        ("top_p", 0.0, "top_p"),
        ("top_p", 1.5, "top_p"),
        ("top_k", -1, "top_k"),
        ("min_p", -0.01, "min_p"),
        ("min_p", 1.01, "min_p"),
        ("presence_penalty", 2.5, "presence_penalty"),
        ("frequency_penalty", -2.5, "frequency_penalty"),
        ("top_logprobs", -1, "top_logprobs"),
        ("top_logprobs", 21, "top_logprobs"),
    ],
)
def test_sampling_params_out_of_range_raises_value_error(field: str, value: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SamplingParams(**{field: value})


# -- token_logprob ---------------------------------------------------------------------------------------


def _log_softmax(values: list[float]) -> list[float]:
    total = math.log(sum(math.exp(v) for v in values))
    return [v - total for v in values]


def test_token_logprob_is_log_softmax_of_token() -> None:
    logits = np.array([1.0, 2.0, 3.0, 0.5], dtype=np.float32)
    result = token_logprob(logits, token=1, num_top=0)
    assert result.token == 1
    assert result.logprob == pytest.approx(_log_softmax([1.0, 2.0, 3.0, 0.5])[1], abs=1e-6)


def test_token_logprob_probabilities_sum_to_one() -> None:
    logits = np.array([0.3, -1.0, 4.2, 2.2, 0.0], dtype=np.float32)
    total = sum(math.exp(token_logprob(logits, t, 0).logprob) for t in range(len(logits)))
    assert total == pytest.approx(1.0, abs=1e-9)


def test_token_logprob_top_sorted_descending_with_num_top_length() -> None:
    logits = np.array([0.1, 5.0, -2.0, 3.0, 4.0, 1.0], dtype=np.float32)
    result = token_logprob(logits, token=0, num_top=3)
    assert [token for token, _ in result.top] == [1, 4, 3]
    values = [value for _, value in result.top]
    assert values == sorted(values, reverse=True)


def test_token_logprob_top_values_are_logprobs() -> None:
    logits = np.array([0.0, 1.0, 2.0], dtype=np.float32)
    result = token_logprob(logits, token=0, num_top=2)
    expected = _log_softmax([0.0, 1.0, 2.0])
    assert [value for _, value in result.top] == pytest.approx([expected[2], expected[1]], abs=1e-6)


def test_token_logprob_num_top_zero_gives_empty_top() -> None:
    assert token_logprob(np.array([1.0, 2.0]), token=0, num_top=0).top == ()


def test_token_logprob_num_top_equal_to_vocab_lists_all() -> None:
    result = token_logprob(np.array([3.0, 1.0, 2.0]), token=2, num_top=3)
    assert [token for token, _ in result.top] == [0, 2, 1]


def test_token_logprob_stable_for_large_logits() -> None:
    logits = np.array([1000.0, 1000.0, -1000.0], dtype=np.float32)
    result = token_logprob(logits, token=0, num_top=1)
    assert result.logprob == pytest.approx(math.log(0.5), abs=1e-9)
    assert math.isfinite(result.top[0][1])


def test_token_logprob_returns_python_types() -> None:
    result = token_logprob(np.array([0.0, 1.0], dtype=np.float32), token=1, num_top=1)
    assert type(result.logprob) is float
    assert type(result.top[0][0]) is int
