"""POST /tokenize and POST /detokenize in llama-server's shapes, on the chosen model's vocabulary.

`/tokenize` takes `content`, returns `tokens` (ids, or with `with_pieces` objects with the id and its
text; a piece that is not whole UTF-8 comes as its list of bytes, as llama-server does).
`/detokenize` takes `tokens`, returns `content`. Model choice: `?model=` > body `model` > default.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, Field

from server.models.loader import LoadedModel
from server.pipeline.model_lease import respond_with_model
from server.pipeline.sampling import check_token_ids
from server.pipeline.wire import RequestModel

router = APIRouter()
# Token lists are bounded by the request body limit; this caps the work per request on top.
MAX_DETOKENIZE_TOKENS = 1_000_000


class TokenizeRequest(RequestModel):
    content: str
    model: str | None = None
    # Add the model's BOS (and EOS where the model wants one), as a prompt would start.
    add_special: bool = False
    # Read "<start_of_turn>" and the like as the special tokens they name, not as text.
    parse_special: bool = True
    with_pieces: bool = False


class TokenPiece(BaseModel):
    id: int
    piece: str | list[int]


class TokenizeResponse(BaseModel):
    tokens: list[int] | list[TokenPiece]


class DetokenizeRequest(RequestModel):
    tokens: list[int] = Field(max_length=MAX_DETOKENIZE_TOKENS)
    model: str | None = None


class DetokenizeResponse(BaseModel):
    content: str


def _piece(raw: bytes) -> str | list[int]:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return list(raw)


def _tokenize(body: TokenizeRequest, model: LoadedModel) -> TokenizeResponse:
    runtime = model.runtime
    add_bos = body.add_special and runtime.adds_bos
    tokens = runtime.tokenize(body.content, add_bos=add_bos, parse_special=body.parse_special)
    if not body.with_pieces:
        return TokenizeResponse(tokens=tokens)
    return TokenizeResponse(
        tokens=[TokenPiece(id=token, piece=_piece(runtime.token_bytes_special(token))) for token in tokens]
    )


def _detokenize(body: DetokenizeRequest, model: LoadedModel) -> DetokenizeResponse:
    runtime = model.runtime
    check_token_ids(body.tokens, model, what="'tokens'", param="tokens")
    raw = b"".join(runtime.token_bytes_special(token) for token in body.tokens)
    return DetokenizeResponse(content=raw.decode("utf-8", errors="replace"))


@router.post("/tokenize", response_model=TokenizeResponse)
async def tokenize(request: Request, body: TokenizeRequest, model: str | None = Query(None)) -> Any:
    async def respond(loaded: LoadedModel) -> TokenizeResponse:
        # Megabytes of text take seconds to tokenize: not on the event loop.
        return await asyncio.to_thread(_tokenize, body, loaded)

    return await respond_with_model(request, model, body.model, respond=respond)


@router.post("/detokenize", response_model=DetokenizeResponse)
async def detokenize(request: Request, body: DetokenizeRequest, model: str | None = Query(None)) -> Any:
    async def respond(loaded: LoadedModel) -> DetokenizeResponse:
        return await asyncio.to_thread(_detokenize, body, loaded)

    return await respond_with_model(request, model, body.model, respond=respond)
