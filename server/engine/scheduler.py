"""The decode loop of one loaded model, on its own thread.

Each step packs one token of every decoding sequence plus a bounded chunk of pending prompt tokens
into a single llama_batch (one seq_id per sequence), decodes it, and samples for every sequence
whose logits came out. New sequences join between steps; finished and cancelled ones free their KV.
"""

from __future__ import annotations

import logging
import threading
from collections import deque

from server.engine.llama import DecodeError, LlamaRuntime
from server.engine.sampling import SamplerChain, token_logprob
from server.engine.sequence import Sequence, SequenceStatus, TextDelta
from server.engine.text import TextStream

log = logging.getLogger("localchat.engine")

# (token, position, seq_id, wants_logits) as LlamaRuntime.decode takes them
BatchEntry = tuple[int, int, int, bool]


class QueueFull(RuntimeError):
    """Every slot is busy and the waiting queue is at its limit."""


class Scheduler:
    def __init__(self, runtime: LlamaRuntime, *, n_parallel: int, max_queue: int, name: str) -> None:
        self.runtime = runtime
        self.n_parallel = n_parallel
        self.max_queue = max_queue
        self.waiting: deque[Sequence] = deque()
        self.running: list[Sequence] = []
        self._free_slots = list(range(n_parallel))
        self._wake = threading.Condition()
        self._is_stopping = False
        self._thread = threading.Thread(target=self._run, name=f"scheduler-{name}", daemon=True)

    @property
    def num_waiting(self) -> int:
        return len(self.waiting)

    @property
    def num_running(self) -> int:
        return len(self.running)

    def start(self) -> None:
        self._thread.start()

    def submit(self, sequence: Sequence) -> None:
        with self._wake:
            if self._is_stopping:
                sequence.fail("the model is shutting down")
                return
            num_busy = len(self.running) + len(self.waiting)
            if num_busy >= self.n_parallel + self.max_queue:
                raise QueueFull(f"{len(self.running)} requests running and {len(self.waiting)} waiting")
            self.waiting.append(sequence)
            self._wake.notify()

    def wake(self) -> None:
        """Called after a cancel so an idle loop notices promptly."""
        with self._wake:
            self._wake.notify()

    def stop(self) -> None:
        with self._wake:
            self._is_stopping = True
            self._wake.notify()
        if self._thread.is_alive():
            self._thread.join()
        for sequence in [*self.running, *self.waiting]:
            self._release(sequence)
            sequence.fail("the model was unloaded")
        self.running.clear()
        self.waiting.clear()

    # -- the loop ------------------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._is_stopping and not self.running and not self.waiting:
                    self._wake.wait()
                if self._is_stopping:
                    return
            try:
                self.step()
            except Exception as exc:  # never let one bad step kill the model's loop
                log.exception("decode step failed")
                for sequence in list(self.running):
                    self._end(sequence, failure=f"generation failed: {exc}")

    def step(self) -> None:
        self._drop_cancelled()
        self._admit_waiting()
        if not self.running:
            return
        entries, sampled = self._build_batch()
        try:
            self.runtime.decode(entries)
        except DecodeError as exc:
            for sequence, _ in sampled:
                self._end(sequence, failure=str(exc))
            return
        for sequence, batch_index in sampled:
            self._sample(sequence, batch_index)

    def _drop_cancelled(self) -> None:
        with self._wake:
            for sequence in [s for s in self.waiting if s.is_cancelled]:
                self.waiting.remove(sequence)
                sequence.finish("cancelled")
        for sequence in [s for s in self.running if s.is_cancelled]:
            self._end(sequence, reason="cancelled")

    def _admit_waiting(self) -> None:
        with self._wake:
            while self.waiting and self._free_slots:
                sequence = self.waiting.popleft()
                try:
                    self._start(sequence)
                except Exception as exc:
                    log.exception("could not start sequence %d", sequence.id)
                    self._release(sequence)
                    sequence.fail(f"could not start generation: {exc}")
                    continue
                self.running.append(sequence)

    def _start(self, sequence: Sequence) -> None:
        sequence.slot = self._free_slots.pop(0)
        self.runtime.forget_sequence(sequence.slot)
        request = sequence.request
        sequence.sampler = SamplerChain(self.runtime, request.sampling, penalty_window=request.max_tokens)
        sequence.text = TextStream(
            self.runtime.token_bytes,
            request.stops,
            strip_leading=request.strip_leading,
            strip_trailing=request.strip_leading,
        )
        sequence.status = SequenceStatus.PREFILLING

    def _build_batch(self) -> tuple[list[BatchEntry], list[tuple[Sequence, int]]]:
        entries: list[BatchEntry] = []
        sampled: list[tuple[Sequence, int]] = []
        for sequence in self.running:
            if sequence.status is SequenceStatus.DECODING:
                sampled.append((sequence, len(entries)))
                entries.append((sequence.last_token, sequence.next_position, sequence.slot, True))
        # Prompts fill what is left, so a long prompt delays running streams by one chunk at most.
        budget = self.runtime.n_batch - len(entries)
        for sequence in self.running:
            if sequence.status is not SequenceStatus.PREFILLING or budget <= 0:
                continue
            start = sequence.num_prefilled
            chunk = sequence.request.prompt_tokens[start : start + budget]
            for offset, token in enumerate(chunk):
                is_last_prompt_token = start + offset == sequence.num_prompt_tokens - 1
                if is_last_prompt_token:
                    sampled.append((sequence, len(entries)))
                entries.append((token, start + offset, sequence.slot, is_last_prompt_token))
            sequence.num_prefilled += len(chunk)
            budget -= len(chunk)
        return entries, sampled

    def _sample(self, sequence: Sequence, batch_index: int) -> None:
        assert sequence.sampler is not None and sequence.text is not None
        token = sequence.sampler.sample(self.runtime, batch_index)
        sequence.status = SequenceStatus.DECODING
        sequence.completion_tokens.append(token)
        if self.runtime.is_end_of_generation(token):
            self._emit_text(sequence, sequence.text.finish(), ())
            self._end(sequence, reason="stop")
            return
        top_logprobs = sequence.request.sampling.top_logprobs
        logprobs = ()
        if top_logprobs is not None:
            logprobs = (token_logprob(self.runtime.logits(batch_index), token, top_logprobs),)
        text = sequence.text.feed(token)
        if sequence.text.is_stopped:
            self._emit_text(sequence, text, logprobs)
            self._end(sequence, reason="stop")
        elif sequence.has_reached_max_tokens or sequence.next_position >= self.runtime.n_ctx_seq:
            self._emit_text(sequence, text + sequence.text.finish(), logprobs)
            self._end(sequence, reason="length")
        else:
            self._emit_text(sequence, text, logprobs)

    @staticmethod
    def _emit_text(sequence: Sequence, text: str, logprobs: tuple) -> None:
        if text or logprobs:
            sequence.emit(TextDelta(text, logprobs))

    def _end(self, sequence: Sequence, *, reason: str = "stop", failure: str | None = None) -> None:
        self._release(sequence)
        if sequence in self.running:
            self.running.remove(sequence)
        if failure is not None:
            sequence.fail(failure)
        else:
            sequence.finish(reason)  # type: ignore[arg-type]

    def _release(self, sequence: Sequence) -> None:
        if sequence.sampler is not None:
            sequence.sampler.close()
            sequence.sampler = None
        if sequence.slot is not None:
            self.runtime.forget_sequence(sequence.slot)
            self._free_slots.append(sequence.slot)
            sequence.slot = None
