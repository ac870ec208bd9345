"""The text shapes that cost llama.cpp's tokenizer the most, as request bodies up to the body limit:
whitespace lines, many tiny lines, tabs, newline runs, one huge line of spaced words, one huge line
of prose, emoji, lone combining marks. Used by tests/integration/test_hostile_bodies.py and
scripts/worst_bodies.py."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

import httpx

UNITS = {
    "whitespace lines": " \n",
    "tiny lines": "a\n",
    "tabs": "\t\n",
    "newline runs": "\n\n\n x",
    "indented code": "    if x:\n        return y\n",
    "spaced words": "word  ",
    "prose": "The quick brown fox jumps over the lazy dog. ",
    "emoji": "🎉🚀🌊 ",
    "combining marks": "\u0301",
}
# The JSON around the text: the body stays within the limit once the text is escaped into it.
ENVELOPE_BYTES = 512


def text_of(shape: str, num_bytes: int) -> str:
    """About `num_bytes` of the shape, measured as it travels in JSON (escapes included)."""
    unit = UNITS[shape]
    unit_bytes = len(json.dumps(unit, ensure_ascii=False).encode()) - 2
    return unit * max(1, (num_bytes - ENVELOPE_BYTES) // unit_bytes)


@dataclass(frozen=True)
class Answer:
    status: int
    seconds: float
    body: dict


def post(http: httpx.Client, path: str, body: dict) -> Answer:
    data = json.dumps(body, ensure_ascii=False).encode()
    started = time.perf_counter()
    response = http.post(path, content=data, headers={"content-type": "application/json"})
    return Answer(response.status_code, time.perf_counter() - started, response.json())


def bodies(shape: str, num_bytes: int) -> dict[str, dict]:
    """A body of the shape for each route that tokenizes what it is sent."""
    text = text_of(shape, num_bytes)
    return {
        "/v1/completions": {"prompt": text, "max_tokens": 1},
        "/v1/chat/completions": {"messages": [{"role": "user", "content": text}], "max_tokens": 1},
        "/v1/embeddings": {"input": text},
        "/tokenize": {"content": text},
    }
