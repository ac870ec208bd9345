"""Chat for base models, which have no template: a plain role transcript the model can continue.

The prompt ends with "Assistant:" and generation stops at the next turn marker, so a base model
answers one turn instead of writing the rest of the conversation itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

TURN_LABELS = {"user": "User", "assistant": "Assistant", "tool": "Tool"}
SYSTEM_ROLES = ("system", "developer")
TRANSCRIPT_STOPS = ("\nUser:", "\nAssistant:", "\nTool:")


def render_transcript(messages: Sequence[dict[str, Any]]) -> str:
    system_parts = [str(m.get("content") or "") for m in messages if m["role"] in SYSTEM_ROLES]
    turns = [
        f"{TURN_LABELS[m['role']]}: {m.get('content') or ''}".rstrip()
        for m in messages
        if m["role"] not in SYSTEM_ROLES
    ]
    preamble = "\n".join(part for part in system_parts if part)
    body = "\n".join([*turns, "Assistant:"])
    return f"{preamble}\n\n{body}" if preamble else body
