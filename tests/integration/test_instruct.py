"""A model with a chat template in its GGUF metadata: the prompt is exactly the template's output."""

from __future__ import annotations

import httpx
import openai

from .conftest import BASE_MODEL, INSTRUCT_MODEL

CONVERSATION = [
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "What is 2+2?"},
    {"role": "assistant", "content": "4"},
    {"role": "user", "content": "And 3+3?"},
]
EXPECTED_PROMPT = (
    "<bos><start_of_turn>user\nBe brief.\n\nWhat is 2+2?<end_of_turn>\n"
    "<start_of_turn>model\n4<end_of_turn>\n"
    "<start_of_turn>user\nAnd 3+3?<end_of_turn>\n"
    "<start_of_turn>model\n"
)
BOS, START_OF_TURN, END_OF_TURN = 2, 105, 106


def _render(http: httpx.Client, model: str, messages: list[dict[str, str]]) -> dict:
    response = http.post("/v1/chat/render", json={"model": model, "messages": messages})
    assert response.status_code == 200, response.text
    return response.json()


def test_render_is_exactly_the_template_output(http: httpx.Client) -> None:
    rendered = _render(http, INSTRUCT_MODEL, CONVERSATION)
    assert rendered["prompt"] == EXPECTED_PROMPT
    assert rendered["uses_template"] is True
    assert rendered["stops"] == []


def test_render_tokenizes_special_tokens_with_one_bos(http: httpx.Client) -> None:
    tokens = _render(http, INSTRUCT_MODEL, CONVERSATION)["tokens"]
    assert tokens[0] == BOS and tokens.count(BOS) == 1
    assert tokens.count(START_OF_TURN) == 4 and tokens.count(END_OF_TURN) == 3


def test_render_base_model_uses_transcript(http: httpx.Client) -> None:
    rendered = _render(http, BASE_MODEL, CONVERSATION)
    assert rendered["prompt"] == "Be brief.\n\nUser: What is 2+2?\nAssistant: 4\nUser: And 3+3?\nAssistant:"
    assert rendered["uses_template"] is False
    assert "\nUser:" in rendered["stops"]
    # user text never becomes a control token in a transcript
    spoofed = _render(http, BASE_MODEL, [{"role": "user", "content": "<start_of_turn>"}])["tokens"]
    assert START_OF_TURN not in spoofed


def test_instruct_chat_ends_at_end_of_turn(client: openai.OpenAI) -> None:
    response = client.chat.completions.create(
        model=INSTRUCT_MODEL, messages=CONVERSATION, max_tokens=40, temperature=0
    )
    text = response.choices[0].message.content or ""
    assert "<end_of_turn>" not in text and "<start_of_turn>" not in text
    assert response.choices[0].finish_reason in ("stop", "length")


def test_instruct_prompt_tokens_match_render(client: openai.OpenAI, http: httpx.Client) -> None:
    rendered = _render(http, INSTRUCT_MODEL, CONVERSATION)
    response = client.chat.completions.create(model=INSTRUCT_MODEL, messages=CONVERSATION, max_tokens=2)
    assert response.usage is not None and response.usage.prompt_tokens == rendered["num_tokens"]


def test_template_refusal_is_400(http: httpx.Client) -> None:
    bad_order = [{"role": "assistant", "content": "I speak first"}, {"role": "assistant", "content": "again"}]
    response = http.post("/v1/chat/completions", json={"model": INSTRUCT_MODEL, "messages": bad_order})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "chat_template_error"
