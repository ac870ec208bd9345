"""A reading position in model output that may still be growing, and the call sink families fill.

Family parsers read with a Cursor. Each read either succeeds, raises Incomplete (the text ends
where more output could still make it succeed) or raises Malformed (no continuation can). Because
the verdict depends only on the text read so far, parsing a prefix never contradicts parsing the
whole: that is what lets the stream parser re-parse and diff.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from server.formats.json_scan import ScanStatus, scan_value, skip_whitespace


class Incomplete(Exception):
    """The text ends before this piece is finished."""


class Malformed(Exception):
    """The text cannot be this piece, whatever follows; `pos` is where it went wrong."""

    def __init__(self, pos: int, why: str = "") -> None:
        super().__init__(why or f"unexpected text at {pos}")
        self.pos = pos


class Cursor:
    def __init__(self, text: str, pos: int = 0) -> None:
        self.text = text
        self.pos = pos

    @property
    def rest(self) -> str:
        return self.text[self.pos :]

    @property
    def is_at_end(self) -> bool:
        return self.pos >= len(self.text)

    def skip_whitespace(self) -> None:
        self.pos = skip_whitespace(self.text, self.pos)

    def expect(self, literal: str) -> None:
        if self.text.startswith(literal, self.pos):
            self.pos += len(literal)
            return
        if literal.startswith(self.text[self.pos :]):
            raise Incomplete
        raise Malformed(self.pos, f"expected {literal!r}")

    def accept(self, literal: str) -> bool:
        """Consume `literal` if it is next. Raises Incomplete while the text ends inside a prefix of it
        (an empty rest included): only the caller knows whether the end of output is acceptable there."""
        if self.text.startswith(literal, self.pos):
            self.pos += len(literal)
            return True
        if literal.startswith(self.text[self.pos :]):
            raise Incomplete
        return False

    def until(self, literal: str) -> str:
        """The text up to `literal`, consuming both."""
        index = self.text.find(literal, self.pos)
        if index < 0:
            raise Incomplete
        found = self.text[self.pos : index]
        self.pos = index + len(literal)
        return found

    def match(self, pattern: re.Pattern[str]) -> re.Match[str]:
        """A regex that must match here and be followed by more text (so it cannot grow further)."""
        found = pattern.match(self.text, self.pos)
        if found is None or found.end() == len(self.text):
            if pattern.fullmatch(self.text, self.pos) is not None or self.pos == len(self.text):
                raise Incomplete
            raise Malformed(self.pos, f"expected {pattern.pattern}")
        self.pos = found.end()
        return found

    def json_value(self) -> str:
        """The raw text of one complete JSON value."""
        self.skip_whitespace()
        scan = scan_value(self.text, self.pos)
        if scan.status is ScanStatus.INCOMPLETE:
            raise Incomplete
        if scan.status is ScanStatus.INVALID:
            raise Malformed(scan.end, "invalid JSON")
        raw = self.text[self.pos : scan.end]
        self.pos = scan.end
        return raw

    def json_string(self) -> str:
        self.skip_whitespace()
        if self.is_at_end:
            raise Incomplete
        if self.text[self.pos] != '"':
            raise Malformed(self.pos, "expected a JSON string")
        return json.loads(self.json_value())


@dataclass
class ParsedCall:
    name: str
    arguments: str
    is_complete: bool = True


@dataclass
class CallSink:
    """Calls as a family parser finds them. A call becomes visible (and streams) once its name is
    known and its arguments have begun; before that a failed attempt is plain text."""

    calls: list[ParsedCall] = field(default_factory=list)
    pending_name: str | None = None
    # Where the current call attempt began: on failure, text from here on is content.
    attempt_start: int = 0

    _calls_before_attempt: int = 0

    def start_attempt(self, pos: int) -> None:
        self.pending_name = None
        self.attempt_start = pos
        self._calls_before_attempt = len(self.calls)

    @property
    def attempt_has_call(self) -> bool:
        return len(self.calls) > self._calls_before_attempt

    def name(self, name: str) -> None:
        self.pending_name = name

    @property
    def has_open_call(self) -> bool:
        return bool(self.calls) and not self.calls[-1].is_complete

    def arguments(self, arguments: str, *, is_complete: bool) -> None:
        if self.has_open_call:
            self.calls[-1].arguments = arguments
            self.calls[-1].is_complete = is_complete
            return
        if self.pending_name is None:
            raise RuntimeError("arguments before a name")  # a family parser bug, not model output
        self.calls.append(ParsedCall(self.pending_name, arguments, is_complete))
        self.pending_name = None

    def stream_json_arguments(self, cursor: Cursor) -> None:
        """Read a JSON arguments value, publishing what has arrived so far even if it is unfinished."""
        cursor.skip_whitespace()
        start = cursor.pos
        if start >= len(cursor.text):
            raise Incomplete
        if cursor.text[start] == '"':  # arguments written as a JSON string: usable only once whole
            self.arguments(_as_arguments(json.loads(cursor.json_value())), is_complete=True)
            return
        scan = scan_value(cursor.text, start)
        if scan.status is ScanStatus.COMPLETE:
            cursor.pos = scan.end
            self.arguments(cursor.text[start : scan.end], is_complete=True)
            return
        if scan.status is ScanStatus.INCOMPLETE:
            if cursor.text[start] in "{[":
                self.arguments(cursor.text[start:].rstrip(), is_complete=False)
            raise Incomplete
        if scan.end > start and cursor.text[start] in "{[":
            self.arguments(cursor.text[start : scan.end].rstrip(), is_complete=False)
        raise Malformed(scan.end, "invalid JSON in arguments")


def _as_arguments(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


NAME_KEYS = ("name",)
ARGUMENT_KEYS = ("arguments", "parameters")


def json_call_object(
    cursor: Cursor,
    sink: CallSink,
    *,
    name_keys: tuple[str, ...] = NAME_KEYS,
    argument_keys: tuple[str, ...] = ARGUMENT_KEYS,
) -> None:
    """One call written as a JSON object: {"name": ..., "arguments": {...}} in any key order, other keys
    ignored, an OpenAI-style {"function": {...}} wrapper unwrapped."""
    cursor.skip_whitespace()
    cursor.expect("{")
    name: str | None = None
    has_arguments = False
    held_arguments: str | None = None
    is_first = True
    while True:
        cursor.skip_whitespace()
        if is_first and cursor.accept("}"):
            break
        is_first = False
        key = cursor.json_string()
        cursor.skip_whitespace()
        cursor.expect(":")
        cursor.skip_whitespace()
        if key in name_keys and name is None:
            name = cursor.json_string()
            sink.name(name)
            if held_arguments is not None:
                sink.arguments(held_arguments, is_complete=True)
        elif key in argument_keys and not has_arguments:
            has_arguments = True
            if name is not None:
                sink.stream_json_arguments(cursor)
            else:
                raw = cursor.json_value()
                held_arguments = _as_arguments(json.loads(raw)) if raw.startswith('"') else raw
        elif key == "function" and name is None and cursor.rest.startswith("{"):
            json_call_object(cursor, sink, name_keys=name_keys, argument_keys=argument_keys)
            name = sink.calls[-1].name
            has_arguments = True
        else:
            cursor.json_value()
        cursor.skip_whitespace()
        if cursor.accept(","):
            continue
        cursor.expect("}")
        break
    if name is None:
        raise Malformed(cursor.pos, "a tool call without a name")
    if sink.pending_name is not None:  # no arguments given: the call takes none
        sink.arguments("{}", is_complete=True)
