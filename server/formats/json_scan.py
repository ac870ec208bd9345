"""Where a JSON value ends in text that may still be arriving.

A model writes tool-call arguments token by token. To stream them we need to know, for any prefix,
whether the value is complete (and where it ends), still open, or already impossible to complete.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import Enum, auto

MAX_DEPTH = 64

_CHARS = r'(?:[^"\\\x00-\x1f]|\\(?:["\\/bfnrt]|u[0-9a-fA-F]{4}))*'
_STRING = re.compile(rf'"{_CHARS}"')
_STRING_PREFIX = re.compile(rf'"{_CHARS}(?:\\(?:u[0-9a-fA-F]{{0,3}})?)?\Z')
_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?")
_NUMBER_PREFIX = re.compile(r"-?(?:(?:0|[1-9]\d*)(?:\.\d*)?(?:[eE][+-]?\d*)?)?\Z")
_LITERALS = ("true", "false", "null")
_WHITESPACE = " \t\r\n"


class ScanStatus(Enum):
    COMPLETE = auto()
    INCOMPLETE = auto()  # a prefix of some valid value: more text may complete it
    INVALID = auto()  # no continuation can make this valid


@dataclass(frozen=True)
class Scan:
    status: ScanStatus
    # COMPLETE: index just past the value; INVALID: index of the first offending character;
    # INCOMPLETE: len(text).
    end: int


def skip_whitespace(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _WHITESPACE:
        pos += 1
    return pos


def _scan_scalar(text: str, pos: int) -> Scan:
    char = text[pos]
    if char == '"':
        match = _STRING.match(text, pos)
        if match:
            return Scan(ScanStatus.COMPLETE, match.end())
        if _STRING_PREFIX.match(text, pos):
            return Scan(ScanStatus.INCOMPLETE, len(text))
        return Scan(ScanStatus.INVALID, _first_bad_string_char(text, pos))
    if char == "-" or char.isdigit():
        if _NUMBER_PREFIX.match(text, pos):
            return Scan(ScanStatus.INCOMPLETE, len(text))  # the text ends in it: it may go on
        match = _NUMBER.match(text, pos)
        return Scan(ScanStatus.COMPLETE, match.end()) if match else Scan(ScanStatus.INVALID, pos + 1)
    for literal in _LITERALS:
        if text.startswith(literal, pos):
            return Scan(ScanStatus.COMPLETE, pos + len(literal))
        rest = text[pos:]
        if literal.startswith(rest):
            return Scan(ScanStatus.INCOMPLETE, len(text))
    return Scan(ScanStatus.INVALID, pos)


def _first_bad_string_char(text: str, pos: int) -> int:
    # Longest valid string prefix; the next character is the offender.
    for end in range(len(text), pos, -1):
        if _STRING_PREFIX.match(text[:end], pos):
            return end
    return pos


def scan_value(text: str, pos: int) -> Scan:
    """Scan one JSON value starting at `pos` (leading whitespace allowed)."""
    stack: list[str] = []  # "{" or "["
    # What the scanner expects next inside the innermost container.
    expect = "value"
    pos = skip_whitespace(text, pos)
    while True:
        pos = skip_whitespace(text, pos)
        if pos >= len(text):
            return Scan(ScanStatus.INCOMPLETE, len(text))
        char = text[pos]
        if expect in ("value", "value_or_close"):
            if expect == "value_or_close" and char == "]":
                stack.pop()
                pos += 1
                if not stack:
                    return Scan(ScanStatus.COMPLETE, pos)
                expect = "comma_or_close"
                continue
            if char in "{[":
                if len(stack) >= MAX_DEPTH:
                    return Scan(ScanStatus.INVALID, pos)
                stack.append(char)
                pos += 1
                expect = "key_or_close" if char == "{" else "value_or_close"
                continue
            scalar = _scan_scalar(text, pos)
            if scalar.status is not ScanStatus.COMPLETE:
                return scalar
            pos = scalar.end
            if not stack:
                return Scan(ScanStatus.COMPLETE, pos)
            expect = "comma_or_close"
        elif expect in ("key", "key_or_close"):
            if expect == "key_or_close" and char == "}":
                stack.pop()
                pos += 1
                if not stack:
                    return Scan(ScanStatus.COMPLETE, pos)
                expect = "comma_or_close"
                continue
            if char != '"':
                return Scan(ScanStatus.INVALID, pos)
            key = _scan_scalar(text, pos)
            if key.status is not ScanStatus.COMPLETE:
                return key
            pos = key.end
            expect = "colon"
        elif expect == "colon":
            if char != ":":
                return Scan(ScanStatus.INVALID, pos)
            pos += 1
            expect = "value"
        else:  # comma_or_close
            closer = "}" if stack[-1] == "{" else "]"
            if char == ",":
                pos += 1
                expect = "key" if stack[-1] == "{" else "value"
            elif char == closer:
                stack.pop()
                pos += 1
                if not stack:
                    return Scan(ScanStatus.COMPLETE, pos)
            else:
                return Scan(ScanStatus.INVALID, pos)
