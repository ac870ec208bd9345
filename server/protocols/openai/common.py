"""What OpenAI's chat and completions share beyond the pipeline: the usage object, one choice per
request, and the envelope of their stream chunks."""

from __future__ import annotations

from typing import Any, Generic, TypeVar

from pydantic import BaseModel

from server.engine.sequence import Usage
from server.pipeline.chat_request import SamplingRequest
from server.protocols.openai.wire import ChatCompletionChunk, Completion, PromptTokensDetails, UsageInfo
from server.service.errors import invalid_request

Chunk = TypeVar("Chunk", ChatCompletionChunk, Completion)


def check_single_choice(body: SamplingRequest) -> None:
    if body.n is not None and body.n > 1:
        raise invalid_request("Only n=1 is supported.", param="n", code="unsupported_value")


def usage_info(usage: Usage) -> UsageInfo:
    return UsageInfo(
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        total_tokens=usage.total_tokens,
        prompt_tokens_details=PromptTokensDetails(cached_tokens=usage.cached_tokens),
    )


class ChunkEnvelope(Generic[Chunk]):
    """The frame of every chunk of one stream (its id and model) and its end: the last choice, then,
    when stream_options.include_usage asks, a chunk with the usage and no choices."""

    def __init__(self, kind: type[Chunk], completion_id: str, model: str, *, include_usage: bool) -> None:
        self._kind = kind
        self._id = completion_id
        self._model = model
        self._include_usage = include_usage

    def chunk(self, choice: Any | None, usage: Usage | None = None) -> Chunk:
        return self._kind(
            id=self._id,
            model=self._model,
            choices=[choice] if choice is not None else [],
            usage=usage_info(usage) if usage is not None else None,
        )

    def ending(self, last_choice: Any, usage: Usage) -> list[BaseModel]:
        chunks: list[BaseModel] = [self.chunk(last_choice)]
        if self._include_usage:
            chunks.append(self.chunk(None, usage))
        return chunks
