"""How often the default mode's greedy answers change with what is cached and who runs beside them,
on the bundled model: each prompt is answered (temperature 0, 32 tokens) with nothing of it cached,
with all of it cached, with half of it cached, and beside seven other streams arriving together;
prints how many answers differ from the uncached one, per condition. Batch-invariant mode
(LOCALCHAT_BATCH_INVARIANT=true) is run the same way for comparison.

    .venv/bin/python scripts/cache_determinism.py [--prompts 30]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from tests.integration.model_servers import start_server, stop  # noqa: E402
from tests.support.bundled import bundled_model_path  # noqa: E402

MODEL = "gemma-3-270m"
N_PARALLEL = 8
FILLER = [1000 + index for index in range(200)]
SUBJECTS = (
    "the harbour at dawn",
    "a recipe for bread",
    "how tides work",
    "a chess opening",
    "the history of tea",
    "a mountain village",
    "learning the violin",
    "the night sky in winter",
    "an old bicycle",
    "a city library",
)


def _prompts(count: int) -> list[str]:
    return [
        f"Here is a short essay, number {index}, about {SUBJECTS[index % len(SUBJECTS)]}. It begins:"
        for index in range(count)
    ]


async def _complete(http: httpx.AsyncClient, prompt: list[int], max_tokens: int = 32) -> str:
    body = {"model": MODEL, "prompt": prompt, "max_tokens": max_tokens, "temperature": 0}
    response = await http.post("/v1/completions", json=body)
    response.raise_for_status()
    return response.json()["choices"][0]["text"]


async def _clear(http: httpx.AsyncClient) -> None:
    # Every slot busy with something unrelated at once: none keeps a prompt's prefix.
    await asyncio.gather(*(_complete(http, [*FILLER[:40], slot], 4) for slot in range(N_PARALLEL)))


async def _measure(base_url: str, prompts: list[str]) -> dict[str, int]:
    differing = {"all cached": 0, "half cached": 0, "beside 7 others": 0}
    async with httpx.AsyncClient(base_url=base_url, timeout=600) as http:
        for text in prompts:
            tokens = (await http.post("/tokenize", json={"content": text, "add_special": True})).json()[
                "tokens"
            ]
            await _clear(http)
            uncached = await _complete(http, tokens)
            if await _complete(http, tokens) != uncached:  # the first run left it all in a slot
                differing["all cached"] += 1
            await _clear(http)
            await _complete(http, [*tokens[: len(tokens) // 2], *FILLER[:10]], 2)
            if await _complete(http, tokens) != uncached:
                differing["half cached"] += 1
            await _clear(http)
            others = [_complete(http, [*FILLER[: 20 + 13 * n], n], 32) for n in range(7)]
            beside, *_ = await asyncio.gather(_complete(http, tokens), *others)
            if beside != uncached:
                differing["beside 7 others"] += 1
    return differing


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--prompts", type=int, default=30)
    args = parser.parse_args()
    base_file = bundled_model_path()
    prompts = _prompts(args.prompts)
    for mode, invariant in (("default", "false"), ("batch-invariant", "true")):
        with tempfile.TemporaryDirectory(prefix="localchat-determinism-") as folder:
            server = start_server(
                Path(folder),
                f"models:\n  - name: {MODEL}\n    file: {base_file}\n",
                {
                    "LOCALCHAT_BATCH_INVARIANT": invariant,
                    "LOCALCHAT_N_PARALLEL": str(N_PARALLEL),
                    "LOCALCHAT_MIN_PREFIX_REUSE": "1",
                },
            )
            try:
                differing = asyncio.run(_measure(server.base_url, prompts))
            finally:
                stop(server)
        cells = ", ".join(f"{condition}: {count}/{len(prompts)}" for condition, count in differing.items())
        print(f"{mode} mode, greedy answers that differ from the uncached one: {cells}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
