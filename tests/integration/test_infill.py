"""Fill-in-the-middle end to end on copies of the bundled model with FIM token ids written into their
metadata (Gemma's unused tokens stand in for them): the exact token layout, /infill, /v1/completions'
`suffix` and Ollama's `suffix` giving the same answer, llama.vscode's, llama.vim's and Continue's
request shapes, refusals for a model without FIM tokens, and the same tokens and greedy output as
llama-server's /infill on the same file."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gguf
import httpx
import ollama
import pytest

from tests.support.gguf_copies import copy_with_values
from tests.support.llama_server import running_llama_server

from .conftest import BASE_MODEL
from .model_servers import RunningServer, start_server, stop

FIM_MODEL = "gemma-fim"  # prefix, suffix, middle, pad, repo, file separator
PLAIN_FIM_MODEL = "gemma-fim-plain"  # prefix, suffix and middle only
N_CTX = 4096  # room for repository context: llama-server's budget leaves n_ctx - 2048 + 2 tokens
PRE, SUF, MID, PAD, REPO, SEP = 6, 7, 8, 9, 10, 11
BOS = 2
PREFIX = "def add(a, b):\n    "
SUFFIX = "\n\nprint(add(1, 2))\n"
EXTRA = [{"filename": "util.py", "text": "def sub(a, b):\n    return a - b\n"}]
GREEDY = {"temperature": 0, "top_k": 1, "n_predict": 12}


def _fim_copy(base: Path, target: Path, ids: dict[str, int]) -> Path:
    kind = gguf.GGUFValueType.UINT32
    return copy_with_values(
        base, target, {f"tokenizer.ggml.fim_{name}_token_id": (kind, token) for name, token in ids.items()}
    )


@pytest.fixture(scope="module")
def fim_files(base_model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("fim-models")
    every = {"pre": PRE, "suf": SUF, "mid": MID, "pad": PAD, "rep": REPO, "sep": SEP}
    return {
        FIM_MODEL: _fim_copy(base_model_path, folder / "fim.gguf", every),
        PLAIN_FIM_MODEL: _fim_copy(
            base_model_path, folder / "plain.gguf", {"pre": PRE, "suf": SUF, "mid": MID}
        ),
    }


@pytest.fixture(scope="module")
def infill_server(
    base_model_path: Path, fim_files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    entries = "".join(f"  - name: {name}\n    file: {path}\n" for name, path in fim_files.items())
    running = start_server(
        tmp_path_factory.mktemp("fim-serve"),
        f"settings:\n  default_model: {BASE_MODEL}\n  max_loaded_models: 3\n"
        f"models:\n  - name: {BASE_MODEL}\n    file: {base_model_path}\n{entries}",
        {"LOCALCHAT_N_CTX": str(N_CTX), "LOCALCHAT_N_PARALLEL": "4"},
    )
    yield running
    stop(running)


@pytest.fixture
def http(infill_server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=infill_server.base_url, timeout=120) as session:
        yield session


def _tokens(http: httpx.Client, text: str) -> list[int]:
    response = http.post("/tokenize", json={"content": text, "parse_special": False, "model": FIM_MODEL})
    return response.json()["tokens"]


def _infill(http: httpx.Client, model: str = FIM_MODEL, **fields: Any) -> dict[str, Any]:
    body = {"model": model, "input_prefix": PREFIX, "input_suffix": SUFFIX, **GREEDY, **fields}
    response = http.post("/infill", json=body)
    assert response.status_code == 200, response.text
    return response.json()


def test_the_token_layout_is_exact(http: httpx.Client) -> None:
    rendered = http.post(
        "/v1/completions/render", json={"model": FIM_MODEL, "prompt": PREFIX, "suffix": SUFFIX}
    ).json()
    repository = [REPO, *_tokens(http, "myproject\n"), SEP, *_tokens(http, "filename\n")]
    expected = [*repository, BOS, PRE, *_tokens(http, PREFIX), SUF, *_tokens(http, SUFFIX), MID]
    assert rendered["tokens"] == expected
    # Other files go in as the repository's, each after a file separator and its name.
    answer = _infill(http, input_extra=EXTRA, prompt="ret", return_tokens=True)
    with_files = [
        REPO, *_tokens(http, "myproject\n"),
        SEP, *_tokens(http, "util.py\n"), *_tokens(http, EXTRA[0]["text"]),
        SEP, *_tokens(http, "filename\n"),
        BOS, PRE, *_tokens(http, PREFIX), *_tokens(http, "ret"), SUF, *_tokens(http, SUFFIX), MID,
    ]  # fmt: skip
    assert answer["tokens_evaluated"] == len(with_files)
    assert answer["prompt"].startswith("<unused4>myproject\n<unused5>util.py\ndef sub(a, b):")
    assert len(answer["tokens"]) == answer["tokens_predicted"] <= GREEDY["n_predict"]


def test_without_repository_tokens_files_are_snippets(http: httpx.Client) -> None:
    answer = _infill(http, model=PLAIN_FIM_MODEL, input_extra=EXTRA)
    prompt = answer["prompt"]
    assert prompt.startswith("\n\n--- snippet ---\n\n" + EXTRA[0]["text"] + "<bos><unused0>")
    assert prompt.endswith("<unused1>" + SUFFIX + "<unused2>")


def test_every_route_fills_the_same_gap(http: httpx.Client, infill_server: RunningServer) -> None:
    infilled = _infill(http)["content"]
    assert infilled
    completion = http.post(
        "/v1/completions",
        json={"model": FIM_MODEL, "prompt": PREFIX, "suffix": SUFFIX, "max_tokens": 12, "temperature": 0},
    ).json()
    assert completion["choices"][0]["text"] == infilled
    # The openai client sends `suffix` as OpenAI documents it.
    answer = infill_server.client().completions.create(
        model=FIM_MODEL, prompt=PREFIX, suffix=SUFFIX, max_tokens=12, temperature=0
    )
    assert answer.choices[0].text == infilled
    client = ollama.Client(host=infill_server.base_url, timeout=120)
    generated = client.generate(
        model=FIM_MODEL, prompt=PREFIX, suffix=SUFFIX, options={"temperature": 0, "num_predict": 12}
    )
    assert generated.response == infilled


def test_streamed_infill_equals_whole(http: httpx.Client) -> None:
    whole = _infill(http)
    body = {"model": FIM_MODEL, "input_prefix": PREFIX, "input_suffix": SUFFIX, **GREEDY, "stream": True}
    events = []
    with http.stream("POST", "/infill", json=body) as response:
        for line in response.iter_lines():
            if line.startswith("data: "):
                events.append(json.loads(line.removeprefix("data: ")))
    assert "[DONE]" not in [event for event in events if isinstance(event, str)]
    assert events[-1]["stop"] is True and all(event["stop"] is False for event in events[:-1])
    assert "".join(event["content"] for event in events) == whole["content"]
    assert events[-1]["stop_type"] == whole["stop_type"]


def test_a_model_without_fim_tokens_is_refused(http: httpx.Client, infill_server: RunningServer) -> None:
    refused = http.post("/infill", json={"model": BASE_MODEL, "input_prefix": "a", "input_suffix": "b"})
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "infill_not_supported"
    completion = http.post("/v1/completions", json={"model": BASE_MODEL, "prompt": "a", "suffix": "b"})
    assert completion.status_code == 400 and completion.json()["error"]["param"] == "suffix"
    with pytest.raises(ollama.ResponseError) as caught:
        ollama.Client(host=infill_server.base_url).generate(model=BASE_MODEL, prompt="a", suffix="b")
    assert caught.value.status_code == 400 and caught.value.error == f'"{BASE_MODEL}" does not support insert'


def test_capabilities_say_insert(http: httpx.Client) -> None:
    assert "insert" in http.get(f"/v1/models/{FIM_MODEL}").json()["capabilities"]
    assert "insert" not in http.get(f"/v1/models/{BASE_MODEL}").json()["capabilities"]
    assert ".Suffix" in http.post("/api/show", json={"name": FIM_MODEL}).json()["template"]
    assert ".Suffix" not in http.post("/api/show", json={"name": BASE_MODEL}).json()["template"]


def test_llama_vscode_requests(http: httpx.Client) -> None:
    # Its context warm-up (src/llama-server.ts): the files alone, nothing to predict.
    warm = http.post(
        "/infill",
        json={
            "id_slot": 0, "input_prefix": "", "input_suffix": "", "input_extra": EXTRA, "prompt": "",
            "n_predict": 0, "samplers": [], "cache_prompt": True, "t_max_prompt_ms": 500,
            "t_max_predict_ms": 1, "model": FIM_MODEL,
        },
    )  # fmt: skip
    assert warm.status_code == 200 and warm.json()["content"] == ""
    # A completion: three answers at once, read through `content` of each.
    answers = http.post(
        "/infill",
        json={
            "id_slot": 0, "input_prefix": PREFIX, "input_suffix": SUFFIX, "input_extra": EXTRA, "prompt": "",
            "n_predict": 16, "n_cmpl": 3, "top_k": 40, "top_p": 0.99, "stream": False,
            "samplers": ["top_k", "top_p", "infill"], "cache_prompt": True, "n_indent": 4,
            "t_max_prompt_ms": 500, "t_max_predict_ms": 500, "model": FIM_MODEL,
        },
    ).json()  # fmt: skip
    assert isinstance(answers, list) and len(answers) == 3
    assert [answer["index"] for answer in answers] == [0, 1, 2]
    for answer in answers:
        assert isinstance(answer["content"], str) and answer["tokens_cached"] > 0
        assert answer["timings"]["predicted_n"] == answer["tokens_predicted"]


def test_llama_vim_reads_flat_fields(http: httpx.Client) -> None:
    fields = ["content", "timings/prompt_n", "timings/predicted_n", "truncated", "tokens_cached"]
    response = http.post(
        "/infill",
        content=json.dumps({"model": FIM_MODEL, "input_prefix": PREFIX, "input_suffix": SUFFIX,
                            "prompt": "", "n_predict": 8, "top_k": 40, "top_p": 0.90,
                            "samplers": ["top_k", "top_p", "infill"], "stream": False, "cache_prompt": True,
                            "response_fields": fields}),
        headers={"content-type": "application/x-www-form-urlencoded"},  # curl --data, as llama.vim posts
    )  # fmt: skip
    body = response.text
    assert body.startswith("{") and '"content":"' in body.replace(": ", ":")
    assert set(response.json()) == set(fields)
    assert response.json()["timings/predicted_n"] <= 8


def test_continue_autocomplete_through_ollama(http: httpx.Client) -> None:
    with http.stream(
        "POST",
        "/api/generate",
        json={
            "model": FIM_MODEL,
            "prompt": PREFIX,
            "suffix": SUFFIX,
            "options": {"temperature": 0.01, "num_predict": 12, "num_ctx": 8192},
            "keep_alive": 1800,
        },
    ) as response:
        lines = [json.loads(line) for line in response.iter_lines() if line.strip()]
    assert "".join(line["response"] for line in lines if "response" in line)
    assert lines[-1]["done"] is True


# -- the same as llama-server --------------------------------------------------------------------------


@pytest.mark.parametrize("model", [FIM_MODEL, PLAIN_FIM_MODEL])
def test_llama_server_gives_the_same_tokens_and_answer(
    http: httpx.Client, fim_files: dict[str, Path], model: str
) -> None:
    requests = [
        {"input_prefix": PREFIX, "input_suffix": SUFFIX},
        {"input_prefix": PREFIX, "input_suffix": SUFFIX, "input_extra": EXTRA, "prompt": "ret"},
    ]
    with running_llama_server(fim_files[model], n_ctx=N_CTX) as reference:
        for request in requests:
            body = {**request, **GREEDY, "samplers": ["top_k"], "return_tokens": True}
            theirs = httpx.post(f"{reference}/infill", json=body, timeout=120).json()
            ours = _infill(http, model=model, **request, return_tokens=True)
            assert ours["prompt"] == theirs["prompt"]
            assert ours["tokens_evaluated"] == theirs["tokens_evaluated"]
            assert ours["tokens"] == theirs["tokens"] and ours["content"] == theirs["content"]
