"""Long text in pieces for llama.cpp's tokenizer, whose time grows with the square of the number of
lines in one call ("a\n" * 20000 takes 5 s, * 40000 over 20 s; "\t\n" * 100000 takes 76 s): a
request could hold a core for hours. Pieces of a few hundred characters keep it linear, at about
40 µs a call (llama.cpp looks for each of Gemma's 6,400 special tokens in every piece).

A piece ends where no token can span the cut, so the tokens are the same as for the whole text:

- after a newline followed by a non-space character: no token of the vocabularies we checked spans
  such a point (checked on 1.4 MB of code, Markdown and templates);
- where the vocabulary says so (`RunCuts`): llama.cpp splits the tokens it always matches first
  (user-defined ones: Gemma's runs of newlines and of spaces) out of the text before its tokenizer
  runs, so the end of a run of such a character is a boundary of every tokenization, whatever
  follows, if the run splits into those tokens with nothing left over. That is what keeps lines
  that start with whitespace, and one huge line of spaced words, linear.

Text with no such point for a long stretch (hundreds of lines that all start with whitespace, in a
vocabulary without such runs) is cut at the next newline, where a token could in principle differ;
that is the price of not being quadratic.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

PIECE_CHARS = 256
# How far past PIECE_CHARS a clean cut is looked for before any newline will do.
MAX_PIECE_CHARS = 16 * PIECE_CHARS
_CLEAN_CUT = re.compile(r"\n(?=\S)")


@dataclass(frozen=True)
class RunCuts:
    """Characters whose runs are always split into tokens of their own, and the run lengths those
    tokens come in (longest first, as llama.cpp matches them)."""

    lengths: Mapping[str, tuple[int, ...]] = field(default_factory=dict)

    @classmethod
    def from_vocabulary(cls, always_split: Iterable[str], maybe_split: Iterable[str]) -> RunCuts:
        """From the texts of the tokens llama.cpp always splits out before tokenizing (user-defined
        ones) and of those it may (control tokens, with parse_special): a character qualifies if it
        has runs among the first and every token of either kind that holds it is a run of it."""
        lengths: dict[str, set[int]] = {}
        impure: set[str] = set()
        for text in always_split:
            if text and len(set(text)) == 1:
                lengths.setdefault(text[0], set()).add(len(text))
            else:
                impure.update(text)
        for text in maybe_split:
            impure.update(text)
        pure = {char: found for char, found in lengths.items() if char not in impure}
        return cls({char: tuple(sorted(found, reverse=True)) for char, found in pure.items()})

    @property
    def pattern(self) -> re.Pattern[str] | None:
        if not self.lengths:
            return None
        runs = "|".join(f"(?<!{re.escape(char)}){re.escape(char)}+" for char in sorted(self.lengths))
        return re.compile(runs)

    def splits_cleanly(self, run: str) -> bool:
        """Whether a whole run of one character splits into its tokens with nothing left over: each
        length, longest first, takes what it can from the left and leaves the rest at the end."""
        remainder = len(run)
        for length in self.lengths.get(run[0], ()):
            remainder %= length
        return remainder == 0


NO_RUN_CUTS = RunCuts()


@dataclass(frozen=True)
class VocabularyFacts:
    # The longest text one token stands for, in UTF-8 bytes (control tokens included).
    max_token_bytes: int
    run_cuts: RunCuts

    def min_tokens(self, text: str) -> int:
        """A lower bound on the tokens of `text`, known without tokenizing it."""
        return -(-len(text.encode("utf-8", errors="surrogatepass")) // self.max_token_bytes)


def _run_cut(text: str, start: int, end: int, runs: RunCuts, pattern: re.Pattern[str]) -> int | None:
    """The end of the first run in text[start:end] that is a boundary of every tokenization."""
    for match in pattern.finditer(text, start, end):
        run, after = match.group(), match.end()
        # Cut off by `end`, a match may be only the start of its run.
        if after < len(text) and text[after] != run[0] and runs.splits_cleanly(run):
            return after
    return None


def pieces(text: str, runs: RunCuts = NO_RUN_CUTS) -> Iterator[str]:
    pattern = runs.pattern
    start = 0
    while len(text) - start > PIECE_CHARS:
        limit = start + MAX_PIECE_CHARS
        end = None
        if pattern is not None:
            end = _run_cut(text, start + PIECE_CHARS, limit, runs, pattern)
        # The earlier of the two kinds of cut; the clean-cut search stops where a run cut was found.
        clean = _CLEAN_CUT.search(text, start + PIECE_CHARS, end if end is not None else limit)
        if clean is not None:
            end = clean.end()
        if end is None:
            newline = text.find("\n", limit)
            if newline < 0:
                break  # no newline left: the rest is one line, which costs nothing extra
            # Past the limit this piece is one long line; cut at its end.
            end = newline + 1
        yield text[start:end]
        start = end
    yield text[start:]
