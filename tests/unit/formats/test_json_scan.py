from __future__ import annotations

import pytest

from server.formats.json_scan import MAX_DEPTH, Scan, ScanStatus, scan_value


@pytest.mark.parametrize(
    ("text", "end"),
    [
        ('{"a": [1, 2.5e3, "x\\"}"]}', 25),
        ("[]", 2),
        ('"s"', 3),
        ("true ", 4),
        ("12,", 2),
        ('{"a":{}} tail', 8),
    ],
)
def test_scan_finds_where_a_complete_value_ends(text: str, end: int) -> None:
    assert scan_value(text, 0) == Scan(ScanStatus.COMPLETE, end)


@pytest.mark.parametrize(
    "text", ['{"a": [1, 2.', '{"a', '"abc\\u00', "tr", "-", '{"a": 1', "12", "[1, ", '{"a":']
)
def test_scan_says_incomplete_for_every_proper_prefix(text: str) -> None:
    assert scan_value(text, 0).status is ScanStatus.INCOMPLETE


@pytest.mark.parametrize(
    ("text", "bad_at"),
    [('{"a" 1}', 5), ("{a: 1}", 1), ("[1,]", 3), ("tx", 0), ('{"a": 01}', 7), ("[2.x]", 2)],
)
def test_scan_points_at_the_first_impossible_character(text: str, bad_at: int) -> None:
    assert scan_value(text, 0) == Scan(ScanStatus.INVALID, bad_at)


def test_scan_refuses_nesting_deeper_than_the_limit() -> None:
    assert scan_value("[" * (MAX_DEPTH + 1), 0).status is ScanStatus.INVALID
