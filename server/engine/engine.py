"""The engine interface the pipeline sees: a token prompt in, an async stream of events out."""

from __future__ import annotations

import asyncio
import contextlib
import threading

from server.engine.llama import LlamaRuntime
from server.engine.scheduler import QueueFull, Scheduler, StepTimes
from server.engine.sequence import Event, Failed, Finished, GenerationRequest, Sequence

__all__ = ["Engine", "EventStream", "QueueFull"]


class EventStream:
    """Events of one sequence, in order. Closing it (or cancelling the task reading it) before the
    end cancels the sequence, so an abandoned request stops generating at the next step."""

    def __init__(self, sequence: Sequence, events: asyncio.Queue[Event], scheduler: Scheduler) -> None:
        self._sequence = sequence
        self._events = events
        self._scheduler = scheduler
        self._is_done = False

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> Event:
        if self._is_done:
            raise StopAsyncIteration
        try:
            event = await self._events.get()
        except asyncio.CancelledError:
            self.cancel()
            raise
        self._is_done = isinstance(event, Finished | Failed)
        return event

    def cancel(self) -> None:
        if not self._is_done:
            self._is_done = True
            self._sequence.cancel()
            self._scheduler.wake()

    async def aclose(self) -> None:
        self.cancel()

    def __del__(self) -> None:
        # A response that never started reading (client gone before the first byte) still frees
        # its sequence: an unread stream must not generate to max_tokens for nobody.
        self.cancel()


class Outbox:
    """Events from the decode thread to the event loops that wait for them, handed over once per step.

    Waking the event loop once per token per stream (a self-pipe write each) made it take the GIL
    from the decode thread in the middle of every step; one hand-over per step batches that."""

    def __init__(self) -> None:
        self._pending: list[tuple[asyncio.AbstractEventLoop, asyncio.Queue[Event], Event]] = []
        self._lock = threading.Lock()

    def put(self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[Event], event: Event) -> None:
        with self._lock:
            self._pending.append((loop, queue, event))

    def flush(self) -> None:
        with self._lock:
            batch, self._pending = self._pending, []
        by_loop: dict[asyncio.AbstractEventLoop, list[tuple[asyncio.Queue[Event], Event]]] = {}
        for loop, queue, event in batch:
            by_loop.setdefault(loop, []).append((queue, event))
        for loop, items in by_loop.items():
            # The consumer's loop may already be gone at shutdown.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(_deliver, items)


def _deliver(items: list[tuple[asyncio.Queue[Event], Event]]) -> None:
    for queue, event in items:
        queue.put_nowait(event)


class Engine:
    def __init__(
        self,
        runtime: LlamaRuntime,
        *,
        n_parallel: int,
        max_queue: int,
        min_prefix_reuse: int = 1,
        name: str,
        use_numpy_sampler: bool = True,
    ) -> None:
        self.runtime = runtime
        self._outbox = Outbox()
        self.scheduler = Scheduler(
            runtime,
            n_parallel=n_parallel,
            max_queue=max_queue,
            min_prefix_reuse=min_prefix_reuse,
            name=name,
            use_numpy_sampler=use_numpy_sampler,
            deliver_events=self._outbox.flush,
        )
        self.scheduler.start()

    @property
    def n_parallel(self) -> int:
        return self.scheduler.n_parallel

    @property
    def num_kv_tokens(self) -> int:
        return self.scheduler.num_kv_tokens

    @property
    def num_running(self) -> int:
        return self.scheduler.num_running

    @property
    def num_waiting(self) -> int:
        return self.scheduler.num_waiting

    @property
    def step_times(self) -> StepTimes:
        return self.scheduler.times

    def generate(self, request: GenerationRequest) -> EventStream:
        """Submit now (QueueFull is raised here, before any response starts); read events later."""
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[Event] = asyncio.Queue()

        def emit(event: Event) -> None:
            self._outbox.put(loop, events, event)  # delivered when the scheduler's step ends

        sequence = Sequence(request, emit)
        self.scheduler.submit(sequence)
        return EventStream(sequence, events, self.scheduler)

    def close(self) -> None:
        self.scheduler.stop()
        self.runtime.close()
