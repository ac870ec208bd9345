"""POST /api/embed (`input`: a text or texts -> `embeddings`) and the older POST /api/embeddings
(`prompt` -> `embedding`), on the pipeline's embedding of any model. Vectors are L2-normalised (both
routes: localchat has one embedding); `dimensions` keeps the first ones and normalises again, and
`truncate` (on by default, as in Ollama) cuts an input to the context instead of refusing it."""

from __future__ import annotations

from typing import Any

import numpy as np
from fastapi import APIRouter, Request

from server.models.pool import LoadedModel
from server.pipeline.embedding import embed
from server.pipeline.model_lease import respond_with_model
from server.protocols.ollama.model_use import KeepAliveRule, find_model, ollama_json, pool_of, requested_name
from server.protocols.ollama.output import Timing
from server.protocols.ollama.wire import (
    API_PREFIX,
    EmbeddingResponse,
    EmbeddingsRequest,
    EmbedRequest,
    EmbedResponse,
)

router = APIRouter()


def _shortened(vector: np.ndarray, dimensions: int | None) -> list[float]:
    if dimensions is None or dimensions >= len(vector):
        return [float(value) for value in vector]
    head = vector[:dimensions].astype(np.float64)
    norm = float(np.linalg.norm(head))
    return [float(value) for value in (head / norm if norm > 0 else head)]


@router.post(f"{API_PREFIX}/embed", response_model=EmbedResponse, response_model_exclude_none=True)
async def embed_texts(request: Request, body: EmbedRequest) -> Any:
    timing = Timing()
    name = requested_name(request, body.model)
    entry = find_model(request, name)
    inputs = [body.input] if isinstance(body.input, str) else body.input
    keep_alive = KeepAliveRule(body.keep_alive)
    keep_alive.apply_before(pool_of(request), entry.name)

    async def respond(loaded: LoadedModel) -> Any:
        timing.ready()
        await keep_alive.apply_while_leased(pool_of(request), loaded.name)
        if not inputs or inputs == [""]:
            return ollama_json(EmbedResponse(model=name, embeddings=[]))  # Ollama: this only loads it
        embedded = await embed(loaded, inputs, truncate=body.truncate)
        metrics = timing.metrics_of_prompt(embedded.num_tokens)
        return ollama_json(
            EmbedResponse(
                model=name,
                embeddings=[_shortened(vector, body.dimensions) for vector in embedded.vectors],
                **metrics,
            )
        )

    return await respond_with_model(request, None, entry.name, respond=respond)


@router.post(f"{API_PREFIX}/embeddings", response_model=EmbeddingResponse)
async def embed_prompt(request: Request, body: EmbeddingsRequest) -> Any:
    name = requested_name(request, body.model)
    entry = find_model(request, name)
    keep_alive = KeepAliveRule(body.keep_alive)
    keep_alive.apply_before(pool_of(request), entry.name)

    async def respond(loaded: LoadedModel) -> Any:
        await keep_alive.apply_while_leased(pool_of(request), loaded.name)
        if not body.prompt:
            return ollama_json(EmbeddingResponse(embedding=[]))
        embedded = await embed(loaded, [body.prompt], param="prompt", truncate=True)
        return ollama_json(EmbeddingResponse(embedding=_shortened(embedded.vectors[0], None)))

    return await respond_with_model(request, None, entry.name, respond=respond)
