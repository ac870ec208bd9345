"""Context and KV exhaustion on a small context (256 tokens a sequence, 4 sequences, one shared
cache): a prompt that fills the context is a clear 400, generation that reaches it ends with
`length` and every token delivered, and more long streams than the cache holds at once each finish
or fail clearly while the server goes on serving."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from .conftest import BASE_MODEL, RunningServer
from .model_servers import model_card, start_server, stop

SMALL_CTX = 256
N_PARALLEL = 4
NUM_LONG_STREAMS = 8
# Gemma's <eos> and <end_of_turn>, banned so that generation can only stop at the context's end.
NO_END = {"1": -100, "106": -100}
# Ordinary vocabulary ids: a token prompt of an exact length (a list of ids is used as it is).
FILLER_TOKEN = 1000
STREAM_TIMEOUT_SECONDS = 240


def _tokens(count: int) -> list[int]:
    return [FILLER_TOKEN + index % 500 for index in range(count)]


@pytest.fixture(scope="module")
def small_server(base_model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(
        tmp_path_factory.mktemp("small-context"),
        f"models:\n  - name: {BASE_MODEL}\n    file: {base_model_path}\n",
        {
            "LOCALCHAT_N_CTX": str(SMALL_CTX),
            "LOCALCHAT_N_PARALLEL": str(N_PARALLEL),
            "LOCALCHAT_DEFAULT_MODEL": BASE_MODEL,
        },
    )
    yield running
    stop(running)


@pytest.fixture(scope="module")
def small_client(small_server: RunningServer) -> openai.OpenAI:
    return small_server.client()


def _assert_healthy(server: RunningServer) -> None:
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        assert http.get("/health").status_code == 200
        card = model_card(http, BASE_MODEL)
    assert card["n_ctx"] == SMALL_CTX
    assert card["num_running"] == 0 and card["num_waiting"] == 0


@pytest.mark.parametrize("num_prompt", [SMALL_CTX, SMALL_CTX + 1, 3 * SMALL_CTX])
def test_prompt_filling_the_context_is_context_length_exceeded(
    small_server: RunningServer, small_client: openai.OpenAI, num_prompt: int
) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        small_client.completions.create(model=BASE_MODEL, prompt=_tokens(num_prompt), max_tokens=1)
    assert caught.value.body["code"] == "context_length_exceeded"  # type: ignore[index]
    assert str(SMALL_CTX) in caught.value.body["message"]  # type: ignore[index]
    _assert_healthy(small_server)


def test_long_chat_prompt_is_context_length_exceeded(small_client: openai.OpenAI) -> None:
    messages = [{"role": "user", "content": "the tide came in " * SMALL_CTX}]
    with pytest.raises(openai.BadRequestError) as caught:
        small_client.chat.completions.create(model=BASE_MODEL, messages=messages, stream=True)  # type: ignore[arg-type]
    assert caught.value.body["code"] == "context_length_exceeded"  # type: ignore[index]


def test_prompt_one_short_of_the_context_gets_one_token(small_client: openai.OpenAI) -> None:
    response = small_client.completions.create(
        model=BASE_MODEL, prompt=_tokens(SMALL_CTX - 1), max_tokens=1, logit_bias=NO_END
    )
    assert response.choices[0].finish_reason == "length"
    assert response.usage is not None and response.usage.completion_tokens == 1


def test_max_tokens_past_the_context_is_400(small_client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        small_client.completions.create(model=BASE_MODEL, prompt=_tokens(100), max_tokens=SMALL_CTX - 99)
    assert caught.value.body["code"] == "context_length_exceeded"  # type: ignore[index]


def _streamed(client: openai.OpenAI, **params: object) -> tuple[str, str | None, int]:
    stream = client.completions.create(stream=True, stream_options={"include_usage": True}, **params)  # type: ignore[call-overload]
    parts, finish_reason, completion_tokens = [], None, 0
    for chunk in stream:
        if chunk.choices:
            parts.append(chunk.choices[0].text)
            finish_reason = chunk.choices[0].finish_reason or finish_reason
        if chunk.usage is not None:
            completion_tokens = chunk.usage.completion_tokens
    return "".join(parts), finish_reason, completion_tokens


def test_generation_up_to_the_context_end_delivers_every_token(small_client: openai.OpenAI) -> None:
    params = {
        "model": BASE_MODEL,
        "prompt": _tokens(200),
        "temperature": 0.8,
        "seed": 5,
        "logit_bias": NO_END,
    }
    text, finish_reason, completion_tokens = _streamed(small_client, max_tokens=SMALL_CTX - 200, **params)
    assert finish_reason == "length"
    assert completion_tokens == SMALL_CTX - 200
    whole = small_client.completions.create(max_tokens=SMALL_CTX - 200, **params)  # type: ignore[call-overload]
    assert whole.choices[0].text == text  # the stream lost nothing at the end


async def _long_stream(client: openai.AsyncOpenAI, index: int) -> tuple[str, int, int] | openai.APIError:
    """(finish_reason, prompt tokens, completion tokens), or the error the client was given."""
    num_prompt = 60 + 20 * index
    try:
        stream = await client.completions.create(
            model=BASE_MODEL,
            prompt=_tokens(num_prompt),
            max_tokens=SMALL_CTX - num_prompt,
            temperature=1.0,
            seed=index,
            logit_bias=NO_END,
            stream=True,
            stream_options={"include_usage": True},
        )
        finish_reason, usage = "", None
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].finish_reason:
                finish_reason = chunk.choices[0].finish_reason
            usage = chunk.usage or usage
    except openai.APIError as exc:
        return exc
    assert usage is not None
    return finish_reason, usage.prompt_tokens, usage.completion_tokens


@pytest.mark.asyncio
async def test_more_long_streams_than_the_cache_holds_each_finish_or_fail_clearly(
    small_server: RunningServer, small_client: openai.OpenAI
) -> None:
    client = small_server.async_client()
    results = await asyncio.wait_for(
        asyncio.gather(*[_long_stream(client, index) for index in range(NUM_LONG_STREAMS)]),
        timeout=STREAM_TIMEOUT_SECONDS,  # none hangs
    )
    await client.close()
    for result in results:
        if isinstance(result, openai.APIError):
            assert result.message, result  # a clear error, not a silent cut
            continue
        finish_reason, prompt_tokens, completion_tokens = result
        assert finish_reason == "length", result
        assert prompt_tokens + completion_tokens == SMALL_CTX, result
    follow_up = small_client.completions.create(model=BASE_MODEL, prompt="The harbour", max_tokens=8)
    assert follow_up.usage is not None and follow_up.usage.completion_tokens >= 1
    _assert_healthy(small_server)
