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

DS_BEGIN, DS_END = "<\uff5ctool\u2581calls\u2581begin\uff5c>", "<\uff5ctool\u2581calls\u2581end\uff5c>"
DS_CALL, DS_CALL_END = "<\uff5ctool\u2581call\u2581begin\uff5c>", "<\uff5ctool\u2581call\u2581end\uff5c>"
DS_SEP = "<\uff5ctool\u2581sep\uff5c>"
DS_THINK = "<think>\nCall a.\n</think>\n\n"

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
    ("generic", '{"tool_calls": [oops]}'),
    (
        "mistral",
        '[THINK]Use the tool.[/THINK]Sure.[TOOL_CALLS]get_weather[ARGS]{"city": "Paris"}'
        "[TOOL_CALLS]f[ARGS]{}",
    ),
    ("mistral_nemo", '[TOOL_CALLS][{"name": "a", "arguments": {"x": 1}, "id": "abc123xyz"}, {"name": "b"}]'),
    (
        "deepseek_r1",
        DS_THINK + f'{DS_BEGIN}{DS_CALL}function{DS_SEP}a\n```json\n{{"x": 1}}\n```{DS_CALL_END}{DS_END}',
    ),
    ("deepseek_v3", f'Checking.{DS_BEGIN}{DS_CALL}a{DS_SEP}{{"x": [1, 2]}}{DS_CALL_END}{DS_END}'),
    (
        "command_r",
        '<|START_THINKING|>plan<|END_THINKING|><|START_ACTION|>[\n    {"tool_call_id": "0", '
        '"tool_name": "a", "parameters": {"x": 1}}\n]<|END_ACTION|>',
    ),
    ("command_r", "<|START_RESPONSE|>The answer is 4.<|END_RESPONSE|>"),
    (
        "granite",
        '<think>hm</think><response>Sure.</response><|tool_call|>[{"name": "a", "arguments": {"x": 1}}]',
    ),
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
