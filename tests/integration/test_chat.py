"""Chat completions through the real server, driven by the openai package."""

from __future__ import annotations

import openai
import pytest

from .conftest import BASE_MODEL, RunningServer

QUESTION = [{"role": "user", "content": "Name three colours of the rainbow."}]


def _stream_text(client: openai.OpenAI, **kwargs: object) -> tuple[str, list[object]]:
    chunks = list(client.chat.completions.create(stream=True, **kwargs))  # type: ignore[call-overload]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    return text, chunks


def test_chat_completion_has_openai_shape(client: openai.OpenAI) -> None:
    response = client.chat.completions.create(model=BASE_MODEL, messages=QUESTION, max_tokens=12, seed=1)
    assert response.id.startswith("chatcmpl-")
    assert response.object == "chat.completion"
    assert response.model == BASE_MODEL
    assert response.created > 0
    assert response.system_fingerprint
    choice = response.choices[0]
    assert choice.message.role == "assistant"
    assert choice.finish_reason in ("stop", "length")
    assert response.usage is not None
    assert response.usage.prompt_tokens > 5
    assert 1 <= response.usage.completion_tokens <= 12
    assert response.usage.total_tokens == response.usage.prompt_tokens + response.usage.completion_tokens


def test_chat_max_tokens_ends_with_length(client: openai.OpenAI) -> None:
    messages = [{"role": "user", "content": "Write a long story about a dragon and a knight."}]
    response = client.chat.completions.create(
        model=BASE_MODEL, messages=messages, max_tokens=5, temperature=0, stop=[]
    )
    assert response.choices[0].finish_reason == "length"
    assert response.usage is not None and response.usage.completion_tokens == 5


def test_chat_max_completion_tokens_is_honoured(client: openai.OpenAI) -> None:
    messages = [{"role": "user", "content": "Write a long story about a dragon and a knight."}]
    response = client.chat.completions.create(
        model=BASE_MODEL, messages=messages, max_completion_tokens=3, temperature=0
    )
    assert response.usage is not None and response.usage.completion_tokens <= 3


def test_chat_stream_equals_non_streamed_answer_for_same_seed(client: openai.OpenAI) -> None:
    params = dict(model=BASE_MODEL, messages=QUESTION, max_tokens=24, temperature=0.9, seed=1234)
    whole = client.chat.completions.create(**params).choices[0].message.content  # type: ignore[call-overload]
    streamed, _ = _stream_text(client, **params)
    assert streamed == whole
    assert whole


def test_chat_stream_envelope_role_deltas_finish_usage(client: openai.OpenAI) -> None:
    _, chunks = _stream_text(
        client,
        model=BASE_MODEL,
        messages=QUESTION,
        max_tokens=8,
        temperature=0,
        stream_options={"include_usage": True},
    )
    first, finish, usage = chunks[0], chunks[-2], chunks[-1]
    assert first.object == "chat.completion.chunk"
    assert first.choices[0].delta.role == "assistant"
    assert finish.choices[0].finish_reason in ("stop", "length")
    assert all(c.choices[0].finish_reason is None for c in chunks[:-2])
    assert usage.choices == []
    assert usage.usage is not None and usage.usage.completion_tokens >= 1
    assert len({c.id for c in chunks}) == 1


def test_chat_stream_without_include_usage_sends_no_usage(client: openai.OpenAI) -> None:
    _, chunks = _stream_text(client, model=BASE_MODEL, messages=QUESTION, max_tokens=4, temperature=0)
    assert all(c.usage is None for c in chunks)
    assert chunks[-1].choices[0].finish_reason is not None


def test_chat_stream_sends_done_line(server: RunningServer) -> None:
    import httpx

    body = {"model": BASE_MODEL, "messages": QUESTION, "max_tokens": 3, "stream": True}
    with httpx.stream("POST", f"{server.api_url}/chat/completions", json=body, timeout=60) as response:
        lines = [line for line in response.iter_lines() if line.startswith("data:")]
    assert lines[-1].strip() == "data: [DONE]"


def test_chat_same_seed_gives_same_text(client: openai.OpenAI) -> None:
    params = dict(model=BASE_MODEL, messages=QUESTION, max_tokens=20, temperature=1.0, seed=99)
    first = client.chat.completions.create(**params).choices[0].message.content  # type: ignore[call-overload]
    second = client.chat.completions.create(**params).choices[0].message.content  # type: ignore[call-overload]
    assert first == second


def test_chat_different_seeds_vary(client: openai.OpenAI) -> None:
    texts = {
        client.chat.completions.create(
            model=BASE_MODEL, messages=QUESTION, max_tokens=20, temperature=1.0, seed=seed
        )
        .choices[0]
        .message.content
        for seed in (1, 2, 3)
    }
    assert len(texts) > 1


def test_chat_stop_string_is_not_leaked(client: openai.OpenAI) -> None:
    messages = [{"role": "user", "content": "Count from one to twenty in words, separated by commas."}]
    greedy = client.chat.completions.create(model=BASE_MODEL, messages=messages, max_tokens=30, temperature=0)
    full = greedy.choices[0].message.content or ""
    words = full.split()
    assert len(words) >= 4, full
    stop = words[3]
    stopped = client.chat.completions.create(
        model=BASE_MODEL, messages=messages, max_tokens=30, temperature=0, stop=[stop, "zzzz-never"]
    )
    text = stopped.choices[0].message.content or ""
    assert stopped.choices[0].finish_reason == "stop"
    assert stop not in text
    assert full.startswith(text)
    assert text == full[: full.index(stop)].rstrip()


def test_chat_stop_string_in_stream_matches_non_stream(client: openai.OpenAI) -> None:
    messages = [{"role": "user", "content": "Count from one to twenty in words, separated by commas."}]
    params = dict(model=BASE_MODEL, messages=messages, max_tokens=30, temperature=0, stop=", f")
    whole = client.chat.completions.create(**params)  # type: ignore[call-overload]
    streamed, chunks = _stream_text(client, **params)
    assert streamed == whole.choices[0].message.content
    assert ", f" not in streamed
    assert chunks[-1].choices[0].finish_reason == whole.choices[0].finish_reason


def test_chat_logprobs_align_with_tokens(client: openai.OpenAI) -> None:
    response = client.chat.completions.create(
        model=BASE_MODEL, messages=QUESTION, max_tokens=6, temperature=0, logprobs=True, top_logprobs=3
    )
    content = response.choices[0].logprobs.content  # type: ignore[union-attr]
    assert response.usage is not None
    assert len(content) == response.usage.completion_tokens
    for entry in content:
        assert entry.logprob <= 0
        assert len(entry.top_logprobs) == 3
        ranked = [alt.logprob for alt in entry.top_logprobs]
        assert ranked == sorted(ranked, reverse=True)
        # greedy decoding picks the most likely token
        assert entry.token == entry.top_logprobs[0].token
    assert "".join(e.token for e in content).strip() == (response.choices[0].message.content or "").strip()


def test_chat_logit_bias_forces_a_token(client: openai.OpenAI, server: RunningServer) -> None:
    import httpx

    def render(text: str) -> list[int]:
        body = {"model": BASE_MODEL, "messages": [{"role": "user", "content": text}]}
        return httpx.post(f"{server.api_url}/chat/render", json=body, timeout=30).json()["tokens"]

    with_word, without = render("x zebra"), render("x")
    extra = [token for token in with_word if token not in without]
    assert extra, (with_word, without)
    forced = client.chat.completions.create(
        model=BASE_MODEL,
        messages=QUESTION,
        max_tokens=3,
        temperature=0,
        logit_bias={str(extra[-1]): 100},
        logprobs=True,
    )
    tokens = [e.token for e in forced.choices[0].logprobs.content]  # type: ignore[union-attr]
    assert len(set(tokens)) == 1 and "zebra" in tokens[0], tokens


def test_chat_penalties_change_repetitive_output(client: openai.OpenAI) -> None:
    messages = [{"role": "user", "content": "Repeat after me: go go go go go go go go"}]
    plain = client.chat.completions.create(model=BASE_MODEL, messages=messages, max_tokens=16, temperature=0)
    penalised = client.chat.completions.create(
        model=BASE_MODEL,
        messages=messages,
        max_tokens=16,
        temperature=0,
        frequency_penalty=2.0,
        presence_penalty=2.0,
    )
    assert plain.choices[0].message.content != penalised.choices[0].message.content


def test_chat_accepts_sampler_extensions_and_user(client: openai.OpenAI) -> None:
    response = client.chat.completions.create(
        model=BASE_MODEL,
        messages=QUESTION,
        max_tokens=4,
        top_p=0.9,
        user="tester",
        extra_body={"top_k": 20, "min_p": 0.05},
    )
    assert response.usage is not None and response.usage.completion_tokens >= 1


def test_chat_base_model_answers_one_turn(client: openai.OpenAI) -> None:
    messages = [
        {"role": "system", "content": "A conversation with a helpful assistant."},
        {"role": "user", "content": "Hello, who are you?"},
    ]
    response = client.chat.completions.create(
        model=BASE_MODEL, messages=messages, max_tokens=120, temperature=0
    )
    text = response.choices[0].message.content or ""
    assert "User:" not in text and "\nAssistant:" not in text
    assert text == text.strip()


@pytest.mark.asyncio
async def test_chat_async_client_streamed_and_not(server: RunningServer) -> None:
    client = server.async_client()
    params = dict(model=BASE_MODEL, messages=QUESTION, max_tokens=10, temperature=0)
    whole = await client.chat.completions.create(**params)  # type: ignore[call-overload]
    stream = await client.chat.completions.create(stream=True, **params)  # type: ignore[call-overload]
    parts = [chunk.choices[0].delta.content or "" async for chunk in stream if chunk.choices]
    assert "".join(parts) == whole.choices[0].message.content
    await client.close()
