"""pieces(): long text cut for the tokenizer at points no token spans, so its time stays linear."""

from __future__ import annotations

from server.engine.text_chunks import MAX_PIECE_CHARS, PIECE_CHARS, pieces


def test_short_text_is_one_piece() -> None:
    assert list(pieces("hello\nworld")) == ["hello\nworld"]


def test_pieces_join_back_to_the_text_and_end_at_clean_cuts() -> None:
    text = "".join(f"line {n}\n    indented {n}\n" for n in range(2000))
    found = list(pieces(text))
    assert "".join(found) == text and len(found) > 1
    for piece in found[:-1]:
        assert PIECE_CHARS <= len(piece) <= MAX_PIECE_CHARS
        # Each cut is after a newline, before a line that starts with a non-space character.
        assert piece.endswith("\n")
    for piece in found[1:]:
        assert not piece[0].isspace()


def test_lines_that_all_start_with_whitespace_are_cut_at_a_newline_past_the_limit() -> None:
    text = " \n" * 40_000
    found = list(pieces(text))
    assert "".join(found) == text
    assert all(len(piece) <= MAX_PIECE_CHARS + 2 for piece in found)


def test_one_long_line_is_not_cut() -> None:
    text = "x" * (MAX_PIECE_CHARS * 3)
    assert list(pieces(text)) == [text]
