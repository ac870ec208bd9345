"""Fuzz a real server from its own OpenAPI schema: valid and schema-breaking requests (Schemathesis)
to every operation, then a health check. Exits 1 on any 5xx or 4xx outside its protocol's error envelope.

    .venv/bin/python scripts/fuzz.py [--requests 10000] [--seed 0] [--url http://127.0.0.1:8000]

Without --url it starts its own server on the bundled model, with max_tokens capped at 8 so valid
requests stay cheap and the run measures input handling rather than generation.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

import httpx  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402

from server.models.bundled import assemble_bundled_model  # noqa: E402
from tests.integration.model_servers import start_server, stop  # noqa: E402
from tests.support.fuzzing import Failure, FuzzReport, fuzz, status_summary  # noqa: E402

MODEL = "gemma-3-270m"
BASE_FILE = REPO_ROOT / "models" / "gemma-3-270m-q4_k_m.gguf"
SERVER_ENV = {"LOCALCHAT_MAX_TOKENS_LIMIT": "8", "LOCALCHAT_N_CTX": "512", "LOCALCHAT_N_PARALLEL": "4"}
MAX_ROUNDS = 20
# Share of the requests per operation: the generating routes get the most, each mode half of it.
WEIGHTS = {
    "/v1/chat/completions": 4,
    "/v1/completions": 3,
    "/v1/chat/render": 2,
    "/v1/completions/render": 2,
    "/v1/responses": 3,
    "/v1/messages": 3,
    "/v1/messages/count_tokens": 1,
    "/v1/embeddings": 1,
    "/tokenize": 1,
    "/detokenize": 1,
    "/v1/models": 1,
    "/v1/models/{model_id}": 1,
    "/health": 1,
}


def examples_for(num_requests: int) -> object:
    # GET routes without parameters have nothing to negate: their share goes to positive cases.
    per_weight = num_requests / (2 * sum(WEIGHTS.values()))

    def examples(method: str, path: str, mode: GenerationMode) -> int:
        return max(1, round(per_weight * WEIGHTS.get(path, 1)))

    return examples


def run(url: str, num_requests: int, seed: int) -> int:
    started = time.monotonic()

    def show(failure: Failure) -> None:
        print(f"FAIL {failure}", flush=True)

    # Hypothesis stops early on operations whose inputs it runs out of (GET routes without
    # parameters), so further rounds with new seeds make up the difference until the count is exact.
    report = FuzzReport()
    for round_number in range(MAX_ROUNDS):
        remaining = num_requests - report.num_requests
        if remaining <= 0:
            break
        fuzz(
            url,
            examples=examples_for(remaining),
            model=MODEL,
            seed=seed + round_number,
            report=report,
            on_failure=show,
            limit=num_requests,
        )
    health = httpx.get(f"{url}/health", timeout=30).status_code
    chat = httpx.post(
        f"{url}/v1/chat/completions",
        json={"model": MODEL, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4},
        timeout=120,
    ).status_code
    elapsed = time.monotonic() - started
    print(f"requests: {report.num_requests} in {elapsed:.0f}s ({report.num_requests / elapsed:.1f}/s)")
    print(f"statuses: {status_summary(report.status_counts.items())}")
    print(f"failures: {len(report.failures)}")
    print(f"afterwards: /health {health}, chat completion {chat}")
    return 1 if report.failures or health != 200 or chat != 200 else 0


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=10_000, help="how many requests to send")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--url", help="fuzz this server instead of starting one")
    args = parser.parse_args()
    if args.url:
        return run(args.url.rstrip("/"), args.requests, args.seed)
    if not BASE_FILE.exists():
        assemble_bundled_model(BASE_FILE)
    with tempfile.TemporaryDirectory() as workdir:
        catalog = f"settings:\n  default_model: {MODEL}\nmodels:\n  - name: {MODEL}\n    file: {BASE_FILE}\n"
        server = start_server(Path(workdir), catalog, SERVER_ENV)
        try:
            return run(server.base_url, args.requests, args.seed)
        finally:
            stop(server)


if __name__ == "__main__":
    sys.exit(main())
