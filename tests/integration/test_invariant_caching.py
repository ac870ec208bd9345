"""Batch-invariant mode gives a request the same output (text, tokens, logprobs) whatever is cached and
whoever runs beside it: a property test drives random cache states (nothing of the prompt cached, part
of it followed by other tokens, all of it) and random neighbours (streams that arrive together with
it), streamed or not, on completions and chat, and compares with the first answer. (That an earlier
answer's tokens are never reused is the scheduler's unit test: tests/unit/engine/test_scheduler.py.)"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .conftest import BASE_MODEL, INSTRUCT_MODEL
from .model_servers import RunningServer, start_server, stop

N_PARALLEL = 4
# Small prefill chunks, so prompts of a hundred tokens have whole chunks to reuse.
N_BATCH = 32
STORY = (
    "The lighthouse keeper climbed the spiral stairs every evening, counting the steps aloud, and at "
    "the top he wound the clockwork that turned the great lens. One winter night a ship appeared"
)
ASK = [{"role": "user", "content": "Name three colours of the rainbow, and say which one you like best."}]
FILLER = [1000 + index for index in range(400)]


@pytest.fixture(scope="module")
def invariant_server(
    base_model_path: Path, instruct_model_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    running = start_server(
        tmp_path_factory.mktemp("invariant-caching"),
        f"models:\n  - name: {BASE_MODEL}\n    file: {base_model_path}\n"
        f"  - name: {INSTRUCT_MODEL}\n    file: {instruct_model_path}\n",
        {
            "LOCALCHAT_BATCH_INVARIANT": "true",
            "LOCALCHAT_N_PARALLEL": str(N_PARALLEL),
            "LOCALCHAT_N_BATCH": str(N_BATCH),
            "LOCALCHAT_MIN_PREFIX_REUSE": "1",
            "LOCALCHAT_DEFAULT_MODEL": BASE_MODEL,
        },
    )
    yield running
    stop(running)


class Target:
    """One request whose answer must never change, and the tokens of its prompt."""

    def __init__(self, http: httpx.Client, kind: str) -> None:
        self.kind = kind
        self.model = BASE_MODEL if kind == "completion" else INSTRUCT_MODEL
        if kind == "completion":
            self.tokens = http.post("/tokenize", json={"content": STORY, "model": self.model}).json()[
                "tokens"
            ]
            self.body: dict[str, Any] = {"prompt": self.tokens, "logprobs": 2}
        else:
            rendered = http.post("/v1/chat/render", json={"model": self.model, "messages": ASK}).json()
            self.tokens = rendered["tokens"]
            self.body = {"messages": ASK, "logprobs": True, "top_logprobs": 2}
        self.body.update(model=self.model, max_tokens=16, temperature=0.8, seed=7)
        self.path = "/v1/completions" if kind == "completion" else "/v1/chat/completions"


def _answer_of(kind: str, body: dict[str, Any]) -> Any:
    choice = body["choices"][0]
    if kind == "completion":
        return choice["text"], choice["logprobs"]
    return choice["message"]["content"], choice["logprobs"]


async def _streamed(http: httpx.AsyncClient, target: Target) -> Any:
    """The streamed answer put together in the non-streamed shape."""
    text, logprobs = "", []
    async with http.stream("POST", target.path, json={**target.body, "stream": True}) as response:
        async for line in response.aiter_lines():
            if not line.startswith("data: {"):
                continue
            choice = json.loads(line[6:])["choices"]
            if not choice:
                continue
            choice = choice[0]
            if target.kind == "completion":
                text += choice["text"]
                if choice.get("logprobs"):
                    logprobs.append(choice["logprobs"])
            else:
                text += choice["delta"].get("content") or ""
                if choice.get("logprobs"):
                    logprobs.extend(choice["logprobs"]["content"])
    if target.kind == "completion":
        merged = {
            key: [entry for part in logprobs for entry in part[key]]
            for key in ("tokens", "token_logprobs", "top_logprobs")
        }
        return text, merged
    return text, logprobs


def _comparable(kind: str, answer: Any, *, streamed: bool) -> Any:
    text, logprobs = answer
    if kind == "completion":
        return text, logprobs["tokens"], logprobs["token_logprobs"], logprobs["top_logprobs"]
    entries = logprobs if streamed else logprobs["content"]
    return text, [
        (e["token"], e["logprob"], [(t["token"], t["logprob"]) for t in e["top_logprobs"]]) for e in entries
    ]


async def _run(
    server: RunningServer, target: Target, *, streamed: bool, neighbours: list[tuple[int, int]]
) -> Any:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=300) as http:

        async def neighbour(length: int, max_tokens: int) -> None:
            body = {
                "model": target.model,
                "prompt": FILLER[:length],
                "max_tokens": max_tokens,
            }
            (await http.post("/v1/completions", json=body)).raise_for_status()

        async def main() -> Any:
            if streamed:
                return _comparable(target.kind, await _streamed(http, target), streamed=True)
            response = await http.post(target.path, json=target.body)
            response.raise_for_status()
            return _comparable(target.kind, _answer_of(target.kind, response.json()), streamed=False)

        results = await asyncio.gather(main(), *(neighbour(length, tokens) for length, tokens in neighbours))
    return results[0]


def _prime(http: httpx.Client, target: Target, state: str, share: float) -> None:
    """Leave the slots in one of the cache states."""
    unrelated = {"model": target.model, "prompt": FILLER[:60], "max_tokens": 1}
    if state == "nothing":
        # Every slot busy with something else at once, so none keeps the target's prefix.
        async def fill() -> None:
            async with httpx.AsyncClient(base_url=str(http.base_url), timeout=300) as other:
                bodies = [
                    {**unrelated, "prompt": [*FILLER[:60], slot + 7], "max_tokens": 8}
                    for slot in range(N_PARALLEL)
                ]
                for response in await asyncio.gather(
                    *(other.post("/v1/completions", json=body) for body in bodies)
                ):
                    response.raise_for_status()

        asyncio.run(fill())
        return
    if state == "full":
        http.post(target.path, json={**target.body, "max_tokens": 1}).raise_for_status()
        return
    keep = max(1, int(len(target.tokens) * share))
    prompt = [*target.tokens[:keep], *FILLER[:20]]
    http.post(
        "/v1/completions", json={"model": target.model, "prompt": prompt, "max_tokens": 2}
    ).raise_for_status()


CASES = st.fixed_dictionaries(
    {
        "kind": st.sampled_from(["completion", "chat"]),
        "state": st.sampled_from(["nothing", "part", "full", "part"]),
        "share": st.floats(0.05, 0.99),
        "streamed": st.booleans(),
        "neighbours": st.lists(st.tuples(st.integers(5, 150), st.integers(3, 24)), max_size=3),
    }
)


@pytest.fixture(scope="module")
def references(invariant_server: RunningServer) -> dict[str, Any]:
    with httpx.Client(base_url=invariant_server.base_url, timeout=300) as http:
        found = {}
        for kind in ("completion", "chat"):
            target = Target(http, kind)
            _prime(http, target, "nothing", 0.0)
            found[kind] = asyncio.run(_run(invariant_server, target, streamed=False, neighbours=[]))
    return found


@settings(max_examples=24, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=CASES)
def test_same_output_whatever_is_cached_and_whoever_runs_beside(
    invariant_server: RunningServer, references: dict[str, Any], case: dict[str, Any]
) -> None:
    with httpx.Client(base_url=invariant_server.base_url, timeout=300) as http:
        target = Target(http, case["kind"])
        _prime(http, target, case["state"], case["share"])
    answer = asyncio.run(
        _run(invariant_server, target, streamed=case["streamed"], neighbours=case["neighbours"])
    )
    assert answer == references[case["kind"]], case
