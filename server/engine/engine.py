"""The engine interface the API layer sees: a token prompt in, an async stream of events out."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from server.engine.llama import LlamaRuntime
from server.engine.scheduler import Scheduler
from server.engine.sequence import Event, Failed, Finished, GenerationRequest, Sequence


class Engine:
    def __init__(self, runtime: LlamaRuntime, *, n_parallel: int, name: str) -> None:
        self.runtime = runtime
        self.scheduler = Scheduler(runtime, n_parallel=n_parallel, name=name)
        self.scheduler.start()

    async def generate(self, request: GenerationRequest) -> AsyncIterator[Event]:
        """Yield events until Finished or Failed; closing the iterator early cancels the sequence."""
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[Event] = asyncio.Queue()

        def emit(event: Event) -> None:
            # Called on the scheduler thread; the consumer's loop may already be gone at shutdown.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(events.put_nowait, event)

        sequence = Sequence(request, emit)
        self.scheduler.submit(sequence)
        is_done = False
        try:
            while not is_done:
                event = await events.get()
                is_done = isinstance(event, Finished | Failed)
                yield event
        finally:
            if not is_done:
                sequence.cancel()
                self.scheduler.wake()

    def close(self) -> None:
        self.scheduler.stop()
        self.runtime.close()
