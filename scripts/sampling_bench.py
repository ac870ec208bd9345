"""Per-token sampling cost on real logits: llama.cpp's sampler chain vs localchat's numpy sampler.

    .venv/bin/python scripts/sampling_bench.py [--model PATH] [--repeats 300]

Decodes one prompt with the bundled model (Gemma 3, 262,144-token vocabulary), then samples from
the same logits row again and again with each sampler and parameter set, and prints ms per token.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from server.engine.cpu_probe import extra_buffers_work
from server.engine.llama import LlamaRuntime, RuntimeConfig
from server.engine.sampling import SamplerChain, SamplingParams
from server.engine.sampling.numpy_sampler import NumpySampler

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = REPO_ROOT / "models" / "gemma-3-270m-q4_k_m.gguf"
CASES = {
    "greedy": SamplingParams(temperature=0.0),
    "greedy + logit_bias": SamplingParams(temperature=0.0, logit_bias={1: -100.0, 106: -100.0}),
    "temperature 1": SamplingParams(temperature=1.0, seed=1),
    "temperature 0.8, top_k 40": SamplingParams(temperature=0.8, top_k=40, seed=1),
    "temperature 0.7, top_p 0.9": SamplingParams(temperature=0.7, top_p=0.9, seed=1),
    "temperature 1, min_p 0.05": SamplingParams(temperature=1.0, min_p=0.05, seed=1),
    "top_k 40, top_p 0.95, penalties": SamplingParams(
        temperature=0.8, top_k=40, top_p=0.95, presence_penalty=0.5, frequency_penalty=0.5, seed=1
    ),
}


def per_token_ms(
    sampler: SamplerChain | NumpySampler, runtime: LlamaRuntime, index: int, repeats: int
) -> float:
    for _ in range(10):
        sampler.sample(runtime, index)
    started = time.perf_counter()
    for _ in range(repeats):
        sampler.sample(runtime, index)
    return 1000 * (time.perf_counter() - started) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL)
    parser.add_argument("--repeats", type=int, default=300)
    args = parser.parse_args()
    runtime = LlamaRuntime(
        RuntimeConfig(
            path=args.model, n_ctx=512, n_batch=512, n_seq_max=1, n_threads=os.cpu_count() or 1,
            n_gpu_layers=0, use_extra_buffers=extra_buffers_work(args.model),
        )
    )  # fmt: skip
    tokens = runtime.tokenize(
        "Once upon a time, in a small village by the sea,", add_bos=True, parse_special=False
    )
    runtime.decode([(token, i, 0, i == len(tokens) - 1) for i, token in enumerate(tokens)])
    index = len(tokens) - 1
    print(f"vocabulary {runtime.n_vocab}, {args.repeats} samples each, ms per token")
    print(f"{'parameters':34s} {'llama.cpp':>10s} {'numpy':>8s} {'speed-up':>9s}")
    for name, params in CASES.items():
        chain = SamplerChain(runtime, params, penalty_window=64)
        slow = per_token_ms(chain, runtime, index, args.repeats)
        chain.close()
        fast = per_token_ms(NumpySampler(params, penalty_window=64), runtime, index, args.repeats)
        print(f"{name:34s} {slow:10.3f} {fast:8.3f} {slow / fast:8.1f}x")
    runtime.close()


if __name__ == "__main__":
    main()
