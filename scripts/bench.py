"""Throughput of one stream: llama-cpp-python in-process vs localchat over HTTP, measured in one run.

    .venv/bin/python scripts/bench.py [--model PATH] [--tokens 128] [--repeats 3]

Prints tokens/s for each and their ratio. Both sides decode the same prompt greedily with the
end-of-sequence token banned, so both produce exactly --tokens tokens.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import openai

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = REPO_ROOT / "models" / "gemma-3-270m-q4_k_m.gguf"
PROMPT = "Once upon a time, in a small village by the sea,"
N_CTX = 2048
# Gemma's <eos> and <end_of_turn>: banned so every run generates the full token count.
BANNED = {1: -100.0, 106: -100.0}


def bench_in_process(model: Path, tokens: int, repeats: int, threads: int) -> list[float]:
    from llama_cpp import Llama

    llm = Llama(str(model), n_ctx=N_CTX, n_threads=threads, n_threads_batch=threads, verbose=False)
    llm.create_completion(PROMPT, max_tokens=4, temperature=0)  # warm-up
    rates = []
    for _ in range(repeats):
        llm.reset()  # no prompt cache: the server does not reuse prefixes yet either
        started = time.perf_counter()
        result = llm.create_completion(PROMPT, max_tokens=tokens, temperature=0, logit_bias=BANNED)
        elapsed = time.perf_counter() - started
        rates.append(result["usage"]["completion_tokens"] / elapsed)
    llm.close()
    return rates


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def bench_server(model: Path, tokens: int, repeats: int, threads: int) -> list[float]:
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
        )
        try:
            base_url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"{base_url}/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.2)
            client = openai.OpenAI(base_url=f"{base_url}/v1", api_key="bench", max_retries=0)
            logit_bias = {str(token): bias for token, bias in BANNED.items()}
            client.completions.create(model="bench", prompt=PROMPT, max_tokens=4, temperature=0)  # warm-up
            rates = []
            for _ in range(repeats):
                started = time.perf_counter()
                stream = client.completions.create(
                    model="bench",
                    prompt=PROMPT,
                    max_tokens=tokens,
                    temperature=0,
                    logit_bias=logit_bias,
                    stream=True,
                    stream_options={"include_usage": True},
                )
                completion_tokens = 0
                for chunk in stream:
                    if chunk.usage is not None:
                        completion_tokens = chunk.usage.completion_tokens
                rates.append(completion_tokens / (time.perf_counter() - started))
            return rates
        finally:
            server.terminate()
            server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    args = parser.parse_args()
    if not args.model.exists():
        from server.models.bundled import assemble_bundled_model

        assemble_bundled_model(args.model)
    in_process = statistics.median(bench_in_process(args.model, args.tokens, args.repeats, args.threads))
    served = statistics.median(bench_server(args.model, args.tokens, args.repeats, args.threads))
    print(f"model: {args.model.name}, {args.tokens} tokens, {args.threads} threads, median of {args.repeats}")
    print(f"llama-cpp-python in-process, 1 stream: {in_process:7.1f} tokens/s")
    print(f"localchat over HTTP (SSE),   1 stream: {served:7.1f} tokens/s")
    print(f"ratio localchat / in-process:          {served / in_process:7.2f}")


if __name__ == "__main__":
    main()
