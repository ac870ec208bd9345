"""Slow clients (slowloris) on a real server: headers or a body sent a byte at a time are cut off at
their deadlines, and while many such connections hang on, everyone else is answered as usual."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from .conftest import BASE_MODEL, RunningServer
from .model_servers import start_server, stop

DEADLINE_SECONDS = 1.5
# Deadline plus this shared machine's slack.
CUT_OFF_WITHIN = 10.0
TRICKLE_PAUSE = 0.25


@pytest.fixture(scope="module")
def slow_server(base_model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    running = start_server(
        tmp_path_factory.mktemp("slow-clients"),
        f"models:\n  - name: {BASE_MODEL}\n    file: {base_model_path}\n",
        {
            "LOCALCHAT_HEADER_TIMEOUT_SECONDS": str(DEADLINE_SECONDS),
            "LOCALCHAT_BODY_TIMEOUT_SECONDS": str(DEADLINE_SECONDS),
        },
    )
    yield running
    stop(running)


def _connect(server: RunningServer) -> socket.socket:
    address = urlsplit(server.base_url)
    return socket.create_connection((address.hostname, address.port), timeout=CUT_OFF_WITHIN)


def _trickle_until_closed(sock: socket.socket, data: bytes) -> tuple[bytes, float]:
    """Send `data` a byte at a time; return what the server answered and when it hung up."""
    started = time.monotonic()
    for index in range(len(data)):
        try:
            sock.sendall(data[index : index + 1])
        except OSError:
            break
        time.sleep(TRICKLE_PAUSE)
        if time.monotonic() - started > CUT_OFF_WITHIN:
            break
    sock.settimeout(CUT_OFF_WITHIN)
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except OSError:
        pass
    return received, time.monotonic() - started


def _chat_body() -> bytes:
    return json.dumps(
        {"model": BASE_MODEL, "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 4}
    ).encode()


def _head(body: bytes, extra: str = "") -> bytes:
    return (
        f"POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n{extra}\r\n"
    ).encode()


def test_headers_sent_a_byte_at_a_time_are_cut_off(slow_server: RunningServer) -> None:
    request = b"POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\n" + b"X-Padding: " + b"a" * 200
    with _connect(slow_server) as sock:
        received, seconds = _trickle_until_closed(sock, request)
    assert received == b""  # closed without an answer: the request never finished arriving
    assert seconds < CUT_OFF_WITHIN


def test_a_connection_that_sends_nothing_is_closed(slow_server: RunningServer) -> None:
    with _connect(slow_server) as sock:
        started = time.monotonic()
        assert sock.recv(1024) == b""
    assert time.monotonic() - started < CUT_OFF_WITHIN


def test_body_sent_a_byte_at_a_time_gets_408(slow_server: RunningServer) -> None:
    body = _chat_body()
    head = _head(body)
    with _connect(slow_server) as sock:
        sock.sendall(head)
        received, seconds = _trickle_until_closed(sock, body)
    status_line, _, rest = received.partition(b"\r\n")
    assert status_line.startswith(b"HTTP/1.1 408"), received[:200]
    error = json.loads(rest.partition(b"\r\n\r\n")[2])["error"]
    assert error["code"] == "request_timeout"
    assert seconds < CUT_OFF_WITHIN


def test_a_body_in_a_few_quick_pieces_is_still_answered(slow_server: RunningServer) -> None:
    body = _chat_body()
    head = _head(body, "Connection: close\r\n")
    with _connect(slow_server) as sock:
        sock.sendall(head)
        for start in range(0, len(body), len(body) // 3 + 1):
            sock.sendall(body[start : start + len(body) // 3 + 1])
            time.sleep(0.1)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    assert received.startswith(b"HTTP/1.1 200"), received[:200]


def test_many_slow_clients_do_not_block_the_others(slow_server: RunningServer) -> None:
    request = b"POST /v1/chat/completions HTTP/1.1\r\nHost: localhost\r\n" + b"X-Slow: " + b"z" * 100

    def hang_on() -> None:
        with _connect(slow_server) as sock:
            _trickle_until_closed(sock, request)

    slow = [threading.Thread(target=hang_on) for _ in range(30)]
    for thread in slow:
        thread.start()
    try:
        time.sleep(0.5)
        answer = slow_server.client().chat.completions.create(
            model=BASE_MODEL, messages=[{"role": "user", "content": "Hi"}], max_tokens=4
        )
        assert answer.choices[0].finish_reason in ("stop", "length")
    finally:
        for thread in slow:
            thread.join(timeout=CUT_OFF_WITHIN * 2)
    assert not any(thread.is_alive() for thread in slow)
