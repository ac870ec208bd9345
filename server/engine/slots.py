"""KV slots of one context: which seq_id a sequence decodes into, and what each idle slot still holds.

A finished sequence leaves its tokens in its slot's cache. The next sequence takes the free slot
whose cached tokens share the longest prefix with its prompt (the next turn of a chat, usually) and
only decodes the rest. Pure bookkeeping: the caller trims the KV cache itself.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field


def common_prefix_length(left: Sequence[int], right: Sequence[int]) -> int:
    length = 0
    for a, b in zip(left, right, strict=False):
        if a != b:
            break
        length += 1
    return length


@dataclass
class Slot:
    seq_id: int
    # Tokens whose keys and values sit in this slot's cache, position i holding tokens[i].
    tokens: list[int] = field(default_factory=list)
    last_used: int = 0
    is_busy: bool = False


class SlotTable:
    def __init__(self, num_slots: int, *, min_prefix_reuse: int = 1) -> None:
        self.slots = [Slot(seq_id) for seq_id in range(num_slots)]
        self.min_prefix_reuse = min_prefix_reuse
        self._clock = itertools.count(1)

    @property
    def num_free(self) -> int:
        return sum(not slot.is_busy for slot in self.slots)

    def acquire(self, prompt: Sequence[int]) -> tuple[Slot, int]:
        """The free slot with the longest reusable prefix (least recently used among equals), and how
        many prompt tokens it can skip; at least one prompt token is always left to decode."""
        free = [slot for slot in self.slots if not slot.is_busy]
        if not free:
            raise LookupError("no free slot")

        def reusable(slot: Slot) -> int:
            length = min(common_prefix_length(slot.tokens, prompt), len(prompt) - 1)
            return length if length >= self.min_prefix_reuse else 0

        best = max(free, key=lambda slot: (reusable(slot), -slot.last_used))
        best.is_busy = True
        best.last_used = next(self._clock)
        return best, reusable(best)

    def release(self, slot: Slot, cached_tokens: Sequence[int]) -> None:
        """Free the slot; `cached_tokens` is what its KV cache still holds (empty after a clear)."""
        slot.tokens = list(cached_tokens)
        slot.is_busy = False
        slot.last_used = next(self._clock)
