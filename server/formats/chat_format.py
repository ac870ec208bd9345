"""A model family's output conventions, described as data: the markers around its reasoning, where its
tool calls start, how one call is written, and the grammar that forces a valid call."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from server.formats.cursor import CallSink, Cursor
from server.formats.message import Segment

# Reads the calls region, from its opener on, into the sink (see cursor.py for the contract).
CallParser = Callable[[Cursor, CallSink], None]
# Builds a GBNF grammar (root rule "root") for the calls region, from the tools a request allows.
CallGrammar = Callable[[Sequence["ToolSpec"], bool], str]


@dataclass(frozen=True)
class ToolSpec:
    """One function tool of a request, as the formats need it."""

    name: str
    parameters: dict[str, Any]
    description: str = ""


@dataclass(frozen=True)
class ParseOptions:
    parse_tools: bool = False
    parse_reasoning: bool = True
    # The prompt already opened the reasoning block (templates that end with "<think>").
    is_reasoning_open: bool = False
    # Parameter types per tool, for formats that write arguments as untyped text (Qwen3-Coder XML).
    tools: tuple[ToolSpec, ...] = ()
    # The answer was cut at max_tokens. A call whose arguments had begun comes back as a call (its
    # arguments as far as they got, as OpenAI returns one); an attempt cut before them is dropped:
    # half an opener and a name is markup the model never meant as text, in every family alike.
    is_cut: bool = False


# A family whose whole output is channels (GPT-OSS harmony) segments it itself.
Segmenter = Callable[[str, ParseOptions, bool], list[Segment]]


@dataclass(frozen=True)
class ChatFormat:
    name: str
    # Literal texts that begin a calls region.
    call_openers: tuple[str, ...] = ()
    parse_calls: CallParser | None = None
    # Calls are recognised only at the very start of the answer (JSON-first families).
    is_call_anchored: bool = False
    reasoning_markers: tuple[str, str] | None = None
    call_grammar: CallGrammar | None = None
    # Regexes that switch a lazy grammar on (tool_choice "auto"); default: the openers, escaped.
    trigger_patterns: tuple[str, ...] = ()
    segmenter: Segmenter | None = None
    # The template does not render `tools`: describe them (and the JSON reply shape) in a system turn.
    needs_tool_prompt: bool = False
    # Mistral's templates accept only 9-alphanumeric call ids when the calls come back in history.
    has_short_call_ids: bool = False

    @property
    def has_tool_calls(self) -> bool:
        return self.parse_calls is not None or self.segmenter is not None
