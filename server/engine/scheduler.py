"""The decode loop of one loaded model, on its own thread.

Each step packs one token of every decoding sequence plus a bounded chunk of pending prompt tokens
into a single llama_batch (one seq_id per sequence), decodes it, and samples for every sequence
whose logits came out. New sequences join between steps, starting from the idle slot that shares
the longest prefix with their prompt; finished ones leave their tokens cached for the next turn,
cancelled and failed ones clear their KV.
"""

from __future__ import annotations

import logging
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from server.engine.llama import DecodeError, LlamaRuntime
from server.engine.sampling import Sampler, SamplerChain, TokenLogprob, token_logprob
from server.engine.sampling.numpy_sampler import NumpySampler
from server.engine.sequence import FinishReason, GenerationRequest, Sequence, SequenceStatus, TextDelta
from server.engine.slots import SlotTable
from server.engine.text import TextStream

log = logging.getLogger("localchat.engine")

# (token, position, seq_id, wants_logits) as LlamaRuntime.decode takes them
BatchEntry = tuple[int, int, int, bool]
# A sequence and the batch index of its logits
Sampled = tuple[Sequence, int]
# One llama_decode: its entries, the sequences in it, and where to sample
Batch = tuple[list[BatchEntry], list[Sequence], list[Sampled]]
# llama.cpp's CPU matmuls change their arithmetic from 8 rows on (measured: tokens of one sequence
# decoded beside 7 others differ from the same sequence decoded alone; beside up to 6, they don't).
MAX_INVARIANT_DECODE_ROWS = 7
SWITCH_INTERVAL_SECONDS = 0.0005


@dataclass
class StepTimes:
    """Where the decode loop's time goes (seconds, cumulative): llama_decode, sampling, the rest."""

    num_steps: int = 0
    total: float = 0.0
    decode: float = 0.0
    sample: float = 0.0

    @property
    def other(self) -> float:
        return self.total - self.decode - self.sample


class QueueFull(RuntimeError):
    """Every slot is busy and the waiting queue is at its limit."""


class Scheduler:
    """Owns one model's decode loop and its thread: the waiting queue and the running sequences, the
    KV slots (which seq_id each sequence decodes into, what idle slots still hold for prefix reuse),
    and every call into llama.cpp's context after the load. Other threads only submit, cancel and wake;
    each step packs one token of every running sequence and a chunk of pending prompt into one batch."""

    def __init__(
        self,
        runtime: LlamaRuntime,
        *,
        n_parallel: int,
        max_queue: int,
        min_prefix_reuse: int = 1,
        name: str,
        use_numpy_sampler: bool = True,
        deliver_events: Callable[[], None] = lambda: None,
    ) -> None:
        self.runtime = runtime
        self.use_numpy_sampler = use_numpy_sampler
        # Hands the events emitted so far to the event loop. Called just before each llama_decode, so
        # the loop serialises and sends them while llama.cpp works without the GIL; and when the
        # loop goes idle or events are sent outside a step.
        self.deliver_events = deliver_events
        self.n_parallel = n_parallel
        self.max_queue = max_queue
        self.waiting: deque[Sequence] = deque()
        self.running: list[Sequence] = []
        self.slots = SlotTable(n_parallel, min_prefix_reuse=min_prefix_reuse)
        max_rows = MAX_INVARIANT_DECODE_ROWS if runtime.config.is_batch_invariant else n_parallel
        self.max_decode_rows = min(max_rows, runtime.n_batch)
        # Read by the API thread; written by the loop after each step (llama.cpp is not thread-safe).
        self.num_kv_tokens = 0
        self.times = StepTimes()
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
        # After each llama_decode (which releases the GIL) this thread must get the GIL back from
        # the event loop; at Python's default 5 ms switch interval that wait stalls every step.
        sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL_SECONDS))
        self._thread.start()

    def submit(self, sequence: Sequence) -> None:
        with self._wake:
            if self._is_stopping:
                sequence.fail("the model is shutting down")
                self.deliver_events()
                return
            if len(self.running) + len(self.waiting) >= self.n_parallel + self.max_queue:
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
            self._release(sequence, keep_cache=False)
            sequence.fail("the model was unloaded")
        self.running.clear()
        self.waiting.clear()
        self.deliver_events()

    # -- the loop ------------------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._is_stopping and not self.running and not self.waiting:
                    self._wake.wait()
                if self._is_stopping:
                    return
            started = time.perf_counter()
            try:
                self.step()
            except Exception as exc:  # never let one bad step kill the model's loop
                log.exception("decode step failed")
                for sequence in list(self.running):
                    self._end(sequence, failure=f"generation failed: {exc}")
            self.num_kv_tokens = sum(self.runtime.num_cached(slot.seq_id) for slot in self.slots.slots)
            if not self.running:
                self.deliver_events()  # no decode follows to deliver them
            self.times.num_steps += 1
            self.times.total += time.perf_counter() - started

    def step(self) -> None:
        self._drop_cancelled()
        self._admit_waiting()
        if not self.running:
            return
        if self.runtime.config.is_batch_invariant:
            # One token of every running stream, then one chunk of one prompt in a call of its own:
            # its arithmetic is then independent of whoever else is running, so a seed gives the
            # same text alone or beside others.
            batches = [*self._decode_batches(), self._prefill_batch()]
        else:
            # Everything in one llama_decode, as llama-server does: every stream's next token plus
            # as many pending prompt tokens as fit in n_batch, so prompts arriving together start
            # together instead of one per step.
            batches = self._packed_batches()
        for batch in batches:
            if batch is not None:
                self._run_batch(*batch)

    def _run_batch(self, entries: list[BatchEntry], members: list[Sequence], sampled: list[Sampled]) -> None:
        started = time.perf_counter()
        try:
            self.runtime.decode(entries, before_compute=self.deliver_events)
        except DecodeError as exc:
            for sequence in members:
                self._end(sequence, failure=str(exc))
            return
        decoded = time.perf_counter()
        for sequence, batch_index in sampled:
            self._sample(sequence, batch_index)
        self.times.decode += decoded - started
        self.times.sample += time.perf_counter() - decoded

    def _drop_cancelled(self) -> None:
        with self._wake:
            for sequence in [s for s in self.waiting if s.is_cancelled]:
                self.waiting.remove(sequence)
                sequence.finish("cancelled")
        for sequence in [s for s in self.running if s.is_cancelled]:
            self._end(sequence, reason="cancelled")

    def _admit_waiting(self) -> None:
        while True:
            # Only the queue hand-over holds the lock: submit() must not wait on llama.cpp calls
            # (KV trimming, grammar parsing) made while a sequence starts.
            with self._wake:
                if not (self.waiting and self.slots.num_free):
                    return
                sequence = self.waiting.popleft()
                self.running.append(sequence)
            try:
                self._start(sequence)
            except Exception as exc:
                log.exception("could not start sequence %d", sequence.id)
                self.running.remove(sequence)
                self._release(sequence, keep_cache=False)
                sequence.fail(f"could not start generation: {exc}")

    def _start(self, sequence: Sequence) -> None:
        request = sequence.request
        slot, num_reusable = self.slots.acquire(request.prompt_tokens)
        if self.runtime.config.is_batch_invariant:
            num_reusable -= num_reusable % self.invariant_chunk
        sequence.slot = slot
        if not self.runtime.keep_prefix(slot.seq_id, num_reusable):
            num_reusable = 0  # the cache could not be trimmed: full prefill, correctness first
        sequence.num_cached = num_reusable
        sequence.num_prefilled = num_reusable
        sequence.sampler = self._new_sampler(request)
        sequence.text = TextStream(
            self.runtime.token_bytes_special if request.render_special else self.runtime.token_bytes,
            request.stops,
            strip_leading=request.strip_leading,
            strip_trailing=request.strip_leading,
        )
        sequence.status = SequenceStatus.PREFILLING

    def _new_sampler(self, request: GenerationRequest) -> Sampler:
        window = request.sampling.penalty_window(request.max_tokens)
        if self.use_numpy_sampler and request.sampling.grammar is None:
            return NumpySampler(request.sampling, penalty_window=window)
        return SamplerChain(self.runtime, request.sampling, penalty_window=window)

    def _decode_batches(self) -> list[Batch]:
        # Ascending seq_ids: llama.cpp decodes consecutive sequences in one micro-batch, and splits
        # them into one micro-batch each otherwise.
        decoding = sorted(
            (s for s in self.running if s.status is SequenceStatus.DECODING), key=lambda s: s.seq_id
        )
        batches = []
        for start in range(0, len(decoding), self.max_decode_rows):
            group = decoding[start : start + self.max_decode_rows]
            entries = [(s.last_token, s.next_position, s.seq_id, True) for s in group]
            batches.append((entries, group, [(sequence, index) for index, sequence in enumerate(group)]))
        return batches

    def _packed_batches(self) -> list[Batch]:
        """The decode rows (in n_batch-sized calls), the last call topped up with prompt chunks."""
        batches = self._decode_batches()
        entries, members, sampled = batches.pop() if batches else ([], [], [])
        budget = self.runtime.n_batch - len(entries)
        for sequence in [s for s in self.running if s.status is SequenceStatus.PREFILLING]:
            if budget <= 0:
                break
            chunk_entries, _, chunk_sampled = self._prefill_chunk(sequence, budget)
            offset = len(entries)
            entries = [*entries, *chunk_entries]
            members = [*members, sequence]
            sampled = [*sampled, *((seq, offset + index) for seq, index in chunk_sampled)]
            budget -= len(chunk_entries)
        if entries:
            batches.append((entries, members, sampled))
        return batches

    def _prefill_batch(self) -> Batch | None:
        """The next chunk of the oldest pending prompt; a long prompt delays streams by one chunk."""
        sequence = next((s for s in self.running if s.status is SequenceStatus.PREFILLING), None)
        if sequence is None:
            return None
        return self._prefill_chunk(sequence, self.runtime.n_batch)

    @property
    def invariant_chunk(self) -> int:
        """Batch-invariant prefill goes in chunks of this many tokens at fixed positions (0, n, 2n...)."""
        return self.runtime.n_batch

    def _invariant_reusable(self, prompt: tuple[int, ...]) -> tuple[int, ...]:
        """What a finished sequence leaves for reuse in batch-invariant mode: the whole prefill chunks
        of its prompt, nothing it generated. A position's keys and values then always come from the
        same computation (its chunk, at its place), so a prompt gives the same output whether none,
        part or all of it was cached: decoded one row at a time, or in a chunk cut elsewhere, they
        would differ in the last bits, and so, now and then, would the text."""
        return prompt[: len(prompt) - len(prompt) % self.invariant_chunk]

    def _prefill_chunk(self, sequence: Sequence, size: int) -> Batch:
        start = sequence.num_prefilled
        chunk = sequence.request.prompt_tokens[start : start + size]
        is_complete = start + len(chunk) == sequence.num_prompt_tokens
        entries = [
            (token, start + offset, sequence.seq_id, is_complete and offset == len(chunk) - 1)
            for offset, token in enumerate(chunk)
        ]
        sequence.num_prefilled += len(chunk)
        return entries, [sequence], [(sequence, len(entries) - 1)] if is_complete else []

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
        logprobs: tuple[TokenLogprob, ...] = ()
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
    def _emit_text(sequence: Sequence, text: str, logprobs: tuple[TokenLogprob, ...]) -> None:
        if text or logprobs:
            sequence.emit(TextDelta(text, logprobs))

    def _end(self, sequence: Sequence, *, reason: FinishReason = "stop", failure: str | None = None) -> None:
        # Only a sequence that ended normally leaves a cache worth reusing.
        self._release(sequence, keep_cache=failure is None and reason != "cancelled")
        if sequence in self.running:
            self.running.remove(sequence)
        if failure is not None:
            sequence.fail(failure)
        else:
            sequence.finish(reason)

    def _release(self, sequence: Sequence, *, keep_cache: bool) -> None:
        if sequence.sampler is not None:
            sequence.sampler.close()
            sequence.sampler = None
        slot = sequence.slot
        if slot is None:
            return
        sequence.slot = None
        if keep_cache:
            decoded = (*sequence.request.prompt_tokens, *sequence.completion_tokens)[: sequence.next_position]
            if self.runtime.config.is_batch_invariant:
                decoded = self._invariant_reusable(sequence.request.prompt_tokens)
            self.slots.release(slot, decoded)
        else:
            self.runtime.forget_sequence(slot.seq_id)
            self.slots.release(slot, ())
