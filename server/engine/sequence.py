"""One request's state inside the engine, and the events it sends back to the pipeline."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum, auto
from typing import Literal

from server.engine.sampling import Sampler, SamplingParams, TokenLogprob
from server.engine.slots import Slot
from server.engine.text import TextStream

FinishReason = Literal["stop", "length", "cancelled"]


@dataclass(frozen=True)
class GenerationRequest:
    """What the API layer asks of the engine: tokens in, rules for sampling and for stopping."""

    prompt_tokens: tuple[int, ...]
    sampling: SamplingParams
    max_tokens: int
    stops: tuple[str, ...] = ()
    # Base-model chat ends its prompt with "Assistant:"; the space around the reply is not content.
    strip_leading: bool = False
    # Control tokens as text: a model family's markers (<|python_tag|>, [TOOL_CALLS]...) must reach
    # the parser of its output.
    render_special: bool = False

    def __post_init__(self) -> None:
        if not self.prompt_tokens:
            raise ValueError("prompt_tokens must not be empty")
        if self.max_tokens < 1:
            raise ValueError("max_tokens must be at least 1")


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass(frozen=True)
class TextDelta:
    text: str
    logprobs: tuple[TokenLogprob, ...] = ()


@dataclass(frozen=True)
class Finished:
    reason: FinishReason
    usage: Usage
    # The stop string that ended the answer, if one did (Anthropic's API reports which).
    stop_sequence: str | None = None


@dataclass(frozen=True)
class Failed:
    message: str


Event = TextDelta | Finished | Failed


class SequenceStatus(Enum):
    WAITING = auto()
    PREFILLING = auto()
    DECODING = auto()
    FINISHED = auto()


_sequence_ids = itertools.count(1)


class Sequence:
    def __init__(self, request: GenerationRequest, emit: Callable[[Event], None]) -> None:
        self.id = next(_sequence_ids)
        self.request = request
        self.status = SequenceStatus.WAITING
        self.slot: Slot | None = None
        self.num_prefilled = 0
        self.num_cached = 0
        self.completion_tokens: list[int] = []
        self.sampler: Sampler | None = None
        self.text: TextStream | None = None
        self._emit = emit
        self._cancelled = threading.Event()

    # -- derived -----------------------------------------------------------------------------------

    @property
    def num_prompt_tokens(self) -> int:
        return len(self.request.prompt_tokens)

    @property
    def num_completion_tokens(self) -> int:
        return len(self.completion_tokens)

    @property
    def next_position(self) -> int:
        """Position of the next token this sequence puts into the KV cache."""
        return self.num_prefilled + max(self.num_completion_tokens - 1, 0)

    @property
    def seq_id(self) -> int:
        assert self.slot is not None, "only a running sequence has a seq_id"
        return self.slot.seq_id

    @property
    def last_token(self) -> int:
        return self.completion_tokens[-1]

    @property
    def has_reached_max_tokens(self) -> bool:
        return self.num_completion_tokens >= self.request.max_tokens

    @property
    def is_cancelled(self) -> bool:
        return self._cancelled.is_set()

    @property
    def usage(self) -> Usage:
        return Usage(self.num_prompt_tokens, self.num_completion_tokens, self.num_cached)

    # -- transitions (called from the scheduler thread, except cancel) ------------------------------

    def cancel(self) -> None:
        """Thread-safe: the scheduler frees the sequence at its next step."""
        self._cancelled.set()

    def emit(self, event: Event) -> None:
        self._emit(event)

    def finish(self, reason: FinishReason) -> None:
        self.status = SequenceStatus.FINISHED
        matched = self.text.matched_stop if self.text is not None else None
        self._emit(Finished(reason, self.usage, matched))

    def fail(self, message: str) -> None:
        self.status = SequenceStatus.FINISHED
        self._emit(Failed(message))
