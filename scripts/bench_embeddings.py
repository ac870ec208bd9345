"""Embedding throughput: 100 short texts through POST /v1/embeddings, in one request and one request
per text, on a real server with the bundled model. Prints inputs/s; a quiet machine gives fair numbers.

    .venv/bin/python scripts/bench_embeddings.py [--texts 100] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import openai

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from server.models.bundled import assemble_bundled_model  # noqa: E402
from tests.integration.model_servers import start_server, stop  # noqa: E402

MODEL = "gemma-3-270m"
BASE_FILE = REPO_ROOT / "models" / "gemma-3-270m-q4_k_m.gguf"
SUBJECTS = ["The cat", "A storm", "The market", "My neighbour", "This recipe", "The old bridge", "Our team"]
VERBS = [
    "sat quietly",
    "moved north",
    "fell sharply",
    "sang loudly",
    "needs more salt",
    "was rebuilt",
    "won again",
]


def short_texts(count: int) -> list[str]:
    """Distinct sentences of 4 to 8 tokens, like the titles and queries RAG code embeds."""
    return [
        f"{SUBJECTS[i % len(SUBJECTS)]} {VERBS[(i // len(SUBJECTS)) % len(VERBS)]} ({i})."
        for i in range(count)
    ]


def measure(client: openai.OpenAI, texts: list[str], rounds: int) -> tuple[float, float, int]:
    batched, single = [], []
    tokens = 0
    for _ in range(rounds):
        started = time.perf_counter()
        answer = client.embeddings.create(model=MODEL, input=texts, encoding_format="float")
        batched.append(time.perf_counter() - started)
        tokens = answer.usage.prompt_tokens
        started = time.perf_counter()
        for text in texts:
            client.embeddings.create(model=MODEL, input=text, encoding_format="float")
        single.append(time.perf_counter() - started)
    return statistics.median(batched), statistics.median(single), tokens


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--texts", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    if not BASE_FILE.exists():
        assemble_bundled_model(BASE_FILE)
    texts = short_texts(args.texts)
    with tempfile.TemporaryDirectory() as workdir:
        catalog = f"settings:\n  default_model: {MODEL}\nmodels:\n  - name: {MODEL}\n    file: {BASE_FILE}\n"
        server = start_server(Path(workdir), catalog, {})
        try:
            client = server.client()
            client.embeddings.create(model=MODEL, input="warm up", encoding_format="float")
            batched, single, tokens = measure(client, texts, args.rounds)
        finally:
            stop(server)
    print(f"{len(texts)} short texts, {tokens} tokens in all (median of {args.rounds} rounds)")
    rate = len(texts) / batched
    print(f"one request:     {batched:.2f} s = {rate:.0f} inputs/s ({tokens / batched:.0f} tokens/s)")
    print(f"one per request: {single:.2f} s = {len(texts) / single:.0f} inputs/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
