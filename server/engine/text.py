"""Turning sampled tokens into client-safe text: whole UTF-8 characters only, stop strings never leaked."""

from __future__ import annotations

import codecs
from collections.abc import Callable, Sequence


class Detokenizer:
    """Incremental detokenizer: a token may end mid-character (byte-fallback vocabularies split
    emoji and CJK into several tokens), so bytes are buffered until they form whole characters."""

    def __init__(self, token_bytes: Callable[[int], bytes]) -> None:
        self._token_bytes = token_bytes
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def feed(self, token: int) -> str:
        return self._decoder.decode(self._token_bytes(token))

    def flush(self) -> str:
        # Bytes that never completed a character become U+FFFD rather than vanishing.
        return self._decoder.decode(b"", final=True)


class StopMatcher:
    """Finds the earliest stop string in streamed text, across any chunk boundary.

    Text that could still be the start of a stop string is held back; everything before it is released.
    """

    def __init__(self, stops: Sequence[str]) -> None:
        self._stops = [stop for stop in dict.fromkeys(stops) if stop]
        self._held = ""
        self.matched: str | None = None

    @property
    def is_stopped(self) -> bool:
        return self.matched is not None

    @property
    def held_text(self) -> str:
        return self._held

    def push(self, text: str) -> str:
        """Add text; return what is now safe to send. After a match, returns the text before it."""
        if self.is_stopped:
            return ""
        buffer = self._held + text
        match = self._earliest_match(buffer)
        if match is not None:
            position, stop = match
            self.matched = stop
            self._held = ""
            return buffer[:position]
        keep = self._longest_partial_suffix(buffer)
        self._held = buffer[len(buffer) - keep :]
        return buffer[: len(buffer) - keep]

    def flush(self) -> str:
        """At the end of generation the held text is ordinary output."""
        held, self._held = self._held, ""
        return held

    def _earliest_match(self, buffer: str) -> tuple[int, str] | None:
        best: tuple[int, str] | None = None
        for stop in self._stops:
            position = buffer.find(stop)
            if position >= 0 and (best is None or position < best[0]):
                best = (position, stop)
        return best

    def _longest_partial_suffix(self, buffer: str) -> int:
        longest = 0
        for stop in self._stops:
            for size in range(min(len(stop) - 1, len(buffer)), longest, -1):
                if buffer.endswith(stop[:size]):
                    longest = size
                    break
        return longest


class TextStream:
    """Tokens in, releasable text out: detokenizer, stop matcher, optional trimming of the answer.

    strip_leading drops the answer's leading whitespace; strip_trailing holds whitespace back until
    more text follows, so an answer that ends (at a stop, or at the last token) ends without it.
    """

    def __init__(
        self,
        token_bytes: Callable[[int], bytes],
        stops: Sequence[str],
        *,
        strip_leading: bool,
        strip_trailing: bool = False,
    ) -> None:
        self._detokenizer = Detokenizer(token_bytes)
        self._stops = StopMatcher(stops)
        self._is_stripping = strip_leading
        self._is_holding_space = strip_trailing
        self._held_space = ""

    @property
    def is_stopped(self) -> bool:
        return self._stops.is_stopped

    @property
    def matched_stop(self) -> str | None:
        return self._stops.matched

    def feed(self, token: int) -> str:
        # Stops are matched on the raw text: a reply opening with "\nUser:" must stop, not leak "User:".
        return self._hold_space(self._strip(self._stops.push(self._detokenizer.feed(token))))

    def finish(self) -> str:
        """Text still pending when generation ends without a stop string (length, end of turn)."""
        tail = self._stops.push(self._detokenizer.flush())
        if not self.is_stopped:
            tail += self._stops.flush()
        tail = self._hold_space(self._strip(tail))
        self._held_space = ""
        return tail

    def _hold_space(self, text: str) -> str:
        if not self._is_holding_space:
            return text
        text = self._held_space + text
        kept = text.rstrip()
        self._held_space = text[len(kept) :]
        return kept

    def _strip(self, text: str) -> str:
        # A base-model transcript ends with "Assistant:"; the reply's first space is formatting.
        if self._is_stripping and text:
            text = text.lstrip()
            self._is_stripping = not text
        return text
