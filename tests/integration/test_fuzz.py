"""Hostile input against the real server on the real model: generated requests from the app's own
OpenAPI schema (Schemathesis, valid and schema-breaking), then hand-written cases that generation is
unlikely to reach. Every bad request gets a 4xx in the OpenAI envelope, never a 5xx, and the same
keep-alive connection (or, where HTTP itself is broken, the server) keeps serving."""

from __future__ import annotations

import http.client
import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.fuzzing import (
    auth_judge,
    envelope_problem,
    fuzz,
    metric_total,
    server_error_count,
    status_summary,
)

from .conftest import BASE_MODEL
from .model_servers import RunningServer, start_server, stop

# Valid generated requests stay cheap: at most 8 new tokens, prompts of at most 256.
# Offline: a generated /api/pull of a hf.co name fails at once instead of reaching for the network.
FUZZ_ENV = {
    "LOCALCHAT_MAX_TOKENS_LIMIT": "8",
    "LOCALCHAT_N_CTX": "256",
    "LOCALCHAT_N_PARALLEL": "4",
    "HF_HUB_OFFLINE": "1",
}
API_KEY = "fuzz-key"
# Generated requests per operation and mode: about 1,200 in all, about 4 minutes on 2 busy cores
# (scripts/fuzz.py runs 10,000).
EXAMPLES = {
    "/v1/chat/completions": 170,
    "/v1/completions": 170,
    "/v1/chat/render": 80,
    "/v1/completions/render": 80,
    "/v1/responses": 80,
    "/v1/messages": 80,
    "/v1/messages/count_tokens": 30,
    "/v1/embeddings": 30,
    "/tokenize": 30,
    "/detokenize": 30,
    "/api/chat": 80,
    "/api/generate": 80,
    "/api/embed": 30,
    "/v1/models/{model_id}": 30,
    "/v1/models": 5,
    "/health": 5,
}
AUTH_EXAMPLES = 15
CHAT = "/v1/chat/completions"
COMPLETIONS = "/v1/completions"
JSON = {"Content-Type": "application/json"}
MESSAGES = [{"role": "user", "content": "Hi"}]


def _catalog(model_path: Path) -> str:
    return (
        f"settings:\n  default_model: {BASE_MODEL}\nmodels:\n  - name: {BASE_MODEL}\n    file: {model_path}\n"
    )


@pytest.fixture(scope="module")
def fuzz_server(base_model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(tmp_path_factory.mktemp("fuzz"), _catalog(base_model_path), FUZZ_ENV)
    yield running
    stop(running)


@pytest.fixture
def connection(fuzz_server: RunningServer) -> Iterator[http.client.HTTPConnection]:
    host, port = fuzz_server.base_url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=120)
    yield conn
    conn.close()


def _metrics(server: RunningServer, headers: dict[str, str] | None = None) -> str:
    return httpx.get(f"{server.base_url}/metrics", headers=headers, timeout=30).text


def _assert_still_serving(server: RunningServer) -> None:
    assert httpx.get(f"{server.base_url}/health", timeout=30).status_code == 200
    answer = server.client().chat.completions.create(model=BASE_MODEL, messages=MESSAGES, max_tokens=4)
    assert answer.choices[0].finish_reason in ("stop", "length")


# -- generated ---------------------------------------------------------------------------------------


def test_openapi_schema_describes_request_bodies(fuzz_server: RunningServer) -> None:
    schema = httpx.get(f"{fuzz_server.base_url}/openapi.json", timeout=30).json()
    components = schema["components"]["schemas"]
    for path, name, required in (
        (CHAT, "ChatCompletionRequest", "messages"),
        (COMPLETIONS, "CompletionRequest", "prompt"),
        ("/v1/chat/render", "ChatCompletionRequest", "messages"),
        ("/v1/completions/render", "CompletionRequest", "prompt"),
    ):
        body = schema["paths"][path]["post"]["requestBody"]
        assert body["required"] is True
        assert body["content"]["application/json"]["schema"]["$ref"].endswith(f"/{name}")
        assert required in components[name]["required"]
    chat = components["ChatCompletionRequest"]["properties"]
    assert chat["top_logprobs"]["anyOf"][0] == {"type": "integer", "maximum": 20, "minimum": 0}
    assert chat["messages"]["minItems"] == 1


def test_fuzz_from_openapi_schema_gets_no_server_errors(fuzz_server: RunningServer) -> None:
    started = time.monotonic()
    report = fuzz(
        fuzz_server.base_url,
        examples=lambda method, path, mode: EXAMPLES.get(path, 20),
        model=BASE_MODEL,
        seed=20261205,
    )
    elapsed = time.monotonic() - started
    statuses = status_summary(report.status_counts.items())
    print(f"fuzz: {report.num_requests} requests in {elapsed:.0f}s: {statuses}")
    assert not report.failures, "\n".join(str(failure) for failure in report.failures[:20])
    assert report.num_requests >= 1000
    assert server_error_count(_metrics(fuzz_server)) == 0
    _assert_still_serving(fuzz_server)


def test_fuzz_without_api_key_never_reaches_a_model(
    base_model_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    running = start_server(
        tmp_path_factory.mktemp("fuzz-auth"),
        _catalog(base_model_path),
        {**FUZZ_ENV, "LOCALCHAT_API_KEY": API_KEY},
    )
    try:
        auth = {"Authorization": f"Bearer {API_KEY}"}
        before = _metrics(running, auth)
        report = fuzz(
            running.base_url,
            examples=lambda method, path, mode: AUTH_EXAMPLES,
            model=BASE_MODEL,
            seed=7,
            schema_headers=auth,
            judge=auth_judge,
        )
        assert not report.failures, "\n".join(str(failure) for failure in report.failures[:20])
        after = _metrics(running, auth)
        for name in ("localchat_prompt_tokens_total", "localchat_completion_tokens_total"):
            assert metric_total(after, name) == metric_total(before, name)
        card = httpx.get(f"{running.base_url}/v1/models/{BASE_MODEL}", headers=auth, timeout=30).json()
        assert card["num_loads"] == 1
        assert card["num_in_flight"] == 0
        for method, path in (
            ("GET", "/metrics"),
            ("GET", "/nowhere"),
            ("DELETE", CHAT),
            ("PUT", "/v1/models"),
        ):
            status = httpx.request(method, f"{running.base_url}{path}", timeout=30).status_code
            assert status in (401, 404, 405), (method, path, status)
    finally:
        stop(running)


# -- hand-written, one keep-alive connection each ---------------------------------------------------------


def _send(
    conn: http.client.HTTPConnection,
    method: str,
    path: str,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, bytes, str]:
    conn.request(method, path, body=body, headers=headers if headers is not None else dict(JSON))
    response = conn.getresponse()
    return response.status, response.read(), response.getheader("content-type") or ""


def _assert_refused_and_serving(
    conn: http.client.HTTPConnection,
    method: str,
    path: str,
    body: bytes | None,
    headers: dict[str, str] | None = None,
    *,
    statuses: tuple[int, ...] = (400,),
) -> dict[str, Any]:
    status, payload, content_type = _send(conn, method, path, body, headers)
    assert status in statuses, (status, payload[:500])
    assert envelope_problem(status, content_type, payload) is None, payload[:500]
    sock = conn.sock
    follow_up, _, _ = _send(conn, "GET", "/v1/models")
    assert follow_up == 200
    assert conn.sock is sock, "the server closed the keep-alive connection"
    return json.loads(payload)["error"]


def _json(data: Any) -> bytes:
    # json.dumps escapes non-ASCII, so lone surrogates travel as "\ud800", as a client's JSON would.
    return json.dumps(data).encode()


def _chat(**fields: Any) -> bytes:
    return _json({"messages": MESSAGES, "max_tokens": 1, **fields})


SURROGATE = "\ud800"
SURROGATE_CASES = {
    "content": (CHAT, {"messages": [{"role": "user", "content": SURROGATE}]}),
    "content part": (
        CHAT,
        {"messages": [{"role": "user", "content": [{"type": "text", "text": SURROGATE}]}]},
    ),
    "model": (CHAT, {"model": SURROGATE, "messages": MESSAGES}),
    "name": (CHAT, {"messages": [{"role": "user", "name": SURROGATE, "content": "x"}]}),
    "stop": (CHAT, {"messages": MESSAGES, "stop": ["a", SURROGATE]}),
    "logit_bias key": (CHAT, {"messages": MESSAGES, "logit_bias": {SURROGATE: 1}}),
    "tool arguments": (
        CHAT,
        {
            "messages": [
                {"role": "assistant", "tool_calls": [{"function": {"name": "f", "arguments": SURROGATE}}]}
            ]
        },
    ),
    "prompt": (COMPLETIONS, {"prompt": "a" + SURROGATE}),
    "prompt list": (COMPLETIONS, {"prompt": [SURROGATE]}),
    "completion stop": (COMPLETIONS, {"prompt": "a", "stop": SURROGATE}),
    "chat render": ("/v1/chat/render", {"messages": [{"role": "user", "content": SURROGATE}]}),
    "completion render": ("/v1/completions/render", {"prompt": "\udfff"}),
}


@pytest.mark.parametrize("case", list(SURROGATE_CASES))
def test_lone_surrogate_is_refused(connection: http.client.HTTPConnection, case: str) -> None:
    path, body = SURROGATE_CASES[case]
    error = _assert_refused_and_serving(connection, "POST", path, _json({"max_tokens": 1, **body}))
    assert error["code"] == "invalid_unicode"


@pytest.mark.parametrize(
    ("path", "body", "statuses"),
    [
        (CHAT, {"messages": [{"role": "user", "content": "a\x00b"}], "max_tokens": 1}, (200,)),
        (CHAT, {"messages": [{"role": "user", "name": "a\x00", "content": "b"}], "max_tokens": 1}, (200,)),
        (CHAT, {"messages": MESSAGES, "stop": "\x00", "max_tokens": 1}, (200,)),
        (CHAT, {"model": "gemma\x00", "messages": MESSAGES}, (404,)),
        (CHAT, {"messages": MESSAGES, "grammar": 'root ::= "a"\x00junk'}, (400,)),
        (COMPLETIONS, {"prompt": "\x00\x00", "max_tokens": 1}, (200,)),
    ],
)
def test_nul_bytes_are_text_not_crashes(
    connection: http.client.HTTPConnection, path: str, body: dict[str, Any], statuses: tuple[int, ...]
) -> None:
    status, payload, content_type = _send(connection, "POST", path, _json(body))
    assert status in statuses, payload[:500]
    assert envelope_problem(status, content_type, payload) is None
    assert _send(connection, "GET", "/health")[0] == 200


@pytest.mark.parametrize(
    "body",
    [
        b'{"messages": [{"role": "user", "content": "\xff\xfe"}]}',
        b"\xc3\x28\xa0\xa1",
        b'{"prompt": "\xed\xa0\x80"}',  # a surrogate encoded as UTF-8 bytes (CESU-8), invalid UTF-8
    ],
)
def test_invalid_utf8_body_is_refused(connection: http.client.HTTPConnection, body: bytes) -> None:
    error = _assert_refused_and_serving(connection, "POST", CHAT, body)
    assert error["code"] in ("invalid_json", "invalid_unicode")


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b'{"messages": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        b'{"messages": [{"role": "user", "content": "x"}], "logit_bias": '
        + b'{"a":' * 50_000
        + b"1"
        + b"}" * 50_001,
        b'{"messages": [{"role": "user", "content": "x"}]',  # cut short
        b"",
        b"null",
        b'"messages"',
    ],
)
def test_deep_or_broken_json_is_refused(connection: http.client.HTTPConnection, body: bytes) -> None:
    _assert_refused_and_serving(connection, "POST", CHAT, body)


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity", "1e999"])
@pytest.mark.parametrize("field", ["temperature", "top_p", "presence_penalty", "frequency_penalty", "min_p"])
def test_non_finite_numbers_are_refused(
    connection: http.client.HTTPConnection, field: str, value: str
) -> None:
    body = f'{{"messages": [{{"role": "user", "content": "x"}}], "max_tokens": 1, "{field}": {value}}}'
    _assert_refused_and_serving(connection, "POST", CHAT, body.encode())


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_logit_bias_is_refused(connection: http.client.HTTPConnection, value: str) -> None:
    body = f'{{"messages": [{{"role": "user", "content": "x"}}], "logit_bias": {{"1": {value}}}}}'
    _assert_refused_and_serving(connection, "POST", CHAT, body.encode())


INTEGER_LIMITS = [2**31, 2**63, 2**64, -1, -(2**63) - 1, 10**400]


@pytest.mark.parametrize("value", INTEGER_LIMITS)
@pytest.mark.parametrize(
    ("path", "field"),
    [
        (CHAT, "n"),
        (CHAT, "max_tokens"),
        (CHAT, "max_completion_tokens"),
        (CHAT, "top_logprobs"),
        (COMPLETIONS, "logprobs"),
        (COMPLETIONS, "best_of"),
        (COMPLETIONS, "max_tokens"),
    ],
)
def test_bounded_integers_beyond_limits_are_refused(
    connection: http.client.HTTPConnection, path: str, field: str, value: int
) -> None:
    body: dict[str, Any] = {"messages": MESSAGES, "logprobs": True} if path == CHAT else {"prompt": "x"}
    _assert_refused_and_serving(connection, "POST", path, _json({**body, field: value}))


@pytest.mark.parametrize("value", INTEGER_LIMITS)
@pytest.mark.parametrize("field", ["seed", "top_k"])
def test_unbounded_integers_at_limits_never_fail(
    connection: http.client.HTTPConnection, field: str, value: int
) -> None:
    status, payload, content_type = _send(connection, "POST", CHAT, _chat(**{field: value}))
    assert status in (200, 400), payload[:500]
    assert envelope_problem(status, content_type, payload) is None
    assert _send(connection, "GET", "/health")[0] == 200


@pytest.mark.parametrize(
    "token",
    [2**31, 2**63, 2**64, -1],
)
def test_token_ids_beyond_limits_are_refused(connection: http.client.HTTPConnection, token: int) -> None:
    for path in (COMPLETIONS, "/v1/completions/render"):
        _assert_refused_and_serving(connection, "POST", path, _json({"prompt": [1, token]}))
        _assert_refused_and_serving(connection, "POST", path, _json({"prompt": [[token]]}))
    _assert_refused_and_serving(connection, "POST", CHAT, _chat(logit_bias={str(token): 1}))


def test_thousands_of_stop_strings_are_refused(connection: http.client.HTTPConnection) -> None:
    _assert_refused_and_serving(connection, "POST", CHAT, _chat(stop=[f"s{i}" for i in range(5000)]))


def test_thousands_of_logit_bias_entries_are_handled(connection: http.client.HTTPConnection) -> None:
    status, payload, _ = _send(connection, "POST", CHAT, _chat(logit_bias={str(i): 1 for i in range(20_000)}))
    assert status == 200, payload[:500]
    junk = {f"x{i}": 1 for i in range(20_000)}
    _assert_refused_and_serving(connection, "POST", CHAT, _chat(logit_bias=junk))


@pytest.mark.parametrize(
    "part",
    [
        {"type": "image_url", "image_url": {"url": "data:,"}},
        {"type": "input_audio"},
        {"type": ""},
        {"type": "text"},
        {"type": "text", "text": ["nested"]},
        {"text": "no type"},
    ],
)
def test_unsupported_content_parts_are_refused(
    connection: http.client.HTTPConnection, part: dict[str, Any]
) -> None:
    body = _json({"messages": [{"role": "user", "content": [part]}], "max_tokens": 1})
    _assert_refused_and_serving(connection, "POST", CHAT, body)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        # Many more messages would measure llama.cpp's tokenizer, which is superlinear on such text.
        ("messages", [{"role": "user", "content": "x"}] * 3000),
        ("messages", [[[[[]]]]]),
        ("messages", [{"role": "user", "content": "x" * 7_000_000}]),
        ("stop", "x" * 100_000),
        ("tools", [{"type": "function", "function": {"name": f"f{i}"}} for i in range(1000)]),
        ("logit_bias", [1, 2]),
        ("stream", "maybe"),
        ("max_tokens", "eight"),
        ("max_tokens", 1.5),
        ("temperature", [1]),
        ("stream_options", {"include_usage": {"a": 1}}),
        ("response_format", {"type": "json_schema", "json_schema": {"schema": {"type": "weird"}}}),
        ("response_format", {"type": "json_schema", "json_schema": {"schema": {"minLength": 2**63}}}),
        (
            "response_format",
            {"type": "json_schema", "json_schema": {"schema": {"type": "string", "minLength": 10**8}}},
        ),
        ("response_format", {"type": "json_schema", "json_schema": {"schema": {"pattern": "^a{99999999}$"}}}),
    ],
    ids=lambda value: str(value)[:30],
)
def test_wrong_types_and_huge_values_are_refused(
    connection: http.client.HTTPConnection, field: str, value: Any
) -> None:
    _assert_refused_and_serving(connection, "POST", CHAT, _chat(**{field: value}))


@pytest.mark.parametrize(
    "parameters",
    [
        {"type": "object", "properties": {"a": {"type": "weird"}}},
        {"type": "object", "properties": {"a": {"type": "string", "minLength": 2**63}}},
        {"type": "object", "properties": {"a": {"type": "array", "minItems": 10**9}}},
        {"type": "object", "properties": {"a": {"$ref": "#/nowhere"}}},
    ],
)
def test_hostile_tool_schemas_are_refused(
    connection: http.client.HTTPConnection, parameters: dict[str, Any]
) -> None:
    tools = [{"type": "function", "function": {"name": "f", "parameters": parameters}}]
    error = _assert_refused_and_serving(
        connection, "POST", CHAT, _chat(tools=tools, tool_choice="required"), statuses=(400,)
    )
    assert error["param"].startswith("tools")


def test_body_over_the_limit_is_refused(connection: http.client.HTTPConnection) -> None:
    body = _chat(messages=[{"role": "user", "content": "x" * 9_000_000}])
    error = _assert_refused_and_serving(connection, "POST", CHAT, body, statuses=(413,))
    assert error["code"] == "request_too_large"


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x"]
)
def test_wrong_content_type_is_refused(connection: http.client.HTTPConnection, content_type: str) -> None:
    error = _assert_refused_and_serving(
        connection, "POST", CHAT, _chat(), headers={"Content-Type": content_type}, statuses=(415,)
    )
    assert error["code"] == "unsupported_media_type"


@pytest.mark.parametrize(
    ("method", "path", "statuses"),
    [
        ("GET", "/v1/models/%00", (404,)),
        ("GET", "/v1/models/%ed%a0%80", (404,)),
        ("GET", "/v1/models/" + "a" * 8000, (404,)),
        ("GET", "/nowhere", (404,)),
        ("GET", CHAT, (405,)),
        ("DELETE", "/v1/models", (405,)),
        ("POST", CHAT + "?model=%ed%a0%80", (404,)),
        ("POST", CHAT + "?model=%00", (404,)),
        ("POST", CHAT + "?model=" + "m" * 8000, (404,)),
    ],
)
def test_odd_routes_and_paths_are_refused(
    connection: http.client.HTTPConnection, method: str, path: str, statuses: tuple[int, ...]
) -> None:
    _assert_refused_and_serving(connection, method, path, _chat(), statuses=statuses)


def test_odd_query_strings_on_get_routes_are_harmless(connection: http.client.HTTPConnection) -> None:
    for path in ("/health?x=%ff%00", "/metrics?name[]=%ed%a0%80", "/v1/models?limit=-1&x=" + "y" * 5000):
        assert _send(connection, "GET", path)[0] == 200


# -- broken HTTP: the connection cannot continue, the server must ------------------------------------------


def _raw_exchange(server: RunningServer, data: bytes, *, half_close: bool) -> bytes:
    host, port = server.base_url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        sock.sendall(data)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
        return received


def test_body_cut_off_mid_way_leaves_the_server_serving(fuzz_server: RunningServer) -> None:
    head = b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    for body in (b'{"messages": [{"role": "us', b""):
        received = _raw_exchange(fuzz_server, head + b"Content-Length: 1000\r\n\r\n" + body, half_close=True)
        assert not received.startswith(b"HTTP/1.1 5"), received[:300]
    received = _raw_exchange(
        fuzz_server, head + b"Transfer-Encoding: chunked\r\n\r\n10\r\n" + b'{"messages"', half_close=True
    )
    assert not received.startswith(b"HTTP/1.1 5"), received[:300]
    assert server_error_count(_metrics(fuzz_server)) == 0
    _assert_still_serving(fuzz_server)


@pytest.mark.parametrize("size", [12_000, 100_000, 2_000_000])
def test_huge_header_leaves_the_server_serving(fuzz_server: RunningServer, size: int) -> None:
    request = (
        b"GET /v1/models HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-Big: " + b"a" * size + b"\r\n\r\n"
    )
    try:
        received = _raw_exchange(fuzz_server, request, half_close=False)
    except ConnectionResetError:
        received = b""  # refused before it was all sent
    status = received[9:12]
    assert status in (b"200", b"400", b"431", b""), received[:300]
    if status == b"400":
        _assert_broken_http_envelope(received)
    _assert_still_serving(fuzz_server)


def test_many_headers_leave_the_server_serving(fuzz_server: RunningServer) -> None:
    headers = b"".join(b"X-H%d: v\r\n" % index for index in range(5000))
    request = b"GET /v1/models HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + headers + b"\r\n"
    received = _raw_exchange(fuzz_server, request, half_close=False)
    assert received[9:12] in (b"200", b"400", b"431"), received[:300]
    _assert_still_serving(fuzz_server)


def _assert_broken_http_envelope(received: bytes) -> None:
    head, _, body = received.partition(b"\r\n\r\n")
    assert b"content-type: application/json" in head.lower(), received[:300]
    error = json.loads(body)["error"]
    assert error["code"] == "invalid_http_request" and error["type"] == "invalid_request_error", error
    assert set(error) == {"message", "type", "param", "code"}


def test_malformed_content_length_leaves_the_server_serving(fuzz_server: RunningServer) -> None:
    request = b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n{}"
    received = _raw_exchange(fuzz_server, request, half_close=True)
    assert received[9:12] == b"400", received[:300]
    _assert_broken_http_envelope(received)
    _assert_still_serving(fuzz_server)


def test_garbage_request_line_gets_the_json_envelope(fuzz_server: RunningServer) -> None:
    received = _raw_exchange(fuzz_server, b"\x16\x03\x01 not http at all\r\n\r\n", half_close=True)
    assert received[9:12] == b"400", received[:300]
    _assert_broken_http_envelope(received)
    _assert_still_serving(fuzz_server)
