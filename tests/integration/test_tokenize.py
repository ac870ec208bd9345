"""POST /tokenize and /detokenize (llama-server's shapes) on the real model's vocabulary."""

from __future__ import annotations

import httpx
import openai

from .conftest import BASE_MODEL, INSTRUCT_MODEL

BOS, START_OF_TURN = 2, 105


def test_tokenize_then_detokenize_round_trips(http: httpx.Client) -> None:
    text = "Hello, world! Ünïcödé and 日本語 <start_of_turn>"
    tokens = http.post("/tokenize", json={"content": text}).json()["tokens"]
    assert all(isinstance(token, int) for token in tokens) and START_OF_TURN in tokens
    assert BOS not in tokens  # add_special defaults to false, as in llama-server
    content = http.post("/detokenize", json={"tokens": tokens}).json()["content"]
    assert content == text


def test_tokenize_counts_what_completions_feed_the_model(http: httpx.Client, client: openai.OpenAI) -> None:
    text = "The capital of France is"
    tokens = http.post("/tokenize", json={"content": text, "add_special": True}).json()["tokens"]
    assert tokens[0] == BOS
    completion = client.completions.create(model=BASE_MODEL, prompt=text, max_tokens=1)
    assert completion.usage is not None and completion.usage.prompt_tokens == len(tokens)


def test_tokenize_with_pieces_spells_each_token(http: httpx.Client) -> None:
    answer = http.post("/tokenize", json={"content": "Hi <start_of_turn>", "with_pieces": True}).json()
    pieces = answer["tokens"]
    assert "".join(piece["piece"] for piece in pieces) == "Hi <start_of_turn>"
    assert {"id": START_OF_TURN, "piece": "<start_of_turn>"} in pieces


def test_tokenize_can_treat_special_markers_as_text(http: httpx.Client) -> None:
    tokens = http.post("/tokenize", json={"content": "<start_of_turn>", "parse_special": False}).json()
    assert START_OF_TURN not in tokens["tokens"] and len(tokens["tokens"]) > 1


def test_tokenize_honours_the_model_query(http: httpx.Client) -> None:
    chosen = http.post(f"/tokenize?model={INSTRUCT_MODEL}", json={"content": "x", "model": "no-such-model"})
    assert chosen.status_code == 200
    unknown = http.post("/tokenize", json={"content": "x", "model": "no-such-model"})
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "model_not_found"


def test_bad_tokenize_input_is_400(http: httpx.Client) -> None:
    for body in ({}, {"content": 5}, {"content": ["a"]}):
        response = http.post("/tokenize", json=body)
        assert response.status_code == 400, body
        assert set(response.json()["error"]) == {"message", "type", "param", "code"}
    for tokens in ([-1], [10**9], ["a"], "12"):
        response = http.post("/detokenize", json={"tokens": tokens})
        assert response.status_code == 400, tokens
        assert response.json()["error"]["type"] == "invalid_request_error"


def test_tokenizing_many_lines_is_fast_and_exact(http: httpx.Client) -> None:
    # llama.cpp's tokenizer is quadratic in lines per call; the runtime cuts long text into pieces.
    # 40,000 "a\n" lines took over 20 s in one call; each line is two tokens, plus nothing else.
    answer = http.post("/tokenize", json={"content": "a\n" * 40_000}, timeout=60)
    tokens = answer.json()["tokens"]
    assert len(tokens) == 80_000 and len(set(tokens)) == 2
