"""POST /v1/embeddings on the real model, through the openai client and LangChain's OpenAIEmbeddings."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import gguf
import httpx
import numpy as np
import openai
import pytest
from langchain_openai import OpenAIEmbeddings

from tests.support.gguf_copies import copy_with_values

from .conftest import BASE_MODEL, RunningServer
from .model_servers import start_server, stop

TEXTS = ["The cat sat on the mat.", "A feline rested on the rug.", "Stock markets fell sharply today."]


def _vectors(client: openai.OpenAI, texts: list[str], **extra: object) -> np.ndarray:
    answer = client.embeddings.create(model=BASE_MODEL, input=texts, **extra)  # type: ignore[arg-type]
    assert [item.index for item in answer.data] == list(range(len(texts)))
    assert answer.usage.prompt_tokens == answer.usage.total_tokens > len(texts)
    return np.array([item.embedding for item in answer.data])


def test_embeddings_are_unit_vectors_that_rank_meaning(client: openai.OpenAI) -> None:
    vectors = _vectors(client, [*TEXTS, TEXTS[0]], encoding_format="float")
    assert vectors.shape[0] == 4 and vectors.shape[1] > 100
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    similarity = vectors @ vectors.T
    assert similarity[0, 3] == pytest.approx(1.0, abs=1e-6)  # identical texts
    assert similarity[0, 1] > similarity[0, 2]  # the cat is closer to the feline than to stocks


def test_embeddings_base64_equals_float(client: openai.OpenAI) -> None:
    # openai-python asks for base64 unless told otherwise, and decodes it itself.
    assert np.array_equal(_vectors(client, TEXTS), _vectors(client, TEXTS, encoding_format="float"))


def test_embeddings_batch_equals_one_by_one(client: openai.OpenAI) -> None:
    batch = _vectors(client, TEXTS)
    for index, text in enumerate(TEXTS):
        assert np.array_equal(_vectors(client, [text])[0], batch[index])


def test_embeddings_of_token_ids_equal_those_of_the_text(client: openai.OpenAI, http: httpx.Client) -> None:
    tokens = http.post("/tokenize", json={"content": TEXTS[0], "add_special": True}).json()["tokens"]
    from_tokens = client.embeddings.create(model=BASE_MODEL, input=[tokens], encoding_format="float")
    assert np.array_equal(np.array(from_tokens.data[0].embedding), _vectors(client, TEXTS[:1])[0])


def test_langchain_openai_embeddings(server: RunningServer) -> None:
    # LangChain tokenizes with tiktoken by default (OpenAI's vocabulary, and a download); a local
    # server's model has its own, so that step is turned off.
    embedder = OpenAIEmbeddings(
        model=BASE_MODEL, base_url=server.api_url, api_key="unused", check_embedding_ctx_length=False
    )
    documents = np.array(embedder.embed_documents([TEXTS[0], TEXTS[2], TEXTS[0]]))
    query = np.array(embedder.embed_query(TEXTS[0]))
    assert float(documents[0] @ documents[2]) == pytest.approx(1.0, abs=1e-6)
    assert float(query @ documents[0]) == pytest.approx(1.0, abs=1e-6)
    assert float(query @ documents[1]) < 0.99


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"input": []}, None),
        ({"input": ""}, None),
        ({"input": ["ok", ""]}, None),
        ({"input": [[10**9]]}, None),
        ({"input": [[]]}, None),
        ({"input": 5}, None),
        ({"input": "word " * 3000}, "context_length_exceeded"),
        ({"input": "hi", "dimensions": 7}, "unsupported_value"),
        ({"input": "hi", "encoding_format": "int8"}, None),
    ],
)
def test_bad_embedding_requests_are_400(http: httpx.Client, body: dict, code: str | None) -> None:
    response = http.post("/v1/embeddings", json={"model": BASE_MODEL, **body})
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    if code is not None:
        assert error["code"] == code


def test_embeddings_unknown_model_is_404(http: httpx.Client) -> None:
    response = http.post("/v1/embeddings", json={"model": "no-such-model", "input": "hi"})
    assert response.status_code == 404


# -- an embedding model: the GGUF names its pooling ------------------------------------------------

LAST_POOLED = "gemma-last-pooled"


@pytest.fixture(scope="module")
def pooled_server(base_model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """The base model and a copy whose metadata declares last-token pooling (3), as embedding models
    declare theirs."""
    folder = tmp_path_factory.mktemp("pooled")
    pooled = copy_with_values(
        base_model_path, folder / "pooled.gguf", {"gemma3.pooling_type": (gguf.GGUFValueType.UINT32, 3)}
    )
    catalog = (
        f"settings:\n  default_model: {BASE_MODEL}\nmodels:\n"
        f"  - name: {BASE_MODEL}\n    file: {base_model_path}\n"
        f"  - name: {LAST_POOLED}\n    file: {pooled}\n"
    )
    running = start_server(folder, catalog, {})
    yield running
    stop(running)


def test_gguf_pooling_type_decides_the_vector(pooled_server: RunningServer) -> None:
    client = pooled_server.client()

    def vector(model: str, tokens: list[int]) -> np.ndarray:
        answer = client.embeddings.create(model=model, input=[tokens], encoding_format="float")
        return np.array(answer.data[0].embedding)

    tokenized = httpx.post(
        f"{pooled_server.base_url}/tokenize", json={"content": TEXTS[0], "add_special": True}, timeout=60
    )
    tokens = tokenized.json()["tokens"]
    # One token: its mean and its last state are the same vector.
    assert np.allclose(vector(LAST_POOLED, tokens[:1]), vector(BASE_MODEL, tokens[:1]), atol=1e-6)
    # Several: the last state is not the mean (the base model names no pooling, so it is mean-pooled).
    assert float(vector(LAST_POOLED, tokens) @ vector(BASE_MODEL, tokens)) < 0.999


def test_embedding_model_is_listed_as_such_and_refuses_generation(pooled_server: RunningServer) -> None:
    with httpx.Client(base_url=pooled_server.base_url, timeout=60) as http:
        kinds = {card["id"]: card["kind"] for card in http.get("/v1/models").json()["data"]}
        assert kinds == {BASE_MODEL: "base", LAST_POOLED: "embedding"}
        chat = http.post(
            "/v1/chat/completions",
            json={"model": LAST_POOLED, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2},
        )
    assert chat.status_code == 400 and chat.json()["error"]["code"] == "model_not_generative"


def test_input_longer_than_a_micro_batch(client: openai.OpenAI, http: httpx.Client) -> None:
    # Inputs go through the model 256 tokens at a time; a long one spans several micro-batches.
    text = " ".join(TEXTS * 40)
    tokens = http.post("/tokenize", json={"content": text, "add_special": True}).json()["tokens"]
    assert 600 < len(tokens) < 2000
    first, again = _vectors(client, [text, text])
    assert np.array_equal(first, again)
    assert float(first @ _vectors(client, [TEXTS[0]])[0]) < 0.999
