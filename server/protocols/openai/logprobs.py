"""Engine logprobs in the two OpenAI shapes: chat's per-token objects and completions' parallel lists."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from server.engine.sampling import TokenLogprob
from server.protocols.openai.wire import ChatLogprobs, ChatTokenLogprob, CompletionLogprobs, TopLogprob

TokenBytes = Callable[[int], bytes]


def _top(token: int, logprob: float, token_bytes: TokenBytes) -> TopLogprob:
    raw = token_bytes(token)
    return TopLogprob(token=raw.decode("utf-8", errors="replace"), logprob=logprob, bytes=list(raw))


def chat_logprobs(entries: Sequence[TokenLogprob], token_bytes: TokenBytes) -> ChatLogprobs:
    content = []
    for entry in entries:
        head = _top(entry.token, entry.logprob, token_bytes)
        content.append(
            ChatTokenLogprob(
                **head.model_dump(),
                top_logprobs=[_top(token, logprob, token_bytes) for token, logprob in entry.top],
            )
        )
    return ChatLogprobs(content=content)


def completion_logprobs(
    entries: Sequence[TokenLogprob], token_bytes: TokenBytes, *, start_offset: int
) -> CompletionLogprobs:
    tokens: list[str] = []
    offsets: list[int] = []
    offset = start_offset
    for entry in entries:
        text = token_bytes(entry.token).decode("utf-8", errors="replace")
        tokens.append(text)
        offsets.append(offset)
        offset += len(text)
    return CompletionLogprobs(
        tokens=tokens,
        token_logprobs=[entry.logprob for entry in entries],
        top_logprobs=[
            {token_bytes(token).decode("utf-8", errors="replace"): logprob for token, logprob in entry.top}
            for entry in entries
        ],
        text_offset=offsets,
    )
