"""Embedding inputs as every protocol takes them: texts or token lists checked against the model's
context (refused, or cut to it where a dialect asks for that), then one vector each."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from server.engine.embeddings import EmbeddingError
from server.models.loader import LoadedModel
from server.pipeline.sampling import check_token_ids
from server.service.errors import APIError, invalid_request

# OpenAI's own ceiling on inputs per request.
MAX_INPUTS = 2048

Inputs = Sequence[str] | Sequence[Sequence[int]]


@dataclass(frozen=True)
class Embedded:
    vectors: list[np.ndarray]
    num_tokens: int
    n_embd: int


def _too_long(index: int, num_tokens: str, limit: int, param: str) -> APIError:
    return invalid_request(
        f"{param}[{index}] is {num_tokens} tokens; this model embeds at most {limit}.",
        param=param,
        code="context_length_exceeded",
    )


def _refuse_unless_it_may_fit(text: str, index: int, model: LoadedModel, param: str) -> None:
    # As for prompts (server/pipeline/generation.py): a bound first, so megabytes are not tokenized.
    limit = model.runtime.n_ctx_seq
    if len(text) > limit:
        at_least = model.runtime.vocabulary_facts.min_tokens(text)
        if at_least > limit:
            raise _too_long(index, f"at least {at_least}", limit, param)


def token_lists(inputs: Inputs, model: LoadedModel, *, param: str, truncate: bool) -> list[list[int]]:
    """Each input's tokens; one longer than the context is a 400, or cut to it with `truncate`."""
    if not inputs:
        raise invalid_request(f"{param} must not be empty.", param=param)
    if len(inputs) > MAX_INPUTS:
        raise invalid_request(f"At most {MAX_INPUTS} inputs per request.", param=param)
    runtime = model.runtime
    limit = runtime.n_ctx_seq
    lists: list[list[int]] = []
    for index, item in enumerate(inputs):
        if isinstance(item, str):
            if not item:
                raise invalid_request(f"{param}[{index}] is an empty string.", param=param)
            if truncate:
                item = item[: limit * runtime.vocabulary_facts.max_token_bytes]
            else:
                _refuse_unless_it_may_fit(item, index, model, param)
            # User text stays text: "<bos>" typed in a document is not a control token.
            tokens = runtime.tokenize(item, add_bos=runtime.adds_bos, parse_special=False)
        else:
            if not item:
                raise invalid_request(f"{param}[{index}] is an empty token list.", param=param)
            check_token_ids(item, model, what=f"{param}[{index}]", param=param)
            tokens = list(item)
        if len(tokens) > limit:
            if not truncate:
                raise _too_long(index, str(len(tokens)), limit, param)
            tokens = tokens[:limit]
        lists.append(tokens)
    return lists


async def embed(
    model: LoadedModel, inputs: Inputs, *, param: str = "input", truncate: bool = False
) -> Embedded:
    # Tokenizing megabytes of input must not hold the event loop.
    lists = await asyncio.to_thread(token_lists, inputs, model, param=param, truncate=truncate)
    embedder = await asyncio.to_thread(model.runtime.embedder)
    try:
        vectors = await asyncio.to_thread(embedder.embed, lists)
    except EmbeddingError as exc:
        raise APIError(400, str(exc), param=param) from exc
    return Embedded(list(vectors), sum(map(len, lists)), embedder.n_embd)
