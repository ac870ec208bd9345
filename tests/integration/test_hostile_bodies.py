"""No body stalls the server: a prompt of any shape up to the body limit that cannot fit the context
is refused (400 context_length_exceeded) without tokenizing it whole (or answered, where the chat
transcript trims it to nothing), /tokenize answers megabytes of
the worst shapes, and /health answers meanwhile. The bounds catch stalls (the 102 s an 8 MB body of
whitespace lines once took), not slowness; scripts/worst_bodies.py prints the real times."""

from __future__ import annotations

import threading
import time

import httpx
import pytest

from tests.support.worst_bodies import UNITS, bodies, post

from .conftest import RunningServer

BODY_LIMIT = 8 * 1024 * 1024
TOKENIZE_BYTES = 1024 * 1024
STALL_SECONDS = 30.0
HEALTH_SECONDS = 5.0


class HealthWatch:
    """Asks /health every 100 ms while a request runs; keeps the slowest answer."""

    def __init__(self, server: RunningServer) -> None:
        self._url = f"{server.base_url}/health"
        self._stop = threading.Event()
        self.slowest = 0.0
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(timeout=60) as http:
            while not self._stop.is_set():
                started = time.perf_counter()
                assert http.get(self._url).status_code == 200
                self.slowest = max(self.slowest, time.perf_counter() - started)
                self._stop.wait(0.1)

    def __enter__(self) -> HealthWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


@pytest.mark.parametrize("shape", sorted(UNITS))
def test_prompt_at_the_body_limit_is_refused_quickly_while_health_answers(
    server: RunningServer, shape: str
) -> None:
    routes = bodies(shape, BODY_LIMIT)
    with httpx.Client(base_url=server.base_url, timeout=120) as http, HealthWatch(server) as health:
        for path in ("/v1/completions", "/v1/chat/completions", "/v1/embeddings"):
            answer = post(http, path, routes[path])
            assert answer.seconds < STALL_SECONDS, (path, answer.seconds)
            if answer.status == 200:
                # The base transcript trims a message: whitespace alone leaves a prompt that fits.
                assert path == "/v1/chat/completions" and not UNITS[shape].strip(), answer.body
                continue
            assert answer.status == 400, (path, answer.body)
            assert answer.body["error"]["code"] == "context_length_exceeded", (path, answer.body)
    assert health.slowest < HEALTH_SECONDS


@pytest.mark.parametrize("shape", sorted(UNITS))
def test_tokenize_answers_a_megabyte_of_the_worst_shapes(server: RunningServer, shape: str) -> None:
    body = bodies(shape, TOKENIZE_BYTES)["/tokenize"]
    with httpx.Client(base_url=server.base_url, timeout=120) as http, HealthWatch(server) as health:
        answer = post(http, "/tokenize", body)
    assert answer.status == 200 and len(answer.body["tokens"]) > 0
    assert answer.seconds < STALL_SECONDS
    assert health.slowest < HEALTH_SECONDS
