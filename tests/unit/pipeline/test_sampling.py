"""Stop sequences as a request gives them: one or a list, within the limits."""

from __future__ import annotations

import pytest

from server.pipeline.sampling import parse_stops
from server.pipeline.wire import MAX_STOP_CHARS, MAX_STOPS
from server.service.errors import APIError

# -- parse_stops -------------------------------------------------------------------------------------------


def test_parse_stops_none_is_empty() -> None:
    assert parse_stops(None) == ()


def test_parse_stops_single_string_becomes_tuple() -> None:
    assert parse_stops("\n\n") == ("\n\n",)


def test_parse_stops_list_keeps_order() -> None:
    assert parse_stops(["b", "a", "c"]) == ("b", "a", "c")


def test_parse_stops_max_count_is_accepted() -> None:
    assert len(parse_stops([str(i) for i in range(MAX_STOPS)])) == MAX_STOPS


def test_parse_stops_more_than_max_raises_400_on_stop() -> None:
    with pytest.raises(APIError) as caught:
        parse_stops(["a", "b", "c", "d", "e"])
    assert (caught.value.status, caught.value.param) == (400, "stop")
    assert "at most 4" in caught.value.message


def test_parse_stops_empty_string_raises_400_on_stop() -> None:
    with pytest.raises(APIError) as caught:
        parse_stops([""])
    assert (caught.value.status, caught.value.param) == (400, "stop")


def test_parse_stops_too_long_sequence_raises_400() -> None:
    with pytest.raises(APIError) as caught:
        parse_stops("x" * (MAX_STOP_CHARS + 1))
    assert caught.value.param == "stop"
