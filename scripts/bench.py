"""Throughput and latency of localchat against llama-cpp-python in-process, measured in one run.

    .venv/bin/python scripts/bench.py [--model PATH] [--tokens 128] [--concurrency 1,4,8]

Prints: llama-cpp-python in-process tokens/s (one stream); localchat tokens/s at each concurrency
(aggregate over concurrent streaming clients) and the ratios; median time to first token; tokens
delivered / tokens requested; and TTFT of turn 2 vs turn 1 of a ~1,000-token conversation.
Every request decodes greedily with the end-of-sequence tokens banned, so each produces exactly
--tokens tokens and the counts are comparable.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import openai

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = REPO_ROOT / "models" / "gemma-3-270m-q4_k_m.gguf"
PROMPT = "Once upon a time, in a small village by the sea,"
N_CTX = 2048
# Gemma's <eos> and <end_of_turn>: banned so every run generates the full token count.
BANNED = {1: -100.0, 106: -100.0}
BANNED_JSON = {str(token): bias for token, bias in BANNED.items()}


def bench_in_process(model: Path, tokens: int, repeats: int, threads: int) -> float:
    from llama_cpp import Llama

    llm = Llama(str(model), n_ctx=N_CTX, n_threads=threads, n_threads_batch=threads, verbose=False)
    llm.create_completion(PROMPT, max_tokens=4, temperature=0)  # warm-up
    rates = []
    for _ in range(repeats):
        llm.reset()  # no prompt cache: each request prefills its prompt
        started = time.perf_counter()
        result = llm.create_completion(PROMPT, max_tokens=tokens, temperature=0, logit_bias=BANNED)
        rates.append(result["usage"]["completion_tokens"] / (time.perf_counter() - started))
    llm.close()
    return statistics.median(rates)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def running_server(model: Path, threads: int, n_parallel: int, env: dict[str, str]) -> Iterator[str]:
    with tempfile.TemporaryDirectory() as models_dir:
        (Path(models_dir) / "models.yaml").write_text(
            f"settings:\n  default_model: bench\nmodels:\n  - name: bench\n    file: {model}\n"
        )
        port = _free_port()
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "server",
                "serve",
                "--models-dir",
                models_dir,
                "--port",
                str(port),
                "--n-ctx",
                str(N_CTX),
                "--n-threads",
                str(threads),
                "--log-level",
                "warning",
            ],
            cwd=REPO_ROOT,
            env={**os.environ, "LOCALCHAT_N_PARALLEL": str(n_parallel), **env},
        )
        try:
            base_url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"{base_url}/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)
            yield f"{base_url}/v1"
        finally:
            server.terminate()
            server.wait(timeout=30)


@dataclass
class StreamResult:
    completion_tokens: int
    ttft: float


async def one_stream(client: openai.AsyncOpenAI, prompt: str, tokens: int) -> StreamResult:
    started = time.perf_counter()
    ttft = 0.0
    completion_tokens = 0
    stream = await client.completions.create(
        model="bench",
        prompt=prompt,
        max_tokens=tokens,
        temperature=0,
        logit_bias=BANNED_JSON,
        stream=True,
        stream_options={"include_usage": True},
    )
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].text and not ttft:
            ttft = time.perf_counter() - started
        if chunk.usage is not None:
            completion_tokens = chunk.usage.completion_tokens
    return StreamResult(completion_tokens, ttft)


@dataclass
class RoundResult:
    tokens_per_second: float
    median_ttft: float
    delivered: int
    requested: int


async def bench_round(api_url: str, concurrency: int, tokens: int) -> RoundResult:
    client = openai.AsyncOpenAI(base_url=api_url, api_key="bench", max_retries=0, timeout=600)
    started = time.perf_counter()
    results = await asyncio.gather(
        *[one_stream(client, f"Story {index}. {PROMPT}", tokens) for index in range(concurrency)]
    )
    elapsed = time.perf_counter() - started
    await client.close()
    delivered = sum(result.completion_tokens for result in results)
    return RoundResult(
        delivered / elapsed, statistics.median(r.ttft for r in results), delivered, concurrency * tokens
    )


def conversation_ttfts(api_url: str) -> tuple[float, float, int, int]:
    """TTFT of turn 1 and turn 2 of a chat whose first turn is ~1,000 tokens long."""
    client = openai.OpenAI(base_url=api_url, api_key="bench", max_retries=0, timeout=600)
    log = " ".join(f"Day {day}: the wind was from the west and the sea was calm." for day in range(1, 70))
    messages = [
        {"role": "system", "content": "You keep the ship's log. " + log},
        {"role": "user", "content": "Summarise the weather."},
    ]

    def ttft_of(messages: list[dict[str, str]]) -> tuple[float, str, int, int]:
        started = time.perf_counter()
        first, parts, usage = 0.0, [], None
        stream = client.chat.completions.create(
            model="bench",
            messages=messages,
            max_tokens=16,
            temperature=0,
            stream=True,
            stream_options={"include_usage": True},
        )
        for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                first = first or time.perf_counter() - started
                parts.append(chunk.choices[0].delta.content)
            if chunk.usage is not None:
                usage = chunk.usage
        assert usage is not None
        cached = usage.prompt_tokens_details.cached_tokens if usage.prompt_tokens_details else 0
        return first, "".join(parts), usage.prompt_tokens, cached or 0

    turn1, answer, prompt_tokens, _ = ttft_of(messages)
    messages += [{"role": "assistant", "content": answer}, {"role": "user", "content": "And tomorrow?"}]
    turn2, _, _, cached = ttft_of(messages)
    return turn1, turn2, prompt_tokens, cached


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3, help="in-process repeats (median)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--concurrency", default="1,4,8")
    parser.add_argument(
        "--no-batch-invariant", action="store_true", help="serve with LOCALCHAT_BATCH_INVARIANT=false"
    )
    args = parser.parse_args()
    if not args.model.exists():
        from server.models.bundled import assemble_bundled_model

        assemble_bundled_model(args.model)
    levels = [int(level) for level in args.concurrency.split(",")]
    env = {"LOCALCHAT_BATCH_INVARIANT": "false"} if args.no_batch_invariant else {}

    in_process = bench_in_process(args.model, args.tokens, args.repeats, args.threads)
    rounds: dict[int, RoundResult] = {}
    with running_server(args.model, args.threads, max(levels), env) as api_url:
        asyncio.run(bench_round(api_url, 1, 8))  # warm-up
        for level in levels:
            rounds[level] = asyncio.run(bench_round(api_url, level, args.tokens))
        turn1, turn2, conversation_tokens, cached = conversation_ttfts(api_url)

    mode = "off" if args.no_batch_invariant else "on"
    print(
        f"model {args.model.name}, {args.tokens} tokens per stream, {args.threads} threads, "
        f"temperature 0, batch-invariant {mode}"
    )
    print(f"llama-cpp-python in-process, 1 stream: {in_process:7.1f} tokens/s")
    single = rounds[levels[0]].tokens_per_second
    for level, result in rounds.items():
        print(
            f"localchat {level:2d} stream(s): {result.tokens_per_second:7.1f} tokens/s"
            f"  x{result.tokens_per_second / single:4.2f} of 1 stream"
            f"  x{result.tokens_per_second / in_process:4.2f} of in-process"
            f"  median TTFT {1000 * result.median_ttft:6.0f} ms"
            f"  delivered {result.delivered}/{result.requested}"
        )
    print(
        f"conversation of {conversation_tokens} prompt tokens: turn 1 TTFT {1000 * turn1:.0f} ms, "
        f"turn 2 TTFT {1000 * turn2:.0f} ms ({100 * turn2 / turn1:.0f}% of turn 1, {cached} tokens cached)"
    )


if __name__ == "__main__":
    main()
