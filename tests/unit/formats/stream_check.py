"""Shared checks for family parsers: streaming an answer in pieces must give exactly what parsing it
whole gives, with every streamed field only ever growing."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from types import SimpleNamespace
from typing import cast

from server.engine.llama import LlamaRuntime
from server.engine.sampling.grammar import check_grammar
from server.formats.chat_format import ChatFormat, ParseOptions, ToolSpec
from server.formats.message import ParsedMessage
from server.formats.parser import MessageStream, parse_message

TOOLS_ON = ParseOptions(parse_tools=True)
# llama.cpp parses a grammar (and compiles its trigger regexes) without a vocabulary.
NO_VOCAB = cast(LlamaRuntime, SimpleNamespace(vocab=None))
CITY = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}
TOOLS = [ToolSpec("get_weather", CITY), ToolSpec("get_time", {"type": "object", "properties": {}})]


def summary(message: ParsedMessage) -> tuple[str, str, list[tuple[str, str]]]:
    return message.reasoning, message.content, [(call.name, call.arguments) for call in message.tool_calls]


def parse_whole(text: str, fmt: ChatFormat, options: ParseOptions = TOOLS_ON) -> ParsedMessage:
    return parse_message(text, fmt, options, is_final=True)


def parse_streamed(pieces: Sequence[str], fmt: ChatFormat, options: ParseOptions = TOOLS_ON) -> ParsedMessage:
    """Feed pieces one by one and rebuild the message from the deltas alone, as a client would."""
    stream = MessageStream(fmt, options)
    rebuilt = ParsedMessage()
    names: dict[int, str] = {}
    arguments: dict[int, str] = {}
    for delta in [*(stream.feed(piece) for piece in pieces), stream.finish()]:
        rebuilt.reasoning += delta.reasoning
        rebuilt.content += delta.content
        for call in delta.tool_calls:
            if call.index not in names:
                assert call.id is not None and call.name is not None, "a call's first delta names it"
                names[call.index] = call.name
                arguments[call.index] = ""
            else:
                assert call.id is None and call.name is None
            arguments[call.index] += call.arguments
    assert sorted(names) == list(range(len(names))), "call indexes are 0..n-1"
    assert stream.num_contradictions == 0, "a partial parse contradicted a later one"
    from server.formats.cursor import ParsedCall

    rebuilt.tool_calls = [ParsedCall(names[index], arguments[index]) for index in sorted(names)]
    return rebuilt


def split_every(text: str, size: int) -> list[str]:
    return [text[start : start + size] for start in range(0, len(text), size)]


def assert_streams_like_whole(text: str, fmt: ChatFormat, options: ParseOptions = TOOLS_ON) -> ParsedMessage:
    """Whole-text parse == streamed parse for pieces of 1, 2, 3, 5 and 8 characters."""
    whole = parse_whole(text, fmt, options)
    for size in (1, 2, 3, 5, 8):
        assert summary(parse_streamed(split_every(text, size), fmt, options)) == summary(whole), size
    return whole


def assert_constraints_parse(fmt: ChatFormat, tools: Sequence[ToolSpec] = TOOLS) -> None:
    """Every grammar the family makes (parallel or not, forced or lazy, thought open or not) parses in
    llama.cpp, trigger regexes included."""
    from server.formats.constrain import call_constraint

    for is_parallel, is_forced, is_reasoning_open in itertools.product((False, True), repeat=3):
        constraint = call_constraint(
            fmt, tools, is_parallel=is_parallel, is_forced=is_forced, is_reasoning_open=is_reasoning_open
        )
        assert constraint is not None
        check_grammar(NO_VOCAB, constraint.grammar, constraint.triggers)
