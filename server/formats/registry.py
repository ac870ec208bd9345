"""Which family a model speaks, read from its chat template (a catalog entry's `chat_format` overrides).

A template that renders tool calls back into the prompt shows the syntax the model was trained to
write, so a marker that appears in it identifies the family. Most specific first.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from server.formats.chat_format import ChatFormat
from server.formats.families.generic import GENERIC
from server.formats.families.hermes import HERMES
from server.formats.families.llama3 import LLAMA3

THINK = ("<think>", "</think>")

FORMATS: dict[str, ChatFormat] = {fmt.name: fmt for fmt in (HERMES, LLAMA3, GENERIC)}

Rule = tuple[Callable[[str], bool], str]


def _has(*markers: str) -> Callable[[str], bool]:
    return lambda source: all(marker in source for marker in markers)


DETECTION: list[Rule] = [
    (_has("<tool_call>"), "hermes"),
    (_has("<|start_header_id|>", "<|python_tag|>"), "llama3"),
    (_has("<|start_header_id|>", '"parameters"'), "llama3"),
]


class UnknownFormat(ValueError):
    pass


def format_named(name: str) -> ChatFormat:
    try:
        return FORMATS[name]
    except KeyError:
        raise UnknownFormat(f"unknown chat_format '{name}'; known: {', '.join(sorted(FORMATS))}") from None


def detect_format(template_source: str | None) -> ChatFormat:
    """The family of a template; the generic JSON format when none matches (and for base models)."""
    if template_source is None:
        return dataclasses.replace(GENERIC, needs_tool_prompt=True)
    for matches, name in DETECTION:
        if matches(template_source):
            return _without_unused_reasoning(FORMATS[name], template_source)
    fallback = GENERIC
    if "<think>" in template_source:
        fallback = dataclasses.replace(fallback, reasoning_markers=THINK)
    if "tools" not in template_source:
        fallback = dataclasses.replace(fallback, needs_tool_prompt=True)
    return fallback


def _without_unused_reasoning(fmt: ChatFormat, template_source: str) -> ChatFormat:
    """A family's models that never think (Qwen 2.5 beside Qwen3) get no reasoning markers, so a
    forced tool call cannot wander into a thought first."""
    markers = fmt.reasoning_markers
    if markers is None or any(marker in template_source for marker in markers):
        return fmt
    return dataclasses.replace(fmt, reasoning_markers=None)
