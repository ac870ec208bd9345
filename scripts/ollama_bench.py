"""Ollama's /api/generate against OpenAI's /v1/completions on one localchat, in one run: the same raw
prompt, greedy, the same token budget, streamed, at each concurrency. Prints tokens/s and median
time to first token for each, and their ratio (what NDJSON framing and the Ollama room cost).

    .venv/bin/python scripts/ollama_bench.py [--tokens 128] [--concurrency 1,4,8] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import PROMPT, bench_round, running_server

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.support.bundled import bundled_model_path


async def _ollama_stream(client: httpx.AsyncClient, prompt: str, tokens: int) -> tuple[int, float]:
    started = time.perf_counter()
    ttft, count = 0.0, 0
    body = {
        "model": "bench",
        "prompt": prompt,
        "raw": True,
        "options": {"temperature": 0, "num_predict": tokens},
    }
    async with client.stream("POST", "/api/generate", json=body) as response:
        async for line in response.aiter_lines():
            chunk = json.loads(line)
            if chunk.get("response"):
                ttft = ttft or time.perf_counter() - started
            if chunk.get("done"):
                count = chunk["eval_count"]
    return count, ttft


async def ollama_round(base_url: str, concurrency: int, tokens: int) -> tuple[float, float]:
    async with httpx.AsyncClient(base_url=base_url, timeout=600) as client:
        started = time.perf_counter()
        results = await asyncio.gather(
            *[_ollama_stream(client, f"Story {index}. {PROMPT}", tokens) for index in range(concurrency)]
        )
        elapsed = time.perf_counter() - started
    return sum(count for count, _ in results) / elapsed, statistics.median(ttft for _, ttft in results)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--concurrency", default="1,4,8")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    levels = [int(level) for level in args.concurrency.split(",")]
    with running_server(bundled_model_path(), args.threads, max(levels), {}) as api_url:
        base_url = api_url.removesuffix("/v1")
        asyncio.run(ollama_round(base_url, 1, 8))  # warm-up
        columns = ("openai tok/s", "ollama tok/s", "ratio", "ttft openai", "ttft ollama")
        print(f"{'streams':>7}  " + "  ".join(f"{column:>12}" for column in columns))
        for level in levels:
            openai_rounds, ollama_rounds = [], []
            for _ in range(args.rounds):  # alternated, so drift on a shared machine hits both
                openai_rounds.append(asyncio.run(bench_round(api_url, level, args.tokens)))
                ollama_rounds.append(asyncio.run(ollama_round(base_url, level, args.tokens)))
            openai_rate = statistics.median(r.tokens_per_second for r in openai_rounds)
            ollama_rate = statistics.median(rate for rate, _ in ollama_rounds)
            openai_ttft = statistics.median(r.median_ttft for r in openai_rounds)
            ollama_ttft = statistics.median(ttft for _, ttft in ollama_rounds)
            print(
                f"{level:>7}  {openai_rate:>12.1f}  {ollama_rate:>12.1f}  {ollama_rate / openai_rate:>12.2f}"
                f"  {openai_ttft:>11.3f}s  {ollama_ttft:>11.3f}s"
            )


if __name__ == "__main__":
    main()
