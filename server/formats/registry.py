"""Which family a model speaks, read from its chat template (a catalog entry's `chat_format` overrides).

A template that renders tool calls back into the prompt shows the syntax the model was trained to
write, so a marker that appears in it identifies the family. Most specific first.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence

from server.formats.chat_format import ChatFormat, ToolSpec
from server.formats.families.command_r import COMMAND_R
from server.formats.families.deepseek import DEEPSEEK_R1, DEEPSEEK_V3, DEEPSEEK_V3_2
from server.formats.families.functionary import FUNCTIONARY_V3_1, FUNCTIONARY_V3_2
from server.formats.families.generic import GENERIC, tool_prompt
from server.formats.families.glm import GLM, GLM_4_7
from server.formats.families.gpt_oss import GPT_OSS
from server.formats.families.granite import GRANITE
from server.formats.families.hermes import HERMES
from server.formats.families.kimi_k2 import KIMI_K2
from server.formats.families.llama3 import LLAMA3
from server.formats.families.minimax_m2 import MINIMAX_M2
from server.formats.families.mistral import MISTRAL, MISTRAL_NEMO
from server.formats.families.qwen3_coder import QWEN3_CODER

THINK = ("<think>", "</think>")

FORMATS: dict[str, ChatFormat] = {
    fmt.name: fmt
    for fmt in (
        HERMES, LLAMA3, MISTRAL, MISTRAL_NEMO, DEEPSEEK_R1, DEEPSEEK_V3, DEEPSEEK_V3_2, FUNCTIONARY_V3_1,
        FUNCTIONARY_V3_2, COMMAND_R, GRANITE, GPT_OSS, QWEN3_CODER, GLM, GLM_4_7, KIMI_K2, MINIMAX_M2,
        GENERIC,
    )
}  # fmt: skip

Rule = tuple[Callable[[str], bool], str]


def _has(*markers: str) -> Callable[[str], bool]:
    return lambda source: all(marker in source for marker in markers)


DEEPSEEK_TOOL_SEP = "<\uff5ctool\u2581sep\uff5c>"


def _glm_writes_newlines(source: str) -> bool:
    """GLM 4.5/4.6 (and Ling, Laguna XS) put a newline between an argument's key and value tags, as a
    literal newline or an escaped one in a string; GLM 4.7, Spark and Laguna S write them together."""
    return any(
        marker in source for marker in ("</arg_key>\n", "\n<arg_value>", "</arg_key>\\n", "\\n<arg_value>")
    )


DETECTION: list[Rule] = [
    (_has("<|channel|>", "<|message|>"), "gpt_oss"),
    (_has("<tool_call>", "<function=", "<parameter="), "qwen3_coder"),
    (lambda source: _has("<arg_key>", "<arg_value>")(source) and _glm_writes_newlines(source), "glm"),
    (_has("<arg_key>", "<arg_value>"), "glm_4_7"),
    (_has("<|tool_calls_section_begin|>", "<|tool_call_argument_begin|>"), "kimi_k2"),
    (_has("<minimax:tool_call>", "<invoke name="), "minimax_m2"),
    (_has("\uff5cDSML\uff5c"), "deepseek_v3_2"),  # fullwidth bars
    (_has(DEEPSEEK_TOOL_SEP, "```json"), "deepseek_r1"),
    (_has(DEEPSEEK_TOOL_SEP), "deepseek_v3"),
    (_has("[TOOL_CALLS]", "[ARGS]"), "mistral"),
    (_has("[TOOL_CALLS]"), "mistral_nemo"),
    (_has("<|START_ACTION|>"), "command_r"),
    (_has("<|tool_call|>"), "granite"),
    (_has(">>>all"), "functionary_v3_2"),
    (_has("<function=", "<|python_tag|>"), "functionary_v3_1"),
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


def tool_prompt_for(fmt: ChatFormat, tools: Sequence[ToolSpec]) -> str | None:
    """The system text that describes the tools to a model whose template does not render them."""
    return tool_prompt(tools) if fmt.needs_tool_prompt else None
