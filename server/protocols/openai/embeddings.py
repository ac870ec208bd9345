"""POST /v1/embeddings: OpenAI's embeddings API on any loaded model's weights (see
server/engine/embeddings.py for how a vector is made)."""

from __future__ import annotations

import asyncio
import base64
from typing import Any, Literal

import numpy as np
from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from server.engine.embeddings import EmbeddingError
from server.models.loader import LoadedModel
from server.pipeline.model_lease import respond_with_model
from server.pipeline.sampling import check_token_ids
from server.pipeline.wire import RequestModel
from server.service.errors import APIError, invalid_request

router = APIRouter()
# OpenAI's own ceiling on inputs per request.
MAX_INPUTS = 2048


class EmbeddingRequest(RequestModel):
    # A text, texts, a token list, or token lists (as OpenAI accepts).
    input: str | list[str] | list[int] | list[list[int]]
    model: str | None = None
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(None, ge=1)
    user: str | None = None


class Embedding(BaseModel):
    object: Literal["embedding"] = "embedding"
    index: int
    embedding: list[float] | str


class EmbeddingUsage(BaseModel):
    prompt_tokens: int
    total_tokens: int


class EmbeddingList(BaseModel):
    object: Literal["list"] = "list"
    data: list[Embedding]
    model: str
    usage: EmbeddingUsage


def _inputs(body: EmbeddingRequest) -> list[str] | list[list[int]]:
    value = body.input
    if isinstance(value, str):
        return [value]
    if value and all(isinstance(item, int) for item in value):
        return [value]  # type: ignore[list-item]  # one token list
    return value  # type: ignore[return-value]


def _too_long(index: int, num_tokens: str, limit: int) -> APIError:
    return invalid_request(
        f"input[{index}] is {num_tokens} tokens; this model embeds at most {limit}.",
        param="input",
        code="context_length_exceeded",
    )


def _refuse_unless_it_may_fit(text: str, index: int, model: LoadedModel) -> None:
    # As for prompts (server/pipeline/generation.py): a bound first, so megabytes are not tokenized.
    limit = model.runtime.n_ctx_seq
    if len(text) > limit:
        at_least = model.runtime.vocabulary_facts.min_tokens(text)
        if at_least > limit:
            raise _too_long(index, f"at least {at_least}", limit)


def _token_lists(body: EmbeddingRequest, model: LoadedModel) -> list[list[int]]:
    inputs = _inputs(body)
    if not inputs:
        raise invalid_request("input must not be empty.", param="input")
    if len(inputs) > MAX_INPUTS:
        raise invalid_request(f"At most {MAX_INPUTS} inputs per request.", param="input")
    runtime = model.runtime
    token_lists: list[list[int]] = []
    for index, item in enumerate(inputs):
        if isinstance(item, str):
            if not item:
                raise invalid_request(f"input[{index}] is an empty string.", param="input")
            _refuse_unless_it_may_fit(item, index, model)
            # User text stays text: "<bos>" typed in a document is not a control token.
            tokens = runtime.tokenize(item, add_bos=runtime.adds_bos, parse_special=False)
        else:
            if not item:
                raise invalid_request(f"input[{index}] is an empty token list.", param="input")
            check_token_ids(item, model, what=f"input[{index}]", param="input")
            tokens = list(item)
        if len(tokens) > runtime.n_ctx_seq:
            raise _too_long(index, str(len(tokens)), runtime.n_ctx_seq)
        token_lists.append(tokens)
    return token_lists


def _encoded(vector: np.ndarray, encoding: str) -> list[float] | str:
    if encoding == "base64":
        return base64.b64encode(vector.astype("<f4").tobytes()).decode("ascii")
    return vector.tolist()


async def _embed(body: EmbeddingRequest, model: LoadedModel) -> EmbeddingList:
    # Tokenizing megabytes of input must not hold the event loop.
    token_lists = await asyncio.to_thread(_token_lists, body, model)
    embedder = await asyncio.to_thread(model.runtime.embedder)
    if body.dimensions is not None and body.dimensions != embedder.n_embd:
        raise invalid_request(
            f"This model's embeddings have {embedder.n_embd} dimensions; it cannot make {body.dimensions}.",
            param="dimensions",
            code="unsupported_value",
        )
    try:
        vectors = await asyncio.to_thread(embedder.embed, token_lists)
    except EmbeddingError as exc:
        raise APIError(400, str(exc), param="input") from exc
    num_tokens = sum(map(len, token_lists))
    return EmbeddingList(
        data=[
            Embedding(index=index, embedding=_encoded(vector, body.encoding_format))
            for index, vector in enumerate(vectors)
        ],
        model=model.name,
        usage=EmbeddingUsage(prompt_tokens=num_tokens, total_tokens=num_tokens),
    )


@router.post("/v1/embeddings", response_model=EmbeddingList)
async def create_embeddings(request: Request, body: EmbeddingRequest, model: str | None = Query(None)) -> Any:
    return await respond_with_model(request, model, body.model, respond=lambda loaded: _embed(body, loaded))
