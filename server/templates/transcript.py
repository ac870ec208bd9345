"""Chat for base models, which have no template: a plain role transcript the model can continue.

The prompt ends with "Assistant:" and generation stops at the next turn marker, so a base model
answers one turn instead of writing the rest of the conversation itself.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

TURN_LABELS = {"user": "User", "assistant": "Assistant", "tool": "Tool"}
SYSTEM_ROLES = ("system", "developer")
TRANSCRIPT_STOPS = ("\nUser:", "\nAssistant:", "\nTool:")


def render_transcript(messages: Sequence[dict[str, Any]]) -> str:
    system_parts = [str(m.get("content") or "") for m in messages if m["role"] in SYSTEM_ROLES]
    turns = [
        f"{TURN_LABELS[m['role']]}: {_turn_text(m)}".rstrip()
        for m in messages
        if m["role"] not in SYSTEM_ROLES
    ]
    preamble = "\n".join(part for part in system_parts if part)
    body = "\n".join([*turns, "Assistant:"])
    return f"{preamble}\n\n{body}" if preamble else body


def _turn_text(message: dict[str, Any]) -> str:
    """A turn's text; an assistant's tool calls in the JSON shape the generic tool format asks for."""
    text = str(message.get("content") or "")
    calls = message.get("tool_calls")
    if not calls:
        return text
    listed = [{"name": c["function"]["name"], "arguments": c["function"]["arguments"]} for c in calls]
    written = json.dumps({"tool_calls": listed}, ensure_ascii=False)
    return f"{text} {written}".strip()
