"""Throughput and latency of localchat, side by side with llama.cpp's own llama-server, in one run.

    .venv/bin/python scripts/bench.py [--model PATH] [--tokens 128] [--concurrency 1,4,8,16]
        [--llama-server PATH | env LLAMA_SERVER=PATH] [--batch-invariant]

Prints, at each concurrency: aggregate tokens/s over concurrent streaming completions, median time
to first token and tokens delivered / requested, for localchat and (given a llama-server binary,
see scripts/build_llama_server.sh) for llama-server on the same model, threads, slots and
per-sequence context, with the ratios; localchat's decode-loop breakdown (ms per step in
llama_decode, in sampling, and the rest); and TTFT of turn 2 vs turn 1 of a ~1,000-token chat.
Every request decodes greedily with the end-of-sequence tokens banned, so each produces exactly
--tokens tokens and the counts are comparable.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_healthy(base_url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with status {process.returncode}")
        try:
            if httpx.get(f"{base_url}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError("server not healthy in time")


@contextmanager
def running_llama_server(binary: Path, model: Path, threads: int, n_parallel: int) -> Iterator[str]:
    """llama-server with the same slots and per-sequence context as localchat."""
    from server.engine.cpu_probe import extra_buffers_work

    port = _free_port()
    command = [
        str(binary), "-m", str(model), "--host", "127.0.0.1", "--port", str(port),
        "-np", str(n_parallel), "-t", str(threads), "-tb", str(threads), "-c", str(N_CTX * n_parallel),
        "--no-webui", "--log-disable",
    ]  # fmt: skip
    if not extra_buffers_work(model):  # the same fallback localchat takes on this CPU
        command.append("--no-repack")
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_healthy(f"http://127.0.0.1:{port}", server)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        server.terminate()
        server.wait(timeout=30)


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
            _wait_healthy(base_url, server)
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
    num_text_chunks = 0
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].text:
            num_text_chunks += 1
            ttft = ttft or time.perf_counter() - started
        if chunk.usage is not None:
            completion_tokens = chunk.usage.completion_tokens
    return StreamResult(completion_tokens or num_text_chunks, ttft)


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


@dataclass
class StepBreakdown:
    num_steps: float
    decode_ms: float
    sample_ms: float
    other_ms: float


def step_counters(api_url: str) -> dict[str, float]:
    """localchat's cumulative decode-loop counters, from /metrics."""
    from prometheus_client.parser import text_string_to_metric_families

    text = httpx.get(api_url.removesuffix("/v1") + "/metrics", timeout=10).text
    counters: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "localchat_decode_steps_total":
                counters["steps"] = sample.value
            elif sample.name == "localchat_step_seconds_total":
                counters[sample.labels["phase"]] = sample.value
    return counters


def breakdown(before: dict[str, float], after: dict[str, float]) -> StepBreakdown:
    steps = max(after["steps"] - before["steps"], 1)
    per_step = {
        phase: 1000 * (after[phase] - before[phase]) / steps for phase in ("decode", "sample", "other")
    }
    return StepBreakdown(steps, per_step["decode"], per_step["sample"], per_step["other"])


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


def measure(
    api_url: str, level: int, tokens: int, *, with_steps: bool
) -> tuple[RoundResult, StepBreakdown | None]:
    before = step_counters(api_url) if with_steps else None
    result = asyncio.run(bench_round(api_url, level, tokens))
    return result, breakdown(before, step_counters(api_url)) if before is not None else None


def median_round(
    rounds: list[tuple[RoundResult, StepBreakdown | None]],
) -> tuple[RoundResult, StepBreakdown | None]:
    ordered = sorted(rounds, key=lambda pair: pair[0].tokens_per_second)
    return ordered[len(ordered) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--concurrency", default="1,4,8,16")
    parser.add_argument("--llama-server", type=Path, default=os.environ.get("LLAMA_SERVER") or None)
    parser.add_argument(
        "--batch-invariant", action="store_true", help="serve with LOCALCHAT_BATCH_INVARIANT=true"
    )
    parser.add_argument("--sampler", choices=["numpy", "llama"], default="numpy")
    parser.add_argument("--repeats", type=int, default=3, help="rounds per level and server (median kept)")
    args = parser.parse_args()
    if not args.model.exists():
        from server.models.bundled import assemble_bundled_model

        assemble_bundled_model(args.model)
    levels = [int(level) for level in args.concurrency.split(",")]
    slots = max(levels)
    env = {"LOCALCHAT_SAMPLER": args.sampler, "LOCALCHAT_BATCH_INVARIANT": str(args.batch_invariant).lower()}

    # Both servers stay up and take turns, round by round, so a noisy machine's slow minutes hit
    # both alike; each level keeps the median of its rounds.
    with contextlib.ExitStack() as stack:
        api_url = stack.enter_context(running_server(args.model, args.threads, slots, env))
        peer_url = None
        if args.llama_server is not None:
            peer_url = stack.enter_context(
                running_llama_server(args.llama_server, args.model, args.threads, slots)
            )
        for url in filter(None, (api_url, peer_url)):
            asyncio.run(bench_round(url, 1, 8))  # warm-up
        ours_rounds: dict[int, list] = {level: [] for level in levels}
        peer_rounds: dict[int, list] = {level: [] for level in levels}
        for level in levels:
            for _ in range(args.repeats):
                ours_rounds[level].append(measure(api_url, level, args.tokens, with_steps=True))
                if peer_url is not None:
                    peer_rounds[level].append(measure(peer_url, level, args.tokens, with_steps=False))
        turn1, turn2, conversation_tokens, cached = conversation_ttfts(api_url)
    ours = {level: median_round(rounds) for level, rounds in ours_rounds.items()}
    peer = {level: median_round(rounds) for level, rounds in peer_rounds.items()} if peer_url else None

    print(
        f"model {args.model.name}, {args.tokens} tokens per stream, {args.threads} threads, {slots} slots of "
        f"{N_CTX} tokens, temperature 0, batch-invariant {'on' if args.batch_invariant else 'off'}, "
        f"sampler {args.sampler}, median of {args.repeats} alternating rounds"
    )
    print(
        "streams | localchat tok/s  TTFT ms  delivered | llama-server tok/s  TTFT ms  delivered | ratio  TTFT"
    )
    for level in levels:
        result, _ = ours[level]
        line = (
            f"{level:7d} | {result.tokens_per_second:15.1f} {1000 * result.median_ttft:8.0f} "
            f"{result.delivered:5d}/{result.requested:<5d}"
        )
        if peer is not None:
            other, _ = peer[level]
            ratio = result.tokens_per_second / other.tokens_per_second
            line += (
                f" | {other.tokens_per_second:18.1f} {1000 * other.median_ttft:8.0f} "
                f"{other.delivered:5d}/{other.requested:<5d} | {ratio:5.2f}x"
                f" {1000 * result.median_ttft:.0f} vs {1000 * other.median_ttft:.0f} ms"
            )
        print(line)
    print("localchat decode loop, ms per step:")
    for level in levels:
        steps = ours[level][1]
        print(
            f"  {level:2d} streams: {steps.num_steps:5.0f} steps, decode {steps.decode_ms:6.2f}, "
            f"sample {steps.sample_ms:5.2f}, other {steps.other_ms:5.2f}"
        )
    print(
        f"conversation of {conversation_tokens} prompt tokens: turn 1 TTFT {1000 * turn1:.0f} ms, "
        f"turn 2 TTFT {1000 * turn2:.0f} ms ({100 * turn2 / turn1:.0f}% of turn 1, {cached} tokens cached)"
    )


if __name__ == "__main__":
    main()
