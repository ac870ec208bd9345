"""Random ids for the objects localchat hands out: each dialect spells its own prefix and separator
(OpenAI's `chatcmpl-…`, the Responses API's `resp_…`, Anthropic's `msg_…`, tool calls' `call_…`)."""

from __future__ import annotations

import secrets


def random_id(prefix: str, *, separator: str = "_", num_hex: int = 24) -> str:
    return f"{prefix}{separator}{secrets.token_hex((num_hex + 1) // 2)[:num_hex]}"
