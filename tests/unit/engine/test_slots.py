"""common_prefix_length and SlotTable: which KV slot a new prompt gets and how much of it is reused."""

from __future__ import annotations

import pytest

from server.engine.slots import SlotTable, common_prefix_length

# -- common_prefix_length -----------------------------------------------------------------------------


def test_common_prefix_length_counts_leading_matching_tokens() -> None:
    assert common_prefix_length([1, 2, 3, 9], [1, 2, 3, 4, 5]) == 3


def test_common_prefix_length_is_zero_when_first_tokens_differ() -> None:
    assert common_prefix_length([7, 2, 3], [1, 2, 3]) == 0


def test_common_prefix_length_stops_at_the_shorter_sequence() -> None:
    assert common_prefix_length([1, 2], [1, 2, 3, 4]) == 2
    assert common_prefix_length((1, 2, 3, 4), (1, 2)) == 2


def test_common_prefix_length_of_an_empty_sequence_is_zero() -> None:
    assert common_prefix_length([], [1, 2]) == 0


def test_common_prefix_length_ignores_matches_after_the_first_difference() -> None:
    assert common_prefix_length([1, 9, 3, 4], [1, 2, 3, 4]) == 1


# -- SlotTable ----------------------------------------------------------------------------------------


def _table_with_cache(caches: list[list[int]], *, min_prefix_reuse: int = 1) -> SlotTable:
    """A table whose slot i holds caches[i], all idle, released in order (slot 0 least recently used)."""
    table = SlotTable(len(caches), min_prefix_reuse=min_prefix_reuse)
    slots = [table.acquire([0])[0] for _ in caches]
    for slot, cache in zip(slots, caches, strict=True):
        table.release(slot, cache)
    return table


def test_slot_table_slots_have_distinct_seq_ids_from_zero() -> None:
    table = SlotTable(3)
    assert [slot.seq_id for slot in table.slots] == [0, 1, 2]


def test_slot_table_acquire_picks_free_slot_with_longest_common_prefix() -> None:
    table = _table_with_cache([[1, 2, 9], [1, 2, 3, 4], [1, 9]])
    slot, num_reusable = table.acquire([1, 2, 3, 4, 5, 6])
    assert (slot.seq_id, num_reusable) == (1, 4)


def test_slot_table_acquire_breaks_prefix_ties_by_least_recently_used() -> None:
    table = _table_with_cache([[5, 6], [1, 2, 3], [1, 2, 3]])
    first, _ = table.acquire([1, 2, 3, 4])
    table.release(first, [1, 2, 3])
    second, num_reusable = table.acquire([1, 2, 3, 4])
    assert (first.seq_id, second.seq_id, num_reusable) == (1, 2, 3)


def test_slot_table_acquire_without_any_shared_prefix_takes_least_recently_used_slot() -> None:
    table = SlotTable(3)
    acquired = [table.acquire([1])[0] for _ in range(3)]
    for slot in reversed(acquired):
        table.release(slot, [])
    # Released last to first: slot 2 has been idle longest.
    assert table.acquire([1])[0].seq_id == 2
    assert table.acquire([1])[0].seq_id == 1


def test_slot_table_acquire_marks_the_slot_busy() -> None:
    table = SlotTable(2)
    slot, _ = table.acquire([1, 2])
    assert slot.is_busy
    assert table.num_free == 1


def test_slot_table_acquire_leaves_one_token_when_whole_prompt_is_cached() -> None:
    table = _table_with_cache([[1, 2, 3, 4]])
    _, num_reusable = table.acquire([1, 2, 3, 4])
    assert num_reusable == 3


def test_slot_table_acquire_leaves_one_token_when_cache_extends_past_prompt() -> None:
    table = _table_with_cache([[1, 2, 3, 4, 5, 6]])
    _, num_reusable = table.acquire([1, 2, 3])
    assert num_reusable == 2


def test_slot_table_acquire_reuses_nothing_for_a_single_token_prompt() -> None:
    table = _table_with_cache([[1, 2, 3]])
    _, num_reusable = table.acquire([1])
    assert num_reusable == 0


def test_slot_table_acquire_reuses_nothing_below_min_prefix_reuse() -> None:
    table = _table_with_cache([[1, 2, 3, 9]], min_prefix_reuse=4)
    _, num_reusable = table.acquire([1, 2, 3, 4, 5])
    assert num_reusable == 0


def test_slot_table_acquire_reuses_a_prefix_exactly_at_min_prefix_reuse() -> None:
    table = _table_with_cache([[1, 2, 3, 4, 9]], min_prefix_reuse=4)
    _, num_reusable = table.acquire([1, 2, 3, 4, 5])
    assert num_reusable == 4


def test_slot_table_acquire_applies_min_prefix_reuse_after_leaving_one_token() -> None:
    # 4 tokens are shared, but only 3 may be skipped: below a threshold of 4, nothing is reused.
    table = _table_with_cache([[1, 2, 3, 4]], min_prefix_reuse=4)
    _, num_reusable = table.acquire([1, 2, 3, 4])
    assert num_reusable == 0


def test_slot_table_acquire_skips_busy_slot_with_longer_prefix() -> None:
    table = _table_with_cache([[1, 2, 3, 4], [1, 2]])
    busy, _ = table.acquire([1, 2, 3, 4, 5])
    slot, num_reusable = table.acquire([1, 2, 3, 4, 5])
    assert (busy.seq_id, slot.seq_id, num_reusable) == (0, 1, 2)


def test_slot_table_acquire_raises_lookup_error_when_every_slot_is_busy() -> None:
    table = SlotTable(2)
    table.acquire([1])
    table.acquire([1])
    with pytest.raises(LookupError):
        table.acquire([1])


def test_slot_table_release_records_cached_tokens_and_frees_the_slot() -> None:
    table = SlotTable(1)
    slot, _ = table.acquire([1, 2])
    table.release(slot, (1, 2, 3))
    assert (slot.tokens, slot.is_busy) == ([1, 2, 3], False)


def test_slot_table_release_with_no_tokens_clears_the_cache_record() -> None:
    table = _table_with_cache([[1, 2, 3]])
    slot, _ = table.acquire([1, 2, 3, 4])
    table.release(slot, ())
    assert slot.tokens == []


def test_slot_table_release_copies_the_cached_tokens() -> None:
    table = SlotTable(1)
    slot, _ = table.acquire([1])
    cached = [1, 2]
    table.release(slot, cached)
    cached.append(3)
    assert slot.tokens == [1, 2]


def test_slot_table_num_free_counts_idle_slots() -> None:
    table = SlotTable(3)
    assert table.num_free == 3
    first, _ = table.acquire([1])
    table.acquire([1])
    assert table.num_free == 1
    table.release(first, [])
    assert table.num_free == 2
