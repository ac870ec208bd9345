"""POST /v1/embeddings: OpenAI's embeddings API on any loaded model's weights (see
server/engine/embeddings.py for how a vector is made)."""

from __future__ import annotations

import base64
from typing import Any, Literal

import numpy as np
from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from server.models.loader import LoadedModel
from server.pipeline.embedding import embed
from server.pipeline.model_lease import respond_with_model
from server.pipeline.wire import RequestModel
from server.service.errors import invalid_request

router = APIRouter()


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


def _encoded(vector: np.ndarray, encoding: str) -> list[float] | str:
    if encoding == "base64":
        return base64.b64encode(vector.astype("<f4").tobytes()).decode("ascii")
    return vector.tolist()


async def _embed(body: EmbeddingRequest, model: LoadedModel) -> EmbeddingList:
    embedded = await embed(model, _inputs(body))
    if body.dimensions is not None and body.dimensions != embedded.n_embd:
        raise invalid_request(
            f"This model's embeddings have {embedded.n_embd} dimensions; it cannot make {body.dimensions}.",
            param="dimensions",
            code="unsupported_value",
        )
    return EmbeddingList(
        data=[
            Embedding(index=index, embedding=_encoded(vector, body.encoding_format))
            for index, vector in enumerate(embedded.vectors)
        ],
        model=model.name,
        usage=EmbeddingUsage(prompt_tokens=embedded.num_tokens, total_tokens=embedded.num_tokens),
    )


@router.post("/v1/embeddings", response_model=EmbeddingList)
async def create_embeddings(request: Request, body: EmbeddingRequest, model: str | None = Query(None)) -> Any:
    return await respond_with_model(request, model, body.model, respond=lambda loaded: _embed(body, loaded))
