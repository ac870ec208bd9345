"""Chat messages to prompt text: the model's own template when it has one, else the base transcript."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from server.templates.chat_template import ChatTemplate
from server.templates.transcript import TRANSCRIPT_STOPS, render_transcript


@dataclass(frozen=True)
class ChatPrompt:
    text: str
    # Stops the format itself needs (next turn marker of a transcript); request stops come on top.
    stops: tuple[str, ...]
    strip_leading: bool
    uses_template: bool
    # Templates spell special tokens as text; a transcript must not let user text become one.
    parse_special: bool


def format_chat(
    template: ChatTemplate | None,
    messages: Sequence[dict[str, Any]],
    *,
    tools: Sequence[dict[str, Any]] | None = None,
    variables: dict[str, Any] | None = None,
) -> ChatPrompt:
    if template is not None:
        return ChatPrompt(
            text=template.render(messages, add_generation_prompt=True, tools=tools, **(variables or {})),
            stops=(),
            strip_leading=False,
            uses_template=True,
            parse_special=True,
        )
    return ChatPrompt(
        text=render_transcript(messages),
        stops=TRANSCRIPT_STOPS,
        strip_leading=True,
        uses_template=False,
        parse_special=False,
    )
