"""Shutdown: the gate turns new work away, /health says shutting_down, the drain ends generations."""

from __future__ import annotations

import asyncio
import signal
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import uvicorn
from sse_starlette.sse import AppStatus

from server.cli import _parser
from server.config import Settings, load_settings
from server.service.shutdown import GracefulServer, ShutdownState, drain, end_generations, listening_sockets
from tests.unit.asgi_app import client_for, make_app


async def test_shutdown_health_says_shutting_down(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    app.state.shutdown.begin()
    async with client_for(app) as client:
        response = await client.get("/health")
    assert response.status_code == 503
    assert response.json() == {"status": "shutting_down"}


async def test_shutdown_gate_refuses_new_requests_with_503(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    app.state.shutdown.begin()
    async with client_for(app) as client:
        refused = await client.get("/v1/models")
        scrape = await client.get("/metrics")
    assert refused.status_code == 503
    assert refused.json()["error"]["code"] == "shutting_down"
    assert refused.headers["retry-after"]
    assert scrape.status_code == 200


async def test_shutdown_gate_counts_requests_in_flight(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    seen: list[int] = []

    @app.get("/probe")
    async def probe() -> dict:
        seen.append(app.state.shutdown.num_in_flight)
        return {}

    async with client_for(app) as client:
        await client.get("/probe")
    assert seen == [1]
    assert app.state.shutdown.num_in_flight == 0


@dataclass
class _FakeSequence:
    is_cancelled: bool = False

    def cancel(self) -> None:
        self.is_cancelled = True


@dataclass
class _FakeScheduler:
    running: list[_FakeSequence] = field(default_factory=list)
    waiting: list[_FakeSequence] = field(default_factory=list)
    num_wakes: int = 0

    def wake(self) -> None:
        self.num_wakes += 1


@dataclass
class _FakeEngine:
    scheduler: _FakeScheduler


@dataclass
class _FakeModel:
    engine: _FakeEngine


@dataclass
class _FakePool:
    loaded: list[_FakeModel]


def _pool_with(running: int, waiting: int) -> tuple[_FakePool, list[_FakeSequence]]:
    scheduler = _FakeScheduler(
        [_FakeSequence() for _ in range(running)], [_FakeSequence() for _ in range(waiting)]
    )
    return _FakePool([_FakeModel(_FakeEngine(scheduler))]), [*scheduler.running, *scheduler.waiting]


def test_end_generations_cancels_running_and_waiting() -> None:
    pool, sequences = _pool_with(running=2, waiting=1)
    assert end_generations(pool) == 3  # type: ignore[arg-type]
    assert all(sequence.is_cancelled for sequence in sequences)
    assert pool.loaded[0].engine.scheduler.num_wakes == 1


async def test_drain_waits_for_requests_that_finish_in_time() -> None:
    state = ShutdownState(grace_seconds=5)
    pool, sequences = _pool_with(running=1, waiting=0)
    state.num_in_flight = 1

    async def finish_soon() -> None:
        await asyncio.sleep(0.1)
        state.num_in_flight = 0

    finisher = asyncio.create_task(finish_soon())
    await drain(state, pool)  # type: ignore[arg-type]
    await finisher
    assert state.is_shutting_down
    assert not sequences[0].is_cancelled


async def test_drain_ends_generations_after_the_grace_period() -> None:
    state = ShutdownState(grace_seconds=0.1)
    pool, sequences = _pool_with(running=1, waiting=0)
    state.num_in_flight = 1

    async def finish_when_cancelled() -> None:
        while not sequences[0].is_cancelled:
            await asyncio.sleep(0.01)
        state.num_in_flight = 0

    finisher = asyncio.create_task(finish_when_cancelled())
    await asyncio.wait_for(drain(state, pool), timeout=5)  # type: ignore[arg-type]
    await finisher
    assert sequences[0].is_cancelled


def _server(drain: Callable[[], Awaitable[None]]) -> GracefulServer:
    server = GracefulServer(uvicorn.Config(app=lambda scope, receive, send: None), drain=drain)
    server.started = True
    return server


async def test_graceful_server_first_signal_drains_then_exits_without_reraising() -> None:
    drained = asyncio.Event()

    async def drain() -> None:
        await asyncio.sleep(0.05)
        drained.set()

    server = _server(drain)
    server._loop = asyncio.get_running_loop()
    server.handle_exit(signal.SIGTERM, None)
    assert not server.should_exit  # uvicorn keeps serving while the drain runs
    await asyncio.wait_for(drained.wait(), timeout=2)
    while not server.should_exit:
        await asyncio.sleep(0.01)
    # Nothing captured: uvicorn will not re-raise SIGTERM, so the exit status stays 0.
    assert server._captured_signals == []


async def test_graceful_server_second_signal_exits_at_once() -> None:
    never = asyncio.Event()

    async def drain() -> None:
        await never.wait()

    server = _server(drain)
    server._loop = asyncio.get_running_loop()
    server.handle_exit(signal.SIGTERM, None)
    await asyncio.sleep(0.01)
    try:
        server.handle_exit(signal.SIGTERM, None)
        assert server.should_exit
    finally:
        # uvicorn's handler, as patched by sse-starlette, flags every SSE stream in the process to end.
        AppStatus.should_exit = False
        assert server._drain_task is not None
        server._drain_task.cancel()


def test_a_second_port_for_ollamas_clients(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LOCALCHAT_OLLAMA_PORT", raising=False)
    args = vars(_parser().parse_args(["serve", "--ollama-port", "11434"]))
    args.pop("command")
    assert load_settings(args).ollama_port == 11434
    assert listening_sockets(Settings(port=0)) is None  # one port: uvicorn binds it itself
    sockets = listening_sockets(Settings(host="127.0.0.1", port=0, ollama_port=_free_port()))
    try:
        assert sockets is not None and len(sockets) == 2
        assert all(sock.getsockname()[0] == "127.0.0.1" for sock in sockets)
    finally:
        for sock in sockets or []:
            sock.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])
