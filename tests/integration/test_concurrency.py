"""Continuous batching through the real server: every stream gets all its tokens, a seed gives the
same text alone or beside others, prefixes are reused, the queue is bounded, cancelled KV is freed."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from .conftest import BASE_MODEL, RunningServer
from .model_servers import start_server, stop

# Gemma's <eos> and <end_of_turn>, banned so that every stream must deliver exactly max_tokens.
NO_END = {"1": -100, "106": -100}
NUM_STREAMS = 4


async def _stream(client: openai.AsyncOpenAI, prompt: str, *, max_tokens: int, seed: int) -> tuple[str, int]:
    stream = await client.completions.create(
        model=BASE_MODEL,
        prompt=prompt,
        max_tokens=max_tokens,
        temperature=0.9,
        seed=seed,
        logit_bias=NO_END,
        stream=True,
        stream_options={"include_usage": True},
    )
    parts, completion_tokens = [], 0
    async for chunk in stream:
        if chunk.choices:
            parts.append(chunk.choices[0].text)
        if chunk.usage is not None:
            completion_tokens = chunk.usage.completion_tokens
    return "".join(parts), completion_tokens


@pytest.mark.asyncio
async def test_concurrent_streams_all_get_every_token(server: RunningServer) -> None:
    client = server.async_client()
    results = await asyncio.gather(
        *[_stream(client, f"Story {i}: Once upon a time", max_tokens=40, seed=i) for i in range(NUM_STREAMS)]
    )
    await client.close()
    assert [tokens for _, tokens in results] == [40] * NUM_STREAMS
    assert all(text for text, _ in results)


@pytest.fixture(scope="module")
def invariant_server(
    base_model_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    running = start_server(
        tmp_path_factory.mktemp("invariant"),
        f"models:\n  - name: {BASE_MODEL}\n    file: {base_model_path}\n",
        {"LOCALCHAT_BATCH_INVARIANT": "true", "LOCALCHAT_DEFAULT_MODEL": BASE_MODEL},
    )
    yield running
    stop(running)


@pytest.mark.asyncio
async def test_same_seed_same_text_alone_or_batched_when_invariant(invariant_server: RunningServer) -> None:
    client = invariant_server.async_client()
    prompts = [f"Tale number {i}: In a land far away" for i in range(NUM_STREAMS * 2)]
    alone = [await _stream(client, prompt, max_tokens=32, seed=100 + i) for i, prompt in enumerate(prompts)]
    together = await asyncio.gather(
        *[_stream(client, prompt, max_tokens=32, seed=100 + i) for i, prompt in enumerate(prompts)]
    )
    await client.close()
    assert [text for text, _ in together] == [text for text, _ in alone]


@pytest.mark.asyncio
async def test_same_seed_same_text_when_run_again(server: RunningServer) -> None:
    client = server.async_client()
    prompt = "Tale number 7: In a land far away"
    first = await _stream(client, prompt, max_tokens=32, seed=7)
    again = await _stream(client, prompt, max_tokens=32, seed=7)
    await client.close()
    assert first == again


def test_second_chat_turn_reuses_cached_prefix(client: openai.OpenAI) -> None:
    system = "You are a ship's log keeper. " + "The sea was calm and the wind came from the west. " * 30
    turn1 = [{"role": "system", "content": system}, {"role": "user", "content": "What was the weather?"}]
    first = client.chat.completions.create(model=BASE_MODEL, messages=turn1, max_tokens=12, temperature=0)
    turn2 = [
        *turn1,
        {"role": "assistant", "content": first.choices[0].message.content or ""},
        {"role": "user", "content": "And the wind?"},
    ]
    second = client.chat.completions.create(model=BASE_MODEL, messages=turn2, max_tokens=4, temperature=0)
    assert first.usage is not None and second.usage is not None
    cached = second.usage.prompt_tokens_details.cached_tokens  # type: ignore[union-attr]
    assert cached >= first.usage.prompt_tokens - 2, (cached, first.usage.prompt_tokens)
    assert cached < second.usage.prompt_tokens


def test_models_report_batching_and_per_sequence_context(http: httpx.Client) -> None:
    card = http.get(f"/v1/models/{BASE_MODEL}").json()
    assert card["n_parallel"] >= 2
    assert card["n_ctx"] > 0
    assert card["num_running"] == 0 and card["num_waiting"] == 0


@pytest.fixture(scope="module")
def tiny_queue_server(
    base_model_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    running = start_server(
        tmp_path_factory.mktemp("tiny-queue"),
        f"models:\n  - name: {BASE_MODEL}\n    file: {base_model_path}\n",
        {"LOCALCHAT_N_PARALLEL": "1", "LOCALCHAT_MAX_QUEUE": "1", "LOCALCHAT_DEFAULT_MODEL": BASE_MODEL},
    )
    yield running
    stop(running)


@pytest.mark.asyncio
async def test_past_the_queue_is_429_with_retry_after(tiny_queue_server: RunningServer) -> None:
    body = {"model": BASE_MODEL, "prompt": "Once", "max_tokens": 60, "logit_bias": NO_END}
    async with httpx.AsyncClient(base_url=tiny_queue_server.api_url, timeout=60) as http:
        responses = await asyncio.gather(*[http.post("/completions", json=body) for _ in range(4)])
    statuses = sorted(response.status_code for response in responses)
    assert statuses.count(200) == 2, statuses  # one running, one waiting
    assert statuses.count(429) == 2, statuses
    rejected = next(response for response in responses if response.status_code == 429)
    assert rejected.headers["retry-after"].isdigit()
    assert rejected.json()["error"]["code"] == "queue_full"
    for response in responses:
        if response.status_code == 200:
            assert response.json()["usage"]["completion_tokens"] == 60


def _kv_tokens(server: RunningServer) -> int:
    return httpx.get(f"{server.api_url}/models/{BASE_MODEL}", timeout=10).json()["num_kv_tokens"]


def test_cancelled_stream_frees_its_kv(tiny_queue_server: RunningServer) -> None:
    client = tiny_queue_server.client()
    client.completions.create(model=BASE_MODEL, prompt="The harbour at dawn", max_tokens=8, temperature=0)
    assert _kv_tokens(tiny_queue_server) > 0  # a finished request stays cached for reuse
    body = {
        "model": BASE_MODEL,
        "prompt": "A long voyage",
        "max_tokens": 1000,
        "stream": True,
        "logit_bias": NO_END,
    }
    with httpx.stream("POST", f"{tiny_queue_server.api_url}/completions", json=body, timeout=60) as response:
        for number, _ in enumerate(response.iter_lines()):
            if number >= 6:
                break
    deadline = time.monotonic() + 10
    while _kv_tokens(tiny_queue_server) != 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _kv_tokens(tiny_queue_server) == 0
