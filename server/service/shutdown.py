"""Graceful shutdown on SIGTERM (or Ctrl-C).

1. Stop taking work: /health answers 503 `shutting_down`, new API requests get 503 (the listener
   stays open during the grace period, so orchestrators and clients can see why).
2. Requests in flight keep going until they finish or the grace period ends.
3. Whatever still runs then is cancelled in the engine: each stream gets its final events (an
   answer that simply ended, and its protocol's closing), each non-streamed answer returns what it has.
4. Only then is uvicorn told to exit, so it finds no open stream to cut and the process exits 0.

A second signal skips the wait: uvicorn's own immediate shutdown.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Awaitable, Callable
from types import FrameType

import uvicorn
from fastapi import FastAPI

from server.config import Settings
from server.models.pool import ModelPool
from server.service.http_protocol import header_deadline_protocol

log = logging.getLogger("localchat")

# After the grace period: time for cancelled generations to send their final chunk.
FINAL_CHUNK_SECONDS = 5.0
# uvicorn's own limit once we hand over: only connections that are stuck are left by then.
UVICORN_BACKSTOP_SECONDS = 5
POLL_SECONDS = 0.05
EXIT_STARTUP_FAILED = 3


class ShutdownState:
    """Whether the app is draining, and how many requests it still owes an answer."""

    def __init__(self, grace_seconds: float) -> None:
        self.grace_seconds = grace_seconds
        self.is_shutting_down = False
        self.num_in_flight = 0

    def begin(self) -> None:
        self.is_shutting_down = True

    async def wait_idle(self, timeout: float) -> bool:
        """True once nothing is in flight; False if the timeout came first."""
        deadline = time.monotonic() + timeout
        while self.num_in_flight > 0:
            if time.monotonic() >= deadline:
                return False
            await asyncio.sleep(POLL_SECONDS)
        return True


def end_generations(pool: ModelPool) -> int:
    """Cancel every sequence of every loaded model. A cancelled sequence finishes with reason
    "cancelled", which the API sends as finish_reason "stop": the answer simply ends."""
    num_cancelled = 0
    for model in pool.loaded:
        scheduler = model.engine.scheduler
        # Copies made under the GIL in one step; cancel() only sets a flag the loop checks.
        for sequence in [*list(scheduler.running), *list(scheduler.waiting)]:
            sequence.cancel()
            num_cancelled += 1
        scheduler.wake()
    return num_cancelled


async def drain(state: ShutdownState, pool: ModelPool) -> None:
    state.begin()
    log.info(
        "shutting down: %d request(s) in flight, up to %.0fs to finish",
        state.num_in_flight,
        state.grace_seconds,
    )
    if await state.wait_idle(state.grace_seconds):
        return
    num_cancelled = end_generations(pool)
    log.warning("grace period over: ending %d generation(s) with a final chunk", num_cancelled)
    if not await state.wait_idle(FINAL_CHUNK_SECONDS):
        log.warning("%d request(s) still open; the server closes them", state.num_in_flight)


class GracefulServer(uvicorn.Server):
    """uvicorn.Server whose first exit signal drains first. It also keeps uvicorn from re-raising
    that signal after serving, which would make the exit status 143 instead of 0."""

    def __init__(self, config: uvicorn.Config, drain: Callable[[], Awaitable[None]]) -> None:
        super().__init__(config)
        self._drain = drain
        self._loop: asyncio.AbstractEventLoop | None = None
        self._is_draining = False
        self._drain_task: asyncio.Task[None] | None = None

    async def serve(self, sockets: list | None = None) -> None:  # type: ignore[type-arg]
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self._loop is None or self._is_draining or not self.started:
            super().handle_exit(sig, frame)
            return
        self._is_draining = True
        # A signal handler runs between bytecodes of the loop's own thread: hand over to the loop.
        self._loop.call_soon_threadsafe(self._start_drain)

    def _start_drain(self) -> None:
        assert self._loop is not None
        self._drain_task = self._loop.create_task(self._drain_then_exit())

    async def _drain_then_exit(self) -> None:
        try:
            await self._drain()
        except Exception:
            log.exception("draining failed; exiting anyway")
        finally:
            self.should_exit = True


def _listening_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.set_inheritable(True)
    return sock


def listening_sockets(settings: Settings) -> list[socket.socket] | None:
    """Both ports when a second one is set (the same app answers on each); None: uvicorn binds one."""
    if settings.ollama_port is None or settings.ollama_port == settings.port:
        return None
    sockets = [_listening_socket(settings.host, port) for port in (settings.port, settings.ollama_port)]
    log.info("listening on %s ports %d and %d", settings.host, settings.port, settings.ollama_port)
    return sockets


def serve(app: FastAPI, settings: Settings) -> int:
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level.lower(),
        # localchat.access writes one line per request, with the request id, model and tokens.
        access_log=False,
        timeout_graceful_shutdown=UVICORN_BACKSTOP_SECONDS,
        http=header_deadline_protocol(settings.header_timeout_seconds),
    )
    server = GracefulServer(config, drain=lambda: drain(app.state.shutdown, app.state.pool))
    try:
        sockets = listening_sockets(settings)
    except OSError as exc:
        log.error("cannot listen on ports %d and %s: %s", settings.port, settings.ollama_port, exc)
        return EXIT_STARTUP_FAILED
    server.run(sockets=sockets)
    return 0 if server.started else EXIT_STARTUP_FAILED
