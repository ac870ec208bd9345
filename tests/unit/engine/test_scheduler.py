"""Scheduler.step() driven by hand (no thread) over a fake runtime and a scripted sampler: no llama.cpp.

FakeRuntime keeps a token list per seq_id, the way llama.cpp's KV cache holds one stream per sequence,
and refuses a decode entry whose position is not the next one of its sequence. FakeSampler returns
tokens scripted per request seed, and only from a batch row that asked for logits.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from types import SimpleNamespace

import numpy as np
import pytest

from server.engine import scheduler as scheduler_module
from server.engine.llama import DecodeError
from server.engine.sampling import SamplingParams
from server.engine.scheduler import MAX_INVARIANT_DECODE_ROWS, BatchEntry, QueueFull, Scheduler
from server.engine.sequence import (
    Event,
    Failed,
    Finished,
    GenerationRequest,
    Sequence,
    SequenceStatus,
    TextDelta,
    Usage,
)

EOS = 2
FILLER = 100  # unscripted samples are FILLER, FILLER + 1, ...


class FakeRuntime:
    def __init__(
        self, *, n_batch: int = 8, n_ctx_seq: int = 1024, n_vocab: int = 256, is_batch_invariant: bool = True
    ) -> None:
        self.n_batch = n_batch
        self.n_ctx_seq = n_ctx_seq
        self.n_vocab = n_vocab
        self.config = SimpleNamespace(is_batch_invariant=is_batch_invariant)
        self.calls: list[list[BatchEntry]] = []
        self.kv: dict[int, list[int]] = {}
        self.forgotten: list[int] = []
        self.keep_prefix_calls: list[tuple[int, int]] = []
        self.keeps_prefix = True
        self.fail_if: Callable[[list[BatchEntry]], bool] = lambda entries: False
        self.pieces: dict[int, bytes] = {}

    def decode(self, entries: list[BatchEntry], *, before_compute: Callable[[], None] | None = None) -> None:
        entries = list(entries)
        if before_compute is not None:
            before_compute()
        self.calls.append(entries)
        if len(entries) > self.n_batch:
            raise DecodeError(f"batch of {len(entries)} exceeds n_batch {self.n_batch}")
        if self.fail_if(entries):
            raise DecodeError("fake decode failure")
        for token, position, seq_id, _ in entries:
            cache = self.kv.setdefault(seq_id, [])
            assert position == len(cache), f"seq {seq_id}: position {position}, cache holds {len(cache)}"
            cache.append(token)

    def logits(self, batch_index: int) -> np.ndarray:
        return np.arange(self.n_vocab, dtype=np.float32)

    def token_bytes(self, token: int) -> bytes:
        return self.pieces.get(token, f"<{token}>".encode())

    def is_end_of_generation(self, token: int) -> bool:
        return token == EOS

    def forget_sequence(self, seq_id: int) -> None:
        self.forgotten.append(seq_id)
        self.kv[seq_id] = []

    def keep_prefix(self, seq_id: int, num_tokens: int) -> bool:
        self.keep_prefix_calls.append((seq_id, num_tokens))
        if num_tokens <= 0 or not self.keeps_prefix:
            self.kv[seq_id] = []
            return num_tokens == 0
        self.kv[seq_id] = self.kv.get(seq_id, [])[:num_tokens]
        return True

    def num_cached(self, seq_id: int) -> int:
        return len(self.kv.get(seq_id, []))


class FakeSampler:
    def __init__(self, runtime: FakeRuntime, params: SamplingParams, script: Iterable[int]) -> None:
        self.params = params
        self.rows: list[BatchEntry] = []
        self.num_closed = 0
        self._script = iter(script)

    def sample(self, runtime: FakeRuntime, batch_index: int) -> int:
        row = runtime.calls[-1][batch_index]
        assert row[3], f"sampled batch row {batch_index}, which asked for no logits"
        self.rows.append(row)
        return next(self._script, FILLER + len(self.rows) - 1)

    def close(self) -> None:
        self.num_closed += 1


class Samplers:
    """Stands in for SamplerChain: scripts[seed] are the tokens a request with that seed samples."""

    def __init__(self) -> None:
        self.scripts: dict[int | None, list[int]] = {}
        self.created: list[FakeSampler] = []

    def __call__(self, runtime: FakeRuntime, params: SamplingParams, *, penalty_window: int) -> FakeSampler:
        sampler = FakeSampler(runtime, params, self.scripts.get(params.seed, ()))
        self.created.append(sampler)
        return sampler

    def of(self, seed: int) -> FakeSampler:
        return next(sampler for sampler in self.created if sampler.params.seed == seed)


@pytest.fixture
def samplers(monkeypatch: pytest.MonkeyPatch) -> Samplers:
    fake = Samplers()
    monkeypatch.setattr(scheduler_module, "SamplerChain", fake)
    return fake


@pytest.fixture
def runtime() -> FakeRuntime:
    return FakeRuntime()


@pytest.fixture
def default_runtime() -> FakeRuntime:
    """The default mode: any cached prefix is reused, token by token."""
    return FakeRuntime(is_batch_invariant=False)


def _scheduler(
    runtime: FakeRuntime, *, n_parallel: int = 2, max_queue: int = 4, min_prefix_reuse: int = 1
) -> Scheduler:
    return Scheduler(
        runtime,  # type: ignore[arg-type]
        n_parallel=n_parallel,
        max_queue=max_queue,
        min_prefix_reuse=min_prefix_reuse,
        name="test",
        # Sampling is scripted through the SamplerChain stand-in (see the samplers fixture).
        use_numpy_sampler=False,
    )


def _submit(
    scheduler: Scheduler,
    prompt: Iterable[int],
    *,
    max_tokens: int = 32,
    seed: int | None = None,
    stops: tuple[str, ...] = (),
    top_logprobs: int | None = None,
    strip_leading: bool = False,
) -> tuple[Sequence, list[Event]]:
    request = GenerationRequest(
        prompt_tokens=tuple(prompt),
        sampling=SamplingParams(seed=seed, top_logprobs=top_logprobs),
        max_tokens=max_tokens,
        stops=stops,
        strip_leading=strip_leading,
    )
    events: list[Event] = []
    sequence = Sequence(request, emit=events.append)
    scheduler.submit(sequence)
    return sequence, events


def _step(scheduler: Scheduler, runtime: FakeRuntime) -> list[list[BatchEntry]]:
    """One step; the decode calls it made."""
    before = len(runtime.calls)
    scheduler.step()
    return runtime.calls[before:]


def _run_until_idle(scheduler: Scheduler, max_steps: int = 200) -> None:
    for _ in range(max_steps):
        if not scheduler.running and not scheduler.waiting:
            return
        scheduler.step()
    raise AssertionError(f"still busy after {max_steps} steps")


def _prefill_all(scheduler: Scheduler, max_steps: int = 50) -> None:
    for _ in range(max_steps):
        if not scheduler.waiting and all(s.status is SequenceStatus.DECODING for s in scheduler.running):
            return
        scheduler.step()
    raise AssertionError(f"prompts still pending after {max_steps} steps")


def _text(events: list[Event]) -> str:
    return "".join(event.text for event in events if isinstance(event, TextDelta))


def _prompt(length: int, first: int = 10) -> list[int]:
    return list(range(first, first + length))


# -- one step -----------------------------------------------------------------------------------------


def test_scheduler_step_without_sequences_decodes_nothing(samplers: Samplers, runtime: FakeRuntime) -> None:
    scheduler = _scheduler(runtime)
    assert _step(scheduler, runtime) == []


def test_scheduler_step_prefills_a_short_prompt_in_one_call(samplers: Samplers, runtime: FakeRuntime) -> None:
    scheduler = _scheduler(runtime)
    sequence, _ = _submit(scheduler, [10, 11, 12, 13, 14])
    (call,) = _step(scheduler, runtime)
    seq_id = sequence.seq_id
    assert [entry[:3] for entry in call] == [
        (10, 0, seq_id),
        (11, 1, seq_id),
        (12, 2, seq_id),
        (13, 3, seq_id),
        (14, 4, seq_id),
    ]


def test_scheduler_prefill_asks_logits_only_for_the_last_prompt_token(
    samplers: Samplers, runtime: FakeRuntime
) -> None:
    scheduler = _scheduler(runtime)
    _submit(scheduler, _prompt(5))
    (call,) = _step(scheduler, runtime)
    assert [wants_logits for *_, wants_logits in call] == [False, False, False, False, True]


def test_scheduler_emits_the_first_token_in_the_step_that_completes_the_prompt(
    samplers: Samplers, runtime: FakeRuntime
) -> None:
    samplers.scripts[1] = [40, 41]
    scheduler = _scheduler(runtime)
    _, events = _submit(scheduler, _prompt(5), seed=1)
    scheduler.step()
    assert events == [TextDelta("<40>")]


def test_scheduler_long_prompt_is_prefilled_one_n_batch_chunk_per_step(
    samplers: Samplers, runtime: FakeRuntime
) -> None:
    scheduler = _scheduler(runtime)
    _submit(scheduler, _prompt(20))
    per_step = [_step(scheduler, runtime) for _ in range(3)]
    assert [[len(call) for call in calls] for calls in per_step] == [[8], [8], [4]]
    assert [entry[:2] for calls in per_step for call in calls for entry in call] == [
        (token, position) for position, token in enumerate(_prompt(20))
    ]


def test_scheduler_long_prompt_emits_nothing_before_its_last_chunk(
    samplers: Samplers, runtime: FakeRuntime
) -> None:
    scheduler = _scheduler(runtime)
    _, events = _submit(scheduler, _prompt(20))
    scheduler.step()
    scheduler.step()
    assert events == []
    scheduler.step()
    assert len(events) == 1


def test_scheduler_long_prompt_asks_logits_only_for_its_very_last_token(
    samplers: Samplers, runtime: FakeRuntime
) -> None:
    scheduler = _scheduler(runtime)
    _submit(scheduler, _prompt(20))
    calls = [call for _ in range(3) for call in _step(scheduler, runtime)]
    flags = [wants_logits for call in calls for *_, wants_logits in call]
    assert flags == [False] * 19 + [True]


def test_scheduler_decode_feeds_the_last_sampled_token_at_the_next_positions(
    samplers: Samplers, runtime: FakeRuntime
) -> None:
    samplers.scripts[1] = [40, 41, 42]
    scheduler = _scheduler(runtime)
    sequence, _ = _submit(scheduler, _prompt(5), seed=1)
    scheduler.step()
    seq_id = sequence.seq_id
    assert _step(scheduler, runtime) == [[(40, 5, seq_id, True)]]
    assert _step(scheduler, runtime) == [[(41, 6, seq_id, True)]]


def test_scheduler_running_stream_gets_one_token_per_step_during_a_long_prefill(
    samplers: Samplers, runtime: FakeRuntime
) -> None:
    samplers.scripts[1] = [40, 41, 42, 43]
    scheduler = _scheduler(runtime)
    running, running_events = _submit(scheduler, _prompt(3), seed=1)
    scheduler.step()
    long, _ = _submit(scheduler, _prompt(20, first=50))
    for step, chunk_size in enumerate([8, 8, 4]):
        num_events = len(running_events)
        decode, prefill = _step(scheduler, runtime)
        assert decode == [(40 + step, 3 + step, running.seq_id, True)]
        assert [seq_id for _, _, seq_id, _ in prefill] == [long.seq_id] * chunk_size
        assert len(running_events) == num_events + 1


def test_scheduler_prefills_only_one_prompt_per_step(samplers: Samplers, runtime: FakeRuntime) -> None:
    scheduler = _scheduler(runtime, n_parallel=2)
    first, _ = _submit(scheduler, _prompt(3))
    second, _ = _submit(scheduler, _prompt(3, first=50))
    first_step = _step(scheduler, runtime)
    assert scheduler.num_running == 2
    assert [{seq_id for *_, seq_id, _ in call} for call in first_step] == [{first.seq_id}]
    second_step = _step(scheduler, runtime)
    assert [{seq_id for *_, seq_id, _ in call} for call in second_step] == [{first.seq_id}, {second.seq_id}]


def test_scheduler_each_sequence_decodes_into_its_own_seq_id(
    samplers: Samplers, runtime: FakeRuntime
) -> None:
    samplers.scripts[1] = [40, 41, 42]
    samplers.scripts[2] = [60, 61, 62]
    scheduler = _scheduler(runtime, n_parallel=2)
    first, _ = _submit(scheduler, _prompt(3), seed=1)
    second, _ = _submit(scheduler, _prompt(4, first=50), seed=2)
    for _ in range(4):
        scheduler.step()
    assert first.seq_id != second.seq_id
    assert runtime.kv[first.seq_id] == [*_prompt(3), 40, 41, 42]
    assert runtime.kv[second.seq_id] == [*_prompt(4, first=50), 60, 61]


def test_scheduler_samples_each_sequence_from_its_own_batch_row(
    samplers: Samplers, runtime: FakeRuntime
) -> None:
    scheduler = _scheduler(runtime, n_parallel=3)
    sequences = [_submit(scheduler, _prompt(2, first=10 * (seed + 1)), seed=seed)[0] for seed in range(3)]
    for _ in range(5):
        scheduler.step()
    for seed, sequence in enumerate(sequences):
        rows = samplers.of(seed).rows
        assert len(rows) >= 3
        assert {seq_id for _, _, seq_id, _ in rows} == {sequence.seq_id}


def test_scheduler_decode_entries_are_in_ascending_seq_id_order(
    samplers: Samplers, runtime: FakeRuntime
) -> None:
    scheduler = _scheduler(runtime, n_parallel=3)
    _submit(scheduler, [10, 11], max_tokens=1)  # slot 0, finished in the first step
    _submit(scheduler, [20, 21])  # slot 1
    _submit(scheduler, [30, 31])  # slot 2
    for _ in range(3):
        scheduler.step()
    _submit(scheduler, [40, 41])  # takes slot 0 again, running after the other two
    scheduler.step()
    assert [sequence.seq_id for sequence in scheduler.running] == [1, 2, 0]
    (decode,) = _step(scheduler, runtime)
    assert [seq_id for *_, seq_id, _ in decode] == [0, 1, 2]


def test_scheduler_batch_invariant_splits_decode_rows_into_calls_of_max_invariant_rows(
    samplers: Samplers,
) -> None:
    runtime = FakeRuntime(n_batch=16, is_batch_invariant=True)
    scheduler = _scheduler(runtime, n_parallel=9)
    for index in range(9):
        _submit(scheduler, [10 + index])
    _prefill_all(scheduler)
    calls = _step(scheduler, runtime)
    assert MAX_INVARIANT_DECODE_ROWS == 7
    assert [[seq_id for *_, seq_id, _ in call] for call in calls] == [[0, 1, 2, 3, 4, 5, 6], [7, 8]]


def test_scheduler_without_batch_invariance_decodes_all_streams_in_one_call(samplers: Samplers) -> None:
    runtime = FakeRuntime(n_batch=16, is_batch_invariant=False)
    scheduler = _scheduler(runtime, n_parallel=9)
    for index in range(9):
        _submit(scheduler, [10 + index])
    _prefill_all(scheduler)
    calls = _step(scheduler, runtime)
    assert [[seq_id for *_, seq_id, _ in call] for call in calls] == [list(range(9))]


def test_scheduler_decode_calls_never_exceed_n_batch(samplers: Samplers) -> None:
    runtime = FakeRuntime(n_batch=8, is_batch_invariant=False)
    scheduler = _scheduler(runtime, n_parallel=9)
    streams = [_submit(scheduler, [10 + index]) for index in range(9)]
    for _ in range(12):
        scheduler.step()
    assert max(len(call) for call in runtime.calls) <= runtime.n_batch
    assert not any(isinstance(event, Failed) for _, events in streams for event in events)


# -- how a sequence ends ------------------------------------------------------------------------------


def test_scheduler_max_tokens_finishes_with_length(samplers: Samplers, runtime: FakeRuntime) -> None:
    samplers.scripts[1] = [40, 41, 42, 43]
    scheduler = _scheduler(runtime)
    _, events = _submit(scheduler, _prompt(5), max_tokens=3, seed=1)
    _run_until_idle(scheduler)
    assert _text(events) == "<40><41><42>"
    assert events[-1] == Finished("length", Usage(prompt_tokens=5, completion_tokens=3))


def test_scheduler_eos_finishes_with_stop_and_its_text_is_not_emitted(
    samplers: Samplers, runtime: FakeRuntime
) -> None:
    samplers.scripts[1] = [40, 41, EOS, 43]
    scheduler = _scheduler(runtime)
    _, events = _submit(scheduler, _prompt(5), seed=1)
    _run_until_idle(scheduler)
    assert _text(events) == "<40><41>"
    assert isinstance(events[-1], Finished)
    assert events[-1].reason == "stop"


def test_scheduler_stop_string_finishes_with_stop_and_is_not_emitted(
    samplers: Samplers, runtime: FakeRuntime
) -> None:
    samplers.scripts[1] = [40, 41, 42, 43]
    scheduler = _scheduler(runtime)
    _, events = _submit(scheduler, _prompt(5), seed=1, stops=("<42>",))
    _run_until_idle(scheduler)
    assert _text(events) == "<40><41>"
    assert events[-1] == Finished("stop", Usage(prompt_tokens=5, completion_tokens=3), stop_sequence="<42>")


def test_scheduler_context_limit_finishes_with_length(samplers: Samplers) -> None:
    runtime = FakeRuntime(n_ctx_seq=8)
    scheduler = _scheduler(runtime)
    _, events = _submit(scheduler, _prompt(5), max_tokens=100)
    _run_until_idle(scheduler)
    assert max(position for call in runtime.calls for _, position, _, _ in call) == 7
    assert events[-1] == Finished("length", Usage(prompt_tokens=5, completion_tokens=4))


def test_scheduler_finished_sequence_is_not_decoded_again(samplers: Samplers, runtime: FakeRuntime) -> None:
    scheduler = _scheduler(runtime, n_parallel=2)
    done, _ = _submit(scheduler, _prompt(3), max_tokens=2)
    scheduler.step()
    seq_id = done.seq_id
    other, _ = _submit(scheduler, _prompt(3, first=50))
    scheduler.step()  # done's last token; other's prompt
    assert done.status is SequenceStatus.FINISHED
    later = [call for _ in range(3) for call in _step(scheduler, runtime)]
    assert {seq_id for call in later for *_, seq_id, _ in call} == {other.seq_id} != {seq_id}


def test_scheduler_closes_the_sampler_when_a_sequence_finishes(
    samplers: Samplers, runtime: FakeRuntime
) -> None:
    scheduler = _scheduler(runtime)
    _submit(scheduler, _prompt(3), max_tokens=2, seed=1)
    _run_until_idle(scheduler)
    assert samplers.of(1).num_closed == 1


def test_scheduler_attaches_logprobs_when_requested(samplers: Samplers, runtime: FakeRuntime) -> None:
    samplers.scripts[1] = [40]
    scheduler = _scheduler(runtime)
    _, events = _submit(scheduler, _prompt(3), seed=1, top_logprobs=2)
    scheduler.step()
    (delta,) = events
    assert isinstance(delta, TextDelta)
    (logprob,) = delta.logprobs
    assert logprob.token == 40
    assert [token for token, _ in logprob.top] == [runtime.n_vocab - 1, runtime.n_vocab - 2]


def test_scheduler_sends_no_logprobs_by_default(samplers: Samplers, runtime: FakeRuntime) -> None:
    scheduler = _scheduler(runtime)
    _, events = _submit(scheduler, _prompt(3))
    scheduler.step()
    assert events == [TextDelta("<100>", ())]


def test_scheduler_strip_leading_drops_whitespace_around_the_reply(
    samplers: Samplers, runtime: FakeRuntime
) -> None:
    runtime.pieces.update({30: b" ", 31: b"Hi", 32: b" \n"})
    samplers.scripts[1] = [30, 31, 32, EOS]
    scheduler = _scheduler(runtime)
    _, events = _submit(scheduler, _prompt(3), seed=1, strip_leading=True)
    _run_until_idle(scheduler)
    assert _text(events) == "Hi"


# -- cancel -------------------------------------------------------------------------------------------


def _running(scheduler: Scheduler, runtime: FakeRuntime) -> tuple[Sequence, list[Event], int]:
    sequence, events = _submit(scheduler, _prompt(3))
    scheduler.step()
    scheduler.step()
    return sequence, events, sequence.seq_id


def test_scheduler_cancel_takes_effect_at_the_next_step(samplers: Samplers, runtime: FakeRuntime) -> None:
    scheduler = _scheduler(runtime)
    sequence, events, _ = _running(scheduler, runtime)
    sequence.cancel()
    assert not isinstance(events[-1], Finished)
    scheduler.step()
    assert events[-1] == Finished("cancelled", Usage(prompt_tokens=3, completion_tokens=2))


def test_scheduler_cancel_running_forgets_its_kv(samplers: Samplers, runtime: FakeRuntime) -> None:
    scheduler = _scheduler(runtime)
    sequence, _, seq_id = _running(scheduler, runtime)
    sequence.cancel()
    scheduler.step()
    assert runtime.forgotten == [seq_id]
    assert runtime.num_cached(seq_id) == 0


def test_scheduler_cancel_running_frees_its_slot_with_nothing_cached(
    samplers: Samplers, runtime: FakeRuntime
) -> None:
    scheduler = _scheduler(runtime)
    sequence, _, seq_id = _running(scheduler, runtime)
    sequence.cancel()
    scheduler.step()
    slot = scheduler.slots.slots[seq_id]
    assert (slot.is_busy, slot.tokens, scheduler.num_running) == (False, [], 0)


def test_scheduler_cancelled_sequence_is_not_decoded_again(samplers: Samplers, runtime: FakeRuntime) -> None:
    scheduler = _scheduler(runtime, n_parallel=2)
    sequence, _, seq_id = _running(scheduler, runtime)
    other, _ = _submit(scheduler, _prompt(3, first=50))
    sequence.cancel()
    calls = [call for _ in range(3) for call in _step(scheduler, runtime)]
    assert calls
    assert {seq_id for call in calls for *_, seq_id, _ in call} == {other.seq_id} != {seq_id}


def test_scheduler_cancel_during_prefill_forgets_the_partial_prompt(
    samplers: Samplers, runtime: FakeRuntime
) -> None:
    scheduler = _scheduler(runtime)
    sequence, events = _submit(scheduler, _prompt(20))
    scheduler.step()
    seq_id = sequence.seq_id
    sequence.cancel()
    assert _step(scheduler, runtime) == []
    assert (runtime.forgotten, runtime.num_cached(seq_id)) == ([seq_id], 0)
    assert events == [Finished("cancelled", Usage(prompt_tokens=20, completion_tokens=0))]


def test_scheduler_cancel_waiting_finishes_it_without_decoding(
    samplers: Samplers, runtime: FakeRuntime
) -> None:
    scheduler = _scheduler(runtime, n_parallel=1)
    _submit(scheduler, _prompt(3))
    waiting, events = _submit(scheduler, _prompt(3, first=50))
    scheduler.step()
    waiting.cancel()
    scheduler.step()
    assert events == [Finished("cancelled", Usage(prompt_tokens=3, completion_tokens=0))]
    assert (scheduler.num_waiting, waiting.slot) == (0, None)
    assert 50 not in {token for call in runtime.calls for token, *_ in call}


# -- the prompt cache ---------------------------------------------------------------------------------


def _finish_first_turn(samplers: Samplers, runtime: FakeRuntime, scheduler: Scheduler) -> list[int]:
    """Prompt 10..15, completion 40 41 42: the slot keeps all but the last (never decoded) token."""
    samplers.scripts[1] = [40, 41, 42]
    _submit(scheduler, _prompt(6), max_tokens=3, seed=1)
    _run_until_idle(scheduler)
    return [*_prompt(6), 40, 41]


def test_scheduler_finished_sequence_leaves_its_decoded_tokens_in_its_slot(
    samplers: Samplers, default_runtime: FakeRuntime
) -> None:
    scheduler = _scheduler(default_runtime, n_parallel=1)
    cached = _finish_first_turn(samplers, default_runtime, scheduler)
    assert scheduler.slots.slots[0].tokens == cached
    assert default_runtime.kv[0] == cached


# Batch-invariant mode: only whole prefill chunks (n_batch = 8 here) of a prompt are reused.


def test_invariant_finished_sequence_leaves_only_whole_chunks_of_its_prompt(
    samplers: Samplers, runtime: FakeRuntime
) -> None:
    samplers.scripts[1] = [40, 41, 42]
    scheduler = _scheduler(runtime, n_parallel=1)
    _submit(scheduler, _prompt(19), max_tokens=3, seed=1)
    _run_until_idle(scheduler)
    # 19 prompt tokens: chunks 0-7 and 8-15 are whole; 16-18 and what was generated are not kept.
    assert scheduler.slots.slots[0].tokens == _prompt(16)


def test_invariant_next_request_reuses_at_chunk_boundaries_and_prefills_the_same_chunks(
    samplers: Samplers, runtime: FakeRuntime
) -> None:
    samplers.scripts[1] = [40]
    scheduler = _scheduler(runtime, n_parallel=1, min_prefix_reuse=4)
    _submit(scheduler, _prompt(19), max_tokens=1, seed=1)
    _run_until_idle(scheduler)
    sequence, _ = _submit(scheduler, [*_prompt(13), 90, 91, 92, 93, 94], max_tokens=1)
    # 13 tokens in common, but only the first chunk is whole: prefill resumes at position 8, and
    # chunk 8-15 is computed whole, as a fresh prefill would.
    (call,) = _step(scheduler, runtime)
    assert sequence.num_cached == 8
    assert [position for _, position, _, _ in call] == list(range(8, 16))


def test_invariant_whole_cached_prompt_recomputes_its_last_chunk(
    samplers: Samplers, runtime: FakeRuntime
) -> None:
    samplers.scripts[1] = [40]
    scheduler = _scheduler(runtime, n_parallel=1, min_prefix_reuse=4)
    _submit(scheduler, _prompt(16), max_tokens=1, seed=1)
    _run_until_idle(scheduler)
    sequence, _ = _submit(scheduler, _prompt(16), max_tokens=1)
    (call,) = _step(scheduler, runtime)
    assert sequence.num_cached == 8
    assert [position for _, position, _, _ in call] == list(range(8, 16))


def test_scheduler_finished_sequence_keeps_its_kv(samplers: Samplers, runtime: FakeRuntime) -> None:
    scheduler = _scheduler(runtime, n_parallel=1)
    _finish_first_turn(samplers, runtime, scheduler)
    assert (runtime.forgotten, runtime.num_cached(0)) == ([], 8)


def test_scheduler_eos_finished_sequence_caches_without_the_eos_token(
    samplers: Samplers, default_runtime: FakeRuntime
) -> None:
    samplers.scripts[1] = [40, EOS]
    scheduler = _scheduler(default_runtime, n_parallel=1)
    _submit(scheduler, _prompt(4), seed=1)
    _run_until_idle(scheduler)
    assert scheduler.slots.slots[0].tokens == [*_prompt(4), 40] == default_runtime.kv[0]


def test_scheduler_next_turn_prefills_only_the_tokens_after_the_cached_prefix(
    samplers: Samplers, default_runtime: FakeRuntime
) -> None:
    scheduler = _scheduler(default_runtime, n_parallel=1, min_prefix_reuse=4)
    cached = _finish_first_turn(samplers, default_runtime, scheduler)
    sequence, _ = _submit(scheduler, [*cached, 50, 51])
    (call,) = _step(scheduler, default_runtime)
    assert call == [(50, 8, 0, False), (51, 9, 0, True)]
    assert sequence.num_cached == 8


def test_scheduler_next_turn_reports_the_cached_prefix_in_usage(
    samplers: Samplers, default_runtime: FakeRuntime
) -> None:
    scheduler = _scheduler(default_runtime, n_parallel=1, min_prefix_reuse=4)
    cached = _finish_first_turn(samplers, default_runtime, scheduler)
    _, events = _submit(scheduler, [*cached, 50, 51], max_tokens=2)
    _run_until_idle(scheduler)
    assert events[-1] == Finished("length", Usage(prompt_tokens=10, completion_tokens=2, cached_tokens=8))


def test_scheduler_next_turn_trims_the_cache_to_the_common_prefix(
    samplers: Samplers, default_runtime: FakeRuntime
) -> None:
    scheduler = _scheduler(default_runtime, n_parallel=1, min_prefix_reuse=4)
    _finish_first_turn(samplers, default_runtime, scheduler)
    sequence, _ = _submit(scheduler, [*_prompt(6), 60, 61])
    scheduler.step()
    assert default_runtime.keep_prefix_calls[-1] == (0, 6)
    assert sequence.num_cached == 6
    assert default_runtime.kv[0] == [*_prompt(6), 60, 61]


def test_scheduler_new_request_goes_to_the_slot_holding_its_prefix(
    samplers: Samplers, default_runtime: FakeRuntime
) -> None:
    scheduler = _scheduler(default_runtime, n_parallel=2, min_prefix_reuse=4)
    _submit(scheduler, _prompt(6), max_tokens=1)
    _submit(scheduler, _prompt(6, first=50), max_tokens=1)
    _run_until_idle(scheduler)
    sequence, _ = _submit(scheduler, [*_prompt(6, first=50), 70])
    (call,) = _step(scheduler, default_runtime)
    assert (sequence.seq_id, sequence.num_cached) == (1, 6)
    assert call == [(70, 6, 1, True)]


def test_scheduler_shared_prefix_below_min_prefix_reuse_is_prefilled_in_full(
    samplers: Samplers, runtime: FakeRuntime
) -> None:
    scheduler = _scheduler(runtime, n_parallel=1, min_prefix_reuse=4)
    _finish_first_turn(samplers, runtime, scheduler)
    prompt = [10, 11, 12, 99, 98]
    sequence, _ = _submit(scheduler, prompt)
    (call,) = _step(scheduler, runtime)
    assert [entry[:2] for entry in call] == [(token, position) for position, token in enumerate(prompt)]
    assert sequence.num_cached == 0


def test_scheduler_failed_keep_prefix_prefills_the_whole_prompt(
    samplers: Samplers, default_runtime: FakeRuntime
) -> None:
    scheduler = _scheduler(default_runtime, n_parallel=1, min_prefix_reuse=4)
    cached = _finish_first_turn(samplers, default_runtime, scheduler)
    default_runtime.keeps_prefix = False
    prompt = [*cached, 50]
    _, events = _submit(scheduler, prompt, max_tokens=1)
    calls = [call for _ in range(2) for call in _step(scheduler, default_runtime)]  # 9 tokens: two chunks
    assert default_runtime.keep_prefix_calls[-1] == (0, 8)
    assert [entry[:2] for call in calls for entry in call] == [
        (token, position) for position, token in enumerate(prompt)
    ]
    assert events[-1] == Finished("length", Usage(prompt_tokens=9, completion_tokens=1, cached_tokens=0))


# -- admission ----------------------------------------------------------------------------------------


def test_scheduler_submit_beyond_parallel_plus_queue_raises_queue_full(
    samplers: Samplers, runtime: FakeRuntime
) -> None:
    scheduler = _scheduler(runtime, n_parallel=2, max_queue=1)
    for first in (10, 20, 30):
        _submit(scheduler, [first])
    with pytest.raises(QueueFull):
        _submit(scheduler, [40])


def test_scheduler_queue_limit_counts_running_sequences(samplers: Samplers, runtime: FakeRuntime) -> None:
    scheduler = _scheduler(runtime, n_parallel=1, max_queue=1)
    _submit(scheduler, [10, 11])
    scheduler.step()
    _submit(scheduler, [20, 21])
    assert (scheduler.num_running, scheduler.num_waiting) == (1, 1)
    with pytest.raises(QueueFull):
        _submit(scheduler, [30, 31])


def test_scheduler_sequence_beyond_n_parallel_waits_undecoded(
    samplers: Samplers, runtime: FakeRuntime
) -> None:
    scheduler = _scheduler(runtime, n_parallel=1)
    _submit(scheduler, _prompt(3))
    waiting, events = _submit(scheduler, _prompt(3, first=50))
    for _ in range(3):
        scheduler.step()
    assert (scheduler.num_running, scheduler.num_waiting, waiting.status) == (1, 1, SequenceStatus.WAITING)
    assert events == []
    assert 50 not in {token for call in runtime.calls for token, *_ in call}


def test_scheduler_waiting_sequence_is_admitted_when_a_slot_frees(
    samplers: Samplers, runtime: FakeRuntime
) -> None:
    scheduler = _scheduler(runtime, n_parallel=1)
    _submit(scheduler, _prompt(3), max_tokens=1)
    waiting, _ = _submit(scheduler, _prompt(3, first=50))
    scheduler.step()
    assert scheduler.num_waiting == 1
    (call,) = _step(scheduler, runtime)
    assert [token for token, *_ in call] == _prompt(3, first=50)
    assert (waiting.seq_id, scheduler.num_waiting) == (0, 0)


# -- decode errors ------------------------------------------------------------------------------------


def test_scheduler_decode_error_in_a_prefill_fails_only_that_sequence(
    samplers: Samplers, runtime: FakeRuntime
) -> None:
    scheduler = _scheduler(runtime, n_parallel=2)
    streaming, streaming_events = _submit(scheduler, _prompt(3))
    scheduler.step()
    _, failing_events = _submit(scheduler, _prompt(3, first=50))
    runtime.fail_if = lambda entries: entries[0][0] == 50
    scheduler.step()
    assert failing_events == [Failed("fake decode failure")]
    assert [type(event) for event in streaming_events] == [TextDelta, TextDelta]
    assert scheduler.running == [streaming]


def test_scheduler_decode_error_in_a_decode_call_fails_only_its_rows(samplers: Samplers) -> None:
    runtime = FakeRuntime(n_batch=16, is_batch_invariant=True)
    scheduler = _scheduler(runtime, n_parallel=9)
    streams = [_submit(scheduler, [10 + index]) for index in range(9)]
    _prefill_all(scheduler)
    runtime.fail_if = lambda entries: entries[0][2] == MAX_INVARIANT_DECODE_ROWS  # the second call: 7, 8
    scheduler.step()
    failed = [index for index, (_, events) in enumerate(streams) if isinstance(events[-1], Failed)]
    assert failed == [7, 8]
    assert scheduler.num_running == 7


def test_scheduler_decode_error_frees_the_slot_and_forgets_its_kv(
    samplers: Samplers, runtime: FakeRuntime
) -> None:
    scheduler = _scheduler(runtime, n_parallel=1)
    sequence, _ = _submit(scheduler, _prompt(3))
    scheduler.step()
    runtime.fail_if = lambda entries: True
    scheduler.step()
    slot = scheduler.slots.slots[0]
    assert (slot.is_busy, slot.tokens, runtime.forgotten, runtime.num_cached(0)) == (False, [], [0], 0)
    assert sequence.slot is None


def test_scheduler_keeps_serving_new_sequences_after_a_decode_error(
    samplers: Samplers, runtime: FakeRuntime
) -> None:
    scheduler = _scheduler(runtime, n_parallel=1)
    runtime.fail_if = lambda entries: entries[0][0] == 10
    _, failed_events = _submit(scheduler, _prompt(3))
    scheduler.step()
    _, events = _submit(scheduler, _prompt(3, first=50), max_tokens=2)
    _run_until_idle(scheduler)
    assert isinstance(failed_events[-1], Failed)
    assert events[-1] == Finished("length", Usage(prompt_tokens=3, completion_tokens=2))


# -- stop ---------------------------------------------------------------------------------------------


def test_scheduler_stop_without_start_returns_promptly(samplers: Samplers, runtime: FakeRuntime) -> None:
    scheduler = _scheduler(runtime)
    _submit(scheduler, _prompt(3))
    scheduler.step()
    stopper = threading.Thread(target=scheduler.stop, daemon=True)
    stopper.start()
    stopper.join(timeout=2)
    assert not stopper.is_alive()


def test_scheduler_stop_fails_running_and_waiting_sequences(samplers: Samplers, runtime: FakeRuntime) -> None:
    scheduler = _scheduler(runtime, n_parallel=1)
    _, running_events = _submit(scheduler, _prompt(3))
    _, waiting_events = _submit(scheduler, _prompt(3, first=50))
    scheduler.step()
    scheduler.stop()
    assert running_events[-1] == Failed("the model was unloaded")
    assert waiting_events == [Failed("the model was unloaded")]
    assert (scheduler.num_running, scheduler.num_waiting) == (0, 0)


def test_scheduler_stop_forgets_kv_and_closes_samplers_of_running_sequences(
    samplers: Samplers, runtime: FakeRuntime
) -> None:
    scheduler = _scheduler(runtime, n_parallel=1)
    _submit(scheduler, _prompt(3), seed=1)
    scheduler.step()
    scheduler.stop()
    assert (runtime.forgotten, runtime.num_cached(0), scheduler.slots.num_free) == ([0], 0, 1)
    assert samplers.of(1).num_closed == 1


def test_scheduler_submit_after_stop_fails_the_sequence(samplers: Samplers, runtime: FakeRuntime) -> None:
    scheduler = _scheduler(runtime)
    scheduler.stop()
    _, events = _submit(scheduler, _prompt(3))
    assert events == [Failed("the model is shutting down")]
    assert scheduler.num_waiting == 0


def test_scheduler_without_batch_invariance_packs_prompts_with_running_streams(samplers: Samplers) -> None:
    runtime = FakeRuntime(n_batch=16, is_batch_invariant=False)
    scheduler = _scheduler(runtime, n_parallel=4)
    running, _ = _submit(scheduler, _prompt(3))
    scheduler.step()  # its prompt, then it decodes
    second, _ = _submit(scheduler, _prompt(4, first=50))
    third, _ = _submit(scheduler, _prompt(5, first=70))
    calls = _step(scheduler, runtime)
    assert len(calls) == 1  # one llama_decode for the stream's token and both new prompts
    assert [seq_id for *_, seq_id, _ in calls[0]] == [running.seq_id] + [second.seq_id] * 4 + [
        third.seq_id
    ] * 5
    assert second.num_completion_tokens == third.num_completion_tokens == 1


def test_scheduler_without_batch_invariance_splits_a_prompt_over_the_room_left(samplers: Samplers) -> None:
    runtime = FakeRuntime(n_batch=8, is_batch_invariant=False)
    scheduler = _scheduler(runtime, n_parallel=2)
    long_prompt, _ = _submit(scheduler, _prompt(12))
    calls = _step(scheduler, runtime) + _step(scheduler, runtime)
    assert [len(call) for call in calls] == [8, 4]
    assert long_prompt.num_completion_tokens == 1
