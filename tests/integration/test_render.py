"""The render routes on the real model: template origin, format, and the prompt token by token with
control tokens marked, for chat and for raw completions."""

from __future__ import annotations

import ctypes
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import llama_cpp
import pytest

from .conftest import BASE_MODEL, INSTRUCT_MODEL

ASK = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Grüße, 日本? 🙂"}]
SPECIAL_PROMPT = "Hello <start_of_turn>"


@pytest.fixture(scope="module")
def detokenize(base_model_path: Path) -> Iterator[Any]:
    """llama.cpp's own detokenizer with special tokens shown: a check independent of the server's."""
    params = llama_cpp.llama_model_default_params()
    params.vocab_only = True
    model = llama_cpp.llama_model_load_from_file(str(base_model_path).encode(), params)
    assert model
    vocab = llama_cpp.llama_model_get_vocab(model)

    def text(tokens: list[int]) -> str:
        ids = (llama_cpp.llama_token * len(tokens))(*tokens)
        capacity = 64 * len(tokens) + 64
        buffer = ctypes.create_string_buffer(capacity)
        size = llama_cpp.llama_detokenize(vocab, ids, len(tokens), buffer, capacity, False, True)
        assert size >= 0
        return buffer.raw[:size].decode("utf-8", errors="replace")

    yield text
    llama_cpp.llama_model_free(model)


def _post(http: httpx.Client, path: str, body: dict[str, Any], status: int = 200) -> dict[str, Any]:
    response = http.post(path, json=body)
    assert response.status_code == status, response.text
    return response.json()


def _chat(http: httpx.Client, model: str) -> dict[str, Any]:
    return _post(http, "/v1/chat/render", {"model": model, "messages": ASK})


def _special(rendered: dict[str, Any]) -> list[str]:
    return [segment["text"] for segment in rendered["segments"] if segment["special"]]


def test_render_base_chat_is_the_transcript_with_only_bos_special(http: httpx.Client) -> None:
    rendered = _chat(http, BASE_MODEL)
    assert (rendered["uses_template"], rendered["template"]) == (False, None)
    assert rendered["chat_format"] and rendered["stops"]
    assert rendered["segments"][0] == {"text": "<bos>", "special": True}
    assert _special(rendered) == ["<bos>"]
    # The transcript text does not show the <bos> that tokenizing adds; the segments do.
    assert not rendered["prompt"].startswith("<bos>")


def test_render_instruct_chat_names_its_template_and_marks_turns(http: httpx.Client) -> None:
    rendered = _chat(http, INSTRUCT_MODEL)
    assert (rendered["uses_template"], rendered["template"]) == (True, "tokenizer.chat_template")
    assert rendered["chat_format"]
    assert _special(rendered) == ["<bos>", "<start_of_turn>", "<end_of_turn>", "<start_of_turn>"]
    assert rendered["segments"][2] == {"text": "user\nBe brief.\n\nGrüße, 日本? 🙂", "special": False}


@pytest.mark.parametrize("model", [BASE_MODEL, INSTRUCT_MODEL])
def test_render_segments_are_the_tokens_as_the_model_reads_them(
    http: httpx.Client, detokenize: Any, model: str
) -> None:
    rendered = _chat(http, model)
    assert "".join(segment["text"] for segment in rendered["segments"]) == detokenize(rendered["tokens"])
    assert rendered["num_tokens"] == len(rendered["tokens"])


def test_completions_render_marks_special_tokens_written_in_the_prompt(
    http: httpx.Client, detokenize: Any
) -> None:
    rendered = _post(http, "/v1/completions/render", {"model": BASE_MODEL, "prompt": SPECIAL_PROMPT})
    assert rendered["model"] == BASE_MODEL and rendered["prompt"] == SPECIAL_PROMPT
    assert rendered["segments"] == [
        {"text": "<bos>", "special": True},
        {"text": "Hello ", "special": False},
        {"text": "<start_of_turn>", "special": True},
    ]
    assert "".join(segment["text"] for segment in rendered["segments"]) == detokenize(rendered["tokens"])
    assert (rendered["uses_template"], rendered["template"], rendered["chat_format"]) == (False, None, None)
    assert rendered["stops"] == []


def test_completions_render_counts_the_tokens_completions_feeds(http: httpx.Client) -> None:
    rendered = _post(http, "/v1/completions/render", {"model": BASE_MODEL, "prompt": SPECIAL_PROMPT})
    completion = _post(
        http, "/v1/completions", {"model": BASE_MODEL, "prompt": SPECIAL_PROMPT, "max_tokens": 1}
    )
    assert rendered["num_tokens"] == len(rendered["tokens"]) == completion["usage"]["prompt_tokens"]


def test_completions_render_of_token_ids_keeps_them(http: httpx.Client) -> None:
    tokens = _post(http, "/v1/completions/render", {"prompt": SPECIAL_PROMPT})["tokens"]
    rendered = _post(http, "/v1/completions/render", {"prompt": tokens})
    assert rendered["tokens"] == tokens
    assert [segment["special"] for segment in rendered["segments"]] == [True, False, True]


def test_completions_render_query_model_wins_over_body(http: httpx.Client) -> None:
    response = http.post(
        "/v1/completions/render", params={"model": "gemma-it"}, json={"model": BASE_MODEL, "prompt": "Hi"}
    )
    assert response.status_code == 200, response.text
    assert response.json()["model"] == INSTRUCT_MODEL


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"prompt": ""}, "prompt"),
        ({"prompt": []}, "prompt"),
        ({"prompt": ["one", "two"]}, "prompt"),
        ({"prompt": [999_999_999]}, "prompt"),
        ({"prompt": "Hi", "suffix": "!"}, "suffix"),
        ({"prompt": "Hi", "n": 2}, "n"),
    ],
)
def test_completions_render_refuses_what_completions_refuses(
    http: httpx.Client, body: dict[str, Any], param: str
) -> None:
    for path in ("/v1/completions", "/v1/completions/render"):
        error = _post(http, path, {"model": BASE_MODEL, **body}, status=400)["error"]
        assert set(error) == {"message", "type", "param", "code"}
        assert (error["type"], error["param"]) == ("invalid_request_error", param)


def test_completions_render_unknown_model_is_404(http: httpx.Client) -> None:
    error = _post(http, "/v1/completions/render", {"model": "no-such-model", "prompt": "Hi"}, status=404)
    assert error["error"]["code"] == "model_not_found"
