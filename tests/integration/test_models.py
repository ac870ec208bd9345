"""Model listing and per-request selection: query parameter > body > default; unknown → 404."""

from __future__ import annotations

import httpx
import openai
import pytest

from .conftest import BASE_MODEL, INSTRUCT_MODEL, RunningServer

HELLO = [{"role": "user", "content": "Hi"}]


def test_models_list_reports_kind_and_template(client: openai.OpenAI, http: httpx.Client) -> None:
    ids = [model.id for model in client.models.list()]
    assert BASE_MODEL in ids and INSTRUCT_MODEL in ids
    cards = {card["id"]: card for card in http.get("/v1/models").json()["data"]}
    assert cards[BASE_MODEL]["kind"] == "base" and cards[BASE_MODEL]["has_chat_template"] is False
    assert cards[INSTRUCT_MODEL]["kind"] == "instruct" and cards[INSTRUCT_MODEL]["has_chat_template"] is True
    assert cards[BASE_MODEL]["quantization"] == "Q4_K_M"
    assert cards[BASE_MODEL]["architecture"] == "gemma3"
    assert cards[BASE_MODEL]["loaded"] is True


def test_models_retrieve_one(client: openai.OpenAI) -> None:
    card = client.models.retrieve(BASE_MODEL)
    assert card.id == BASE_MODEL and card.object == "model"


def test_models_retrieve_unknown_is_404(client: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.models.retrieve("no-such-model")
    assert caught.value.body["code"] == "model_not_found"  # type: ignore[index]


def test_default_query_switches_model(server: RunningServer) -> None:
    instruct = server.client(default_query={"model": INSTRUCT_MODEL})
    response = instruct.chat.completions.create(model=BASE_MODEL, messages=HELLO, max_tokens=3)
    assert response.model == INSTRUCT_MODEL
    base = server.client(default_query={"model": BASE_MODEL})
    assert (
        base.chat.completions.create(model=INSTRUCT_MODEL, messages=HELLO, max_tokens=3).model == BASE_MODEL
    )


def test_body_model_beats_default(client: openai.OpenAI) -> None:
    response = client.chat.completions.create(model=INSTRUCT_MODEL, messages=HELLO, max_tokens=3)
    assert response.model == INSTRUCT_MODEL


def test_missing_model_uses_default(http: httpx.Client) -> None:
    response = http.post("/v1/chat/completions", json={"messages": HELLO, "max_tokens": 2})
    assert response.status_code == 200
    assert response.json()["model"] == BASE_MODEL


def test_alias_resolves_to_canonical_name(client: openai.OpenAI) -> None:
    response = client.chat.completions.create(model="gemma-it", messages=HELLO, max_tokens=2)
    assert response.model == INSTRUCT_MODEL


@pytest.mark.parametrize(
    "name", ["gpt-4o-mini", "../models/gemma-3-270m-q4_k_m.gguf", "/etc/passwd", "%2e%2e%2fx"]
)
def test_unknown_model_is_404_listing_models(client: openai.OpenAI, name: str) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        client.chat.completions.create(model=name, messages=HELLO, max_tokens=2)
    error = caught.value.body
    assert error["code"] == "model_not_found"  # type: ignore[index]
    assert BASE_MODEL in error["message"] and INSTRUCT_MODEL in error["message"]  # type: ignore[index]


def test_unknown_query_model_is_404(server: RunningServer) -> None:
    client = server.client(default_query={"model": "nope"})
    with pytest.raises(openai.NotFoundError):
        client.completions.create(model=BASE_MODEL, prompt="x", max_tokens=1)
