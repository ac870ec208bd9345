"""The engine interface the API layer sees: a token prompt in, an async stream of events out."""

from __future__ import annotations

import asyncio
import contextlib

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
        self.scheduler = Scheduler(
            runtime,
            n_parallel=n_parallel,
            max_queue=max_queue,
            min_prefix_reuse=min_prefix_reuse,
            name=name,
            use_numpy_sampler=use_numpy_sampler,
        )
        self.scheduler.start()

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
            # Called on the scheduler thread; the consumer's loop may already be gone at shutdown.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(events.put_nowait, event)

        sequence = Sequence(request, emit)
        self.scheduler.submit(sequence)
        return EventStream(sequence, events, self.scheduler)

    def close(self) -> None:
        self.scheduler.stop()
        self.runtime.close()
