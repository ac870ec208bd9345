"""Long text in pieces for llama.cpp's tokenizer, whose time grows with the square of the number of
lines in one call ("a\n" * 20000 takes 5 s, * 40000 over 20 s): a request could hold a core for
hours. Pieces of a few KB keep it linear.

A piece ends after a newline that is followed by a non-space character: no token of the
vocabularies we checked spans such a point, so the tokens are the same as for the whole text
(checked on 1.4 MB of code, Markdown and templates). Text with no such point for a long stretch
(hundreds of lines that all start with whitespace) is cut at the next newline, where a token could
in principle differ; that is the price of not being quadratic.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

PIECE_CHARS = 1024
# How far past PIECE_CHARS a clean cut is looked for before any newline will do.
MAX_PIECE_CHARS = 16 * PIECE_CHARS
_CLEAN_CUT = re.compile(r"\n(?=\S)")


def pieces(text: str) -> Iterator[str]:
    start = 0
    while len(text) - start > PIECE_CHARS:
        limit = start + MAX_PIECE_CHARS
        clean = _CLEAN_CUT.search(text, start + PIECE_CHARS, limit)
        if clean is not None:
            end = clean.end()
        else:
            newline = text.find("\n", limit)
            if newline < 0:
                break  # no newline left: the rest is one line, which costs nothing extra
            # Past the limit this piece is one long line; cut at its end.
            end = newline + 1
        yield text[start:end]
        start = end
    yield text[start:]
