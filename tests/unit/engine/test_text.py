"""Detokenizer, StopMatcher and TextStream with a fake byte vocabulary (no llama.cpp)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pytest

from server.engine.text import Detokenizer, StopMatcher, TextStream

EMOJI = "😀".encode()  # f0 9f 98 80
NIHON = "日本".encode()  # e6 97 a5 e6 9c ac


class FakeVocab:
    """Token id -> bytes, built from the pieces a test wants the text split into."""

    def __init__(self) -> None:
        self._pieces: list[bytes] = []

    def __call__(self, token: int) -> bytes:
        return self._pieces[token]

    def ids(self, pieces: Iterable[bytes | str]) -> list[int]:
        ids = []
        for piece in pieces:
            self._pieces.append(piece.encode() if isinstance(piece, str) else piece)
            ids.append(len(self._pieces) - 1)
        return ids


def _detokenize(pieces: Sequence[bytes | str]) -> tuple[list[str], Detokenizer]:
    vocab = FakeVocab()
    detokenizer = Detokenizer(vocab)
    return [detokenizer.feed(token) for token in vocab.ids(pieces)], detokenizer


def _push_all(matcher: StopMatcher, chunks: Iterable[str]) -> list[str]:
    return [matcher.push(chunk) for chunk in chunks]


def _stream(
    pieces: Sequence[bytes | str], stops: Sequence[str] = (), *, strip_leading: bool = False, **options: bool
) -> tuple[list[str], TextStream]:
    vocab = FakeVocab()
    stream = TextStream(vocab, stops, strip_leading=strip_leading, **options)
    return [stream.feed(token) for token in vocab.ids(pieces)], stream


# -- Detokenizer --------------------------------------------------------------------------------------


def test_detokenizer_ascii_tokens_pass_through() -> None:
    outputs, _ = _detokenize(["Hel", "lo"])
    assert outputs == ["Hel", "lo"]


def test_detokenizer_two_byte_character_split_is_released_whole() -> None:
    outputs, _ = _detokenize([b"caf\xc3", b"\xa9!"])
    assert outputs == ["caf", "é!"]


def test_detokenizer_cjk_split_mid_character_never_returns_partial() -> None:
    outputs, _ = _detokenize([NIHON[:1], NIHON[1:4], NIHON[4:]])
    assert outputs == ["", "日", "本"]


def test_detokenizer_emoji_over_four_single_byte_tokens() -> None:
    outputs, _ = _detokenize([bytes([b]) for b in EMOJI])
    assert outputs == ["", "", "", "😀"]


def test_detokenizer_outputs_contain_no_replacement_character_for_split_text() -> None:
    text = "naïve 日本 😀 ok"
    data = text.encode()
    outputs, _ = _detokenize([data[i : i + 1] for i in range(len(data))])
    assert "".join(outputs) == text
    assert all("\ufffd" not in output for output in outputs)


def test_detokenizer_flush_turns_incomplete_sequence_into_replacement_character() -> None:
    outputs, detokenizer = _detokenize([b"ok", EMOJI[:2]])
    assert outputs == ["ok", ""]
    assert detokenizer.flush() == "\ufffd"


def test_detokenizer_flush_after_complete_text_is_empty() -> None:
    _, detokenizer = _detokenize(["done", "é"])
    assert detokenizer.flush() == ""


def test_detokenizer_invalid_byte_becomes_replacement_character() -> None:
    outputs, _ = _detokenize([b"a\xffb"])
    assert outputs == ["a\ufffdb"]


# -- StopMatcher --------------------------------------------------------------------------------------


def test_stop_matcher_without_stops_releases_everything() -> None:
    matcher = StopMatcher([])
    assert _push_all(matcher, ["a", "b"]) == ["a", "b"]
    assert matcher.flush() == ""


def test_stop_matcher_stop_inside_one_chunk_returns_text_before_it() -> None:
    matcher = StopMatcher(["STOP"])
    assert matcher.push("hello STOP world") == "hello "
    assert matcher.matched == "STOP"


def test_stop_matcher_stop_split_across_chunks() -> None:
    matcher = StopMatcher(["\nUser:"])
    assert _push_all(matcher, ["Fine.", "\n", "Us", "er:", " next"]) == ["Fine.", "", "", "", ""]
    assert matcher.is_stopped
    assert matcher.matched == "\nUser:"


def test_stop_matcher_holds_back_possible_stop_prefix() -> None:
    matcher = StopMatcher(["END"])
    assert matcher.push("the E") == "the "
    assert matcher.held_text == "E"


def test_stop_matcher_releases_held_prefix_when_it_is_not_a_stop() -> None:
    matcher = StopMatcher(["END"])
    assert _push_all(matcher, ["the EN", "X more"]) == ["the ", "ENX more"]
    assert not matcher.is_stopped


def test_stop_matcher_overlapping_stops_earliest_position_wins() -> None:
    matcher = StopMatcher(["bcd", "abc"])
    assert matcher.push("xabcd") == "x"
    assert matcher.matched == "abc"


def test_stop_matcher_shorter_stop_completing_inside_longer_prefix_wins() -> None:
    matcher = StopMatcher(["bcd", "abcx"])
    assert _push_all(matcher, ["a", "b", "c", "d"]) == ["", "", "", "a"]
    assert matcher.matched == "bcd"


def test_stop_matcher_longer_stop_still_matches_when_completed() -> None:
    matcher = StopMatcher(["bcd", "abcx"])
    assert _push_all(matcher, ["ab", "cx"]) == ["", ""]
    assert matcher.matched == "abcx"


def test_stop_matcher_returns_nothing_after_match() -> None:
    matcher = StopMatcher(["."])
    assert matcher.push("One. Two") == "One"
    assert matcher.push(" more text") == ""
    assert matcher.flush() == ""


def test_stop_matcher_flush_returns_held_text() -> None:
    matcher = StopMatcher(["\nUser:"])
    assert matcher.push("answer\nUs") == "answer"
    assert matcher.flush() == "\nUs"
    assert matcher.held_text == ""


def test_stop_matcher_multibyte_stop_string() -> None:
    matcher = StopMatcher(["日本"])
    assert _push_all(matcher, ["東京と日", "本の"]) == ["東京と", ""]
    assert matcher.matched == "日本"


def test_stop_matcher_ignores_empty_stop_strings() -> None:
    matcher = StopMatcher(["", "Z"])
    assert matcher.push("abc") == "abc"
    assert not matcher.is_stopped


def test_stop_matcher_repeated_prefix_holds_only_matching_suffix() -> None:
    matcher = StopMatcher(["aab"])
    assert matcher.push("xaaa") == "xa"
    assert matcher.held_text == "aa"
    assert matcher.push("b") == ""
    assert matcher.matched == "aab"


@pytest.mark.parametrize("size", [1, 2, 3, 5, 7])
def test_stop_matcher_output_is_independent_of_chunking(size: int) -> None:
    text = "alpha ab abx bcd gamma"
    matcher = StopMatcher(["bcd", "abcx", "gam"])
    released = "".join(_push_all(matcher, [text[i : i + size] for i in range(0, len(text), size)]))
    assert released == "alpha ab abx "
    assert matcher.matched == "bcd"


# -- TextStream ---------------------------------------------------------------------------------------


def test_text_stream_strip_leading_drops_leading_whitespace_tokens() -> None:
    outputs, _ = _stream([" ", "\n", " Hello", " world"], strip_leading=True)
    assert outputs == ["", "", "Hello", " world"]


def test_text_stream_strip_leading_keeps_inner_whitespace_after_first_text() -> None:
    outputs, _ = _stream([" Hi", " ", "there"], strip_leading=True)
    assert "".join(outputs) == "Hi there"


def test_text_stream_without_strip_leading_keeps_leading_space() -> None:
    outputs, _ = _stream([" Hello"], strip_leading=False)
    assert outputs == [" Hello"]


def test_text_stream_strip_leading_waits_for_whole_character() -> None:
    outputs, _ = _stream([b" \xc3", b"\xa9t\xc3\xa9"], strip_leading=True)
    assert outputs == ["", "été"]


def test_text_stream_finish_after_length_end_returns_held_stop_prefix() -> None:
    outputs, stream = _stream(["Sure", "\nUs"], ["\nUser:"])
    assert outputs == ["Sure", ""]
    assert stream.finish() == "\nUs"


def test_text_stream_finish_returns_replacement_for_truncated_character() -> None:
    outputs, stream = _stream(["ok ", EMOJI[:3]])
    assert outputs == ["ok ", ""]
    assert stream.finish() == "\ufffd"


def test_text_stream_finish_after_stop_returns_nothing() -> None:
    outputs, stream = _stream(["Hi", "\nUser:", " more"], ["\nUser:"])
    assert stream.is_stopped
    assert outputs == ["Hi", "", ""]
    assert stream.finish() == ""


def test_text_stream_outputs_plus_finish_equal_text_before_stop() -> None:
    text = "Réponse: 日本 😀 fin.\nUser: ignored"
    data = text.encode()
    outputs, stream = _stream([data[i : i + 3] for i in range(0, len(data), 3)], ["\nUser:", "\nAssistant:"])
    assert "".join(outputs) + stream.finish() == "Réponse: 日本 😀 fin."


def test_text_stream_outputs_plus_finish_equal_full_text_without_stop() -> None:
    text = "no stop here\nUse it"
    outputs, stream = _stream([text[i : i + 2] for i in range(0, len(text), 2)], ["\nUser:"])
    assert not stream.is_stopped
    assert "".join(outputs) + stream.finish() == text


def test_text_stream_strip_trailing_drops_space_before_stop() -> None:
    outputs, stream = _stream(
        [" Hello", " ", "\nUser:"], ["\nUser:"], strip_leading=True, strip_trailing=True
    )
    assert "".join(outputs) + stream.finish() == "Hello"


def test_text_stream_strip_trailing_releases_held_space_when_text_follows() -> None:
    outputs, _ = _stream(["a", " ", "b"], strip_leading=False, strip_trailing=True)
    assert outputs == ["a", "", " b"]


def test_text_stream_strip_trailing_drops_trailing_space_at_finish() -> None:
    outputs, stream = _stream(["done", "  \n"], strip_leading=False, strip_trailing=True)
    assert "".join(outputs) + stream.finish() == "done"


def test_text_stream_reply_opening_with_turn_marker_stops_before_strip() -> None:
    outputs, stream = _stream(
        ["\n", "User", ":", " hi"], ["\nUser:"], strip_leading=True, strip_trailing=True
    )
    assert stream.is_stopped
    assert "".join(outputs) + stream.finish() == ""
