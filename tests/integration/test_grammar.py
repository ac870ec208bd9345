"""Constrained output: a GBNF grammar (extension) and OpenAI's response_format JSON modes."""

from __future__ import annotations

import json
import re

import httpx
import openai
import pytest

from .conftest import BASE_MODEL

QUESTION = [{"role": "user", "content": "Is the sea salty?"}]
YES_NO = 'root ::= ("yes" | "no")'


def test_grammar_limits_chat_output(client: openai.OpenAI) -> None:
    for seed in (1, 2, 3):
        response = client.chat.completions.create(
            model=BASE_MODEL, messages=QUESTION, max_tokens=10, seed=seed, extra_body={"grammar": YES_NO}
        )
        assert response.choices[0].message.content in ("yes", "no")
        assert response.choices[0].finish_reason == "stop"


def test_grammar_limits_streamed_completion(client: openai.OpenAI) -> None:
    grammar = 'root ::= [0-9]+ "!"'
    chunks = client.completions.create(
        model=BASE_MODEL, prompt="Pick a number:", max_tokens=12, stream=True, extra_body={"grammar": grammar}
    )
    text = "".join(chunk.choices[0].text for chunk in chunks if chunk.choices)
    # Cut at max_tokens the "!" may be missing; anything else is a grammar violation.
    assert re.fullmatch(r"[0-9]+!?", text), text


def test_response_format_json_schema_gives_valid_json(client: openai.OpenAI) -> None:
    schema = {
        "type": "object",
        "properties": {"answer": {"enum": ["yes", "no"]}},
        "required": ["answer"],
    }
    response = client.chat.completions.create(
        model=BASE_MODEL,
        messages=QUESTION,
        max_tokens=40,
        response_format={"type": "json_schema", "json_schema": {"name": "answer", "schema": schema}},
    )
    assert response.choices[0].finish_reason == "stop"
    assert json.loads(response.choices[0].message.content or "") in ({"answer": "yes"}, {"answer": "no"})


def test_response_format_json_object_starts_an_object(client: openai.OpenAI) -> None:
    response = client.chat.completions.create(
        model=BASE_MODEL,
        messages=QUESTION,
        max_tokens=60,
        temperature=0,
        response_format={"type": "json_object"},
    )
    content = response.choices[0].message.content or ""
    assert content.lstrip().startswith("{"), content
    if response.choices[0].finish_reason == "stop":
        assert isinstance(json.loads(content), dict)


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"grammar": "root ::= ((("}, "grammar"),
        ({"grammar": 'start ::= "x"'}, "grammar"),
        ({"response_format": {"type": "json_schema"}}, "response_format"),
        ({"grammar": YES_NO, "response_format": {"type": "json_object"}}, "grammar"),
    ],
)
def test_bad_grammar_is_400(http: httpx.Client, body: dict, param: str) -> None:
    response = http.post("/v1/chat/completions", json={"model": BASE_MODEL, "messages": QUESTION, **body})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["param"] == param
