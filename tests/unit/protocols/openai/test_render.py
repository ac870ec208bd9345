"""prompt_segments: a prompt's tokens as text runs and special tokens, as the render routes show them."""

from __future__ import annotations

from server.protocols.openai.render import prompt_segments
from server.protocols.openai.wire import RenderSegment

# A toy vocabulary: 0 and 1 are control tokens (empty as plain text), the rest are byte pieces.
PLAIN = {0: b"", 1: b"", 2: b"Hi", 3: b" there", 4: b"\xc3", 5: b"\xa9", 6: b"\n"}
SPECIAL = {**PLAIN, 0: b"<bos>", 1: b"<turn>"}


def _segments(tokens: list[int]) -> list[tuple[str, bool]]:
    found = prompt_segments(tokens, plain=PLAIN.__getitem__, special=SPECIAL.__getitem__)
    return [(segment.text, segment.special) for segment in found]


def test_prompt_segments_merge_text_and_keep_specials_apart() -> None:
    assert _segments([0, 1, 2, 3, 6, 1, 2]) == [
        ("<bos>", True),
        ("<turn>", True),
        ("Hi there\n", False),
        ("<turn>", True),
        ("Hi", False),
    ]


def test_prompt_segments_decode_a_character_split_across_tokens_whole() -> None:
    assert _segments([2, 4, 5]) == [("Hié", False)]


def test_prompt_segments_of_no_tokens_is_empty() -> None:
    assert prompt_segments([], plain=PLAIN.__getitem__, special=SPECIAL.__getitem__) == []


def test_prompt_segments_skip_tokens_that_render_as_nothing_at_all() -> None:
    silent = {7: b""}
    found = prompt_segments([7, 2], plain=lambda t: silent.get(t, PLAIN.get(t, b"")), special=lambda t: b"")
    assert found == [RenderSegment(text="Hi", special=False)]
