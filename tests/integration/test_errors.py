"""Bad input gets a 4xx OpenAI error envelope, never a 500, and the server keeps serving."""

from __future__ import annotations

import httpx
import openai
import pytest

from .conftest import BASE_MODEL, N_CTX

HELLO = [{"role": "user", "content": "Hi"}]


def _assert_envelope(response: httpx.Response, status: int = 400) -> dict:
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert error["message"]
    return error


def test_malformed_json_is_400(http: httpx.Client) -> None:
    response = http.post(
        "/v1/chat/completions", content=b'{"messages": [', headers={"content-type": "application/json"}
    )
    assert _assert_envelope(response)["code"] == "invalid_json"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"messages": "hello"}, "messages"),
        ({"messages": []}, "messages"),
        ({"messages": [{"role": "wizard", "content": "hi"}]}, "messages.0.role"),
        ({"messages": HELLO, "max_tokens": -5}, "max_tokens"),
        ({"messages": HELLO, "max_tokens": "ten"}, "max_tokens"),
        ({"messages": HELLO, "temperature": 7}, "temperature"),
        ({"messages": HELLO, "top_logprobs": 50, "logprobs": True}, "top_logprobs"),
        ({"messages": HELLO, "stop": ["a", "b", "c", "d", "e"]}, "stop"),
        ({"messages": HELLO, "n": 2}, "n"),
        ({"messages": HELLO, "logit_bias": {"abc": 1}}, "logit_bias"),
        ({"messages": HELLO, "logit_bias": {"999999999": 1}}, "logit_bias"),
        ({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}, "messages.0.content"),
    ],
)
def test_bad_chat_request_is_400(http: httpx.Client, body: dict, param: str) -> None:
    error = _assert_envelope(http.post("/v1/chat/completions", json={"model": BASE_MODEL, **body}))
    assert error["param"] is not None and error["param"].startswith(param)
    assert error["type"] == "invalid_request_error"


def test_wrong_json_types_are_400s_that_name_both_types(client: openai.OpenAI) -> None:
    # Types are strict, as OpenAI's: "5" is no integer, 1 no boolean, 5.0 no token count.
    calls = [
        (
            lambda: client.chat.completions.create(model=BASE_MODEL, messages=HELLO, max_tokens="5"),
            "max_tokens",
        ),
        (lambda: client.chat.completions.create(model=BASE_MODEL, messages=HELLO, stream=1), "stream"),
        (lambda: client.completions.create(model=BASE_MODEL, prompt="Hi", max_tokens=5.0), "max_tokens"),
        (lambda: client.completions.create(model=BASE_MODEL, prompt="Hi", stop=["a", 5]), "stop.1"),
        (lambda: client.embeddings.create(model=BASE_MODEL, input=5), "input"),
        (lambda: client.responses.create(model=BASE_MODEL, input="Hi", temperature="0.5"), "temperature"),
    ]
    for call, param in calls:
        with pytest.raises(openai.BadRequestError) as caught:
            call()  # type: ignore[no-untyped-call]
        error = caught.value.body
        assert error["code"] == "invalid_type" and error["param"] == param, error  # type: ignore[index]
        assert str(error["message"]).startswith(f"Invalid type for '{param}': expected ")  # type: ignore[index]
    answer = client.chat.completions.create(model=BASE_MODEL, messages=HELLO, max_tokens=2, temperature=1)
    assert answer.usage is not None and answer.usage.completion_tokens > 0


def test_huge_max_tokens_is_400(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=BASE_MODEL, messages=HELLO, max_tokens=10_000_000)
    assert caught.value.status_code == 400


def test_max_tokens_beyond_context_is_context_length_exceeded(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=BASE_MODEL, messages=HELLO, max_tokens=N_CTX)
    assert caught.value.body["code"] == "context_length_exceeded"  # type: ignore[index]


def test_prompt_longer_than_context_is_400(client: openai.OpenAI) -> None:
    long_text = "lorem ipsum dolor " * N_CTX
    with pytest.raises(openai.BadRequestError) as caught:
        client.chat.completions.create(model=BASE_MODEL, messages=[{"role": "user", "content": long_text}])
    assert caught.value.body["code"] == "context_length_exceeded"  # type: ignore[index]
    with pytest.raises(openai.BadRequestError):
        client.completions.create(model=BASE_MODEL, prompt=long_text, max_tokens=4)


@pytest.mark.parametrize(
    "body",
    [
        {"prompt": ""},
        {"prompt": ["a", "b"]},
        {"prompt": [2, -7]},
        {"prompt": "x", "echo": True, "logprobs": 1},
        {"prompt": "x", "logprobs": 9},
        {"prompt": 42},
    ],
)
def test_bad_completion_request_is_400(http: httpx.Client, body: dict) -> None:
    _assert_envelope(http.post("/v1/completions", json={"model": BASE_MODEL, **body}))


def test_unknown_route_is_404_envelope(http: httpx.Client) -> None:
    _assert_envelope(http.get("/v1/nothing-here"), 404)


def test_server_keeps_serving_after_bad_input(http: httpx.Client, client: openai.OpenAI) -> None:
    for _ in range(3):
        http.post("/v1/chat/completions", content=b"not json", headers={"content-type": "application/json"})
    assert http.get("/health").status_code == 200
    assert client.chat.completions.create(model=BASE_MODEL, messages=HELLO, max_tokens=2).choices


def test_lone_surrogate_is_a_400_and_the_connection_keeps_serving(http: httpx.Client) -> None:
    body = '{"messages": [{"role": "user", "content": "\\ud800"}], "max_tokens": 2}'
    response = http.post("/v1/chat/completions", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "invalid_unicode"
    again = http.post(
        "/v1/chat/completions", json={"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2}
    )
    assert again.status_code == 200
