"""Raw /v1/completions through the real server: the honest endpoint for base models."""

from __future__ import annotations

import openai

from .conftest import BASE_MODEL

PROMPT = "The three primary colours are"


def test_completion_has_openai_shape(client: openai.OpenAI) -> None:
    response = client.completions.create(model=BASE_MODEL, prompt=PROMPT, max_tokens=8, temperature=0)
    assert response.id.startswith("cmpl-")
    assert response.object == "text_completion"
    assert response.model == BASE_MODEL
    assert response.choices[0].finish_reason in ("stop", "length")
    assert response.usage is not None
    assert response.usage.completion_tokens <= 8
    assert response.choices[0].text


def test_completion_defaults_to_sixteen_tokens(client: openai.OpenAI) -> None:
    response = client.completions.create(
        model=BASE_MODEL, prompt="Once upon a time", temperature=0, stop=None
    )
    assert response.usage is not None and response.usage.completion_tokens <= 16


def test_completion_stream_equals_non_stream(client: openai.OpenAI) -> None:
    params = dict(model=BASE_MODEL, prompt=PROMPT, max_tokens=20, temperature=0.8, seed=5)
    whole = client.completions.create(**params).choices[0].text  # type: ignore[call-overload]
    chunks = list(client.completions.create(stream=True, stream_options={"include_usage": True}, **params))  # type: ignore[call-overload]
    streamed = "".join(c.choices[0].text for c in chunks if c.choices)
    assert streamed == whole
    assert chunks[-1].usage is not None and chunks[-1].choices == []
    assert chunks[-2].choices[0].finish_reason in ("stop", "length")


def test_completion_echo_prepends_prompt(client: openai.OpenAI) -> None:
    plain = client.completions.create(model=BASE_MODEL, prompt=PROMPT, max_tokens=5, temperature=0)
    echoed = client.completions.create(
        model=BASE_MODEL, prompt=PROMPT, max_tokens=5, temperature=0, echo=True
    )
    assert echoed.choices[0].text == PROMPT + plain.choices[0].text


def test_completion_logprobs_shape(client: openai.OpenAI) -> None:
    response = client.completions.create(
        model=BASE_MODEL, prompt=PROMPT, max_tokens=5, temperature=0, logprobs=2
    )
    logprobs = response.choices[0].logprobs
    assert logprobs is not None and response.usage is not None
    assert len(logprobs.tokens) == len(logprobs.token_logprobs) == response.usage.completion_tokens
    assert all(len(top) <= 2 for top in logprobs.top_logprobs)  # type: ignore[union-attr]
    assert logprobs.text_offset == sorted(logprobs.text_offset)
    assert "".join(logprobs.tokens) == response.choices[0].text


def test_completion_accepts_token_id_prompt(client: openai.OpenAI) -> None:
    response = client.completions.create(
        model=BASE_MODEL, prompt=[2, 818, 5279, 529], max_tokens=3, temperature=0
    )
    assert response.usage is not None and response.usage.prompt_tokens == 4


def test_completion_multibyte_text_never_split(client: openai.OpenAI) -> None:
    # Each flamingo is four byte-fallback tokens in Gemma's vocabulary.
    prompt = "Flamingos: " + "🦩" * 12
    params = dict(model=BASE_MODEL, prompt=prompt, max_tokens=24, temperature=0)
    whole = client.completions.create(**params).choices[0].text  # type: ignore[call-overload]
    deltas = [c.choices[0].text for c in client.completions.create(stream=True, **params) if c.choices]  # type: ignore[call-overload]
    assert "".join(deltas) == whole
    assert any(ord(char) > 0xFFFF for char in whole), whole
    for delta in deltas:
        assert "\ufffd" not in delta
        delta.encode("utf-8")  # a lone surrogate would raise


def test_repeat_penalty_changes_a_greedy_answer_and_its_window_zero_turns_it_off(
    client: openai.OpenAI,
) -> None:
    def complete(**extra: object) -> str:
        answer = client.completions.create(
            model=BASE_MODEL, prompt="one one one one one", max_tokens=24, temperature=0, extra_body=extra
        )
        return answer.choices[0].text

    plain = complete()
    penalized = complete(repeat_penalty=1.8, repeat_last_n=64)
    assert penalized != plain
    # llama.cpp's convention: a window of 0 switches every penalty off.
    assert complete(repeat_penalty=1.8, repeat_last_n=0) == plain
