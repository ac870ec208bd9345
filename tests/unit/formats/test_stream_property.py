"""Property: an answer fed to the stream parser in pieces cut at arbitrary points gives the same
reasoning, content and calls as the answer parsed whole, for every family."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from server.formats.chat_format import ChatFormat
from server.formats.registry import FORMATS
from tests.unit.formats.stream_check import parse_streamed, parse_whole, summary

HERMES_CALL = (
    '<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris", "n": [1, 2.5e3]}}\n</tool_call>'
)

# (family name, answer in that family's exact format); malformed and cut-off answers included.
ANSWERS: list[tuple[str, str]] = [
    ("hermes", f"<think>\nWeather, then time.\n</think>\n\nChecking. {HERMES_CALL}\n{HERMES_CALL} done"),
    ("hermes", '<tool_call>\n{"name": "f", oops}\n</tool_call> and <tool_call>{"name": "g"}</tool_call>'),
    ("hermes", '<tool_call>\n{"name": "f", "arguments": {"s": "a \\"quoted\\" \\u00e9 }"}}\n</tool_call>'),
    ("hermes", '<tool_call>\n{"name": "f", "arguments": {"text": "unfinish'),
    ("hermes", "Plain <b>text</b> with <tool_ no call < > </tool_call>"),
    ("llama3", '<|python_tag|>{"name": "a", "parameters": {"x": 1}}; {"name": "b", "parameters": {"y": {}}}'),
    ("llama3", '{"type": "function", "name": "f", "parameters": {"q": "x"}}'),
    ("llama3", '{"not": "a call"} and text'),
    ("generic", '{"tool_calls": [{"name": "a", "arguments": {"x": [1, {"y": null}]}}, {"name": "b"}]}'),
    ("generic", '{"response": "plain"}'),
]


def _answers() -> list[tuple[ChatFormat, str]]:
    return [(FORMATS[name], text) for name, text in ANSWERS if name in FORMATS]


@st.composite
def _split(draw: st.DrawFn) -> tuple[ChatFormat, list[str]]:
    fmt, text = draw(st.sampled_from(_answers()))
    cuts = sorted(draw(st.sets(st.integers(min_value=1, max_value=max(len(text) - 1, 1)), max_size=40)))
    bounds = [0, *cuts, len(text)]
    return fmt, [text[start:end] for start, end in itertools.pairwise(bounds) if end > start]


@settings(max_examples=400, deadline=None)
@given(_split())
def test_any_split_streams_like_the_whole_answer(case: tuple[ChatFormat, list[str]]) -> None:
    fmt, pieces = case
    assert summary(parse_streamed(pieces, fmt)) == summary(parse_whole("".join(pieces), fmt))
