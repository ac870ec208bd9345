"""pieces(): long text cut for the tokenizer at points no token spans, so its time stays linear."""

from __future__ import annotations

from server.engine.text_chunks import MAX_PIECE_CHARS, PIECE_CHARS, RunCuts, pieces


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


# -- cuts at the end of runs the vocabulary always splits out ------------------------------------------

# As Gemma's vocabulary has them: newline runs of 1 to 31, space runs of 2 to 31, tabs.
GEMMA_LIKE = RunCuts.from_vocabulary(
    ["\n" * n for n in range(1, 32)] + [" " * n for n in range(2, 32)] + ["\t"],
    ["<start_of_turn>", "<end_of_turn>"],
)


def test_run_cuts_take_characters_whose_split_tokens_are_all_runs() -> None:
    assert set(GEMMA_LIKE.lengths) == {"\n", " ", "\t"}
    assert GEMMA_LIKE.lengths[" "][0] == 31 and GEMMA_LIKE.lengths[" "][-1] == 2


def test_run_cuts_drop_a_character_that_also_stands_in_other_tokens() -> None:
    runs = RunCuts.from_vocabulary(["\n", "\n\n", "a\n"], [])
    assert "\n" not in runs.lengths
    assert "\n" not in RunCuts.from_vocabulary(["\n"], ["<|im_start|>\n"]).lengths


def test_a_run_splits_cleanly_unless_a_remainder_is_left_over() -> None:
    assert GEMMA_LIKE.splits_cleanly("\n")
    assert GEMMA_LIKE.splits_cleanly(" " * 33)  # 31 + 2
    assert not GEMMA_LIKE.splits_cleanly(" ")  # one space is no token of its own
    assert not GEMMA_LIKE.splits_cleanly(" " * 32)  # 31 + a lone space, which joins what follows


def test_whitespace_lines_are_cut_at_run_ends_near_the_piece_size() -> None:
    text = " \n" * 40_000
    found = list(pieces(text, GEMMA_LIKE))
    assert "".join(found) == text
    assert all(len(piece) <= PIECE_CHARS + 2 for piece in found)
    assert all(piece.endswith("\n") for piece in found[:-1])


def test_one_huge_line_of_spaced_words_is_cut_after_its_space_runs() -> None:
    text = "word  " * 20_000
    found = list(pieces(text, GEMMA_LIKE))
    assert "".join(found) == text and len(found) > 100
    assert all(piece.endswith("  ") and len(piece) <= PIECE_CHARS + 6 for piece in found[:-1])


def test_a_run_with_a_remainder_is_not_a_cut() -> None:
    text = ("x" + " " * 32) * 200  # every space run leaves a lone space over
    assert list(pieces(text, GEMMA_LIKE)) == [text]
