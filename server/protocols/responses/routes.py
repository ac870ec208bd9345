"""OpenAI's Responses API: POST /v1/responses on the chat pipeline, and the stored responses
(GET and DELETE /v1/responses/{id}, GET /v1/responses/{id}/input_items)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Literal

from fastapi import APIRouter, Query, Request

from server.models.pool import LoadedModel
from server.pipeline.chat_pipeline import answer_chat, start_chat
from server.pipeline.model_lease import respond_with_model
from server.pipeline.stream_envelope import stream_envelope
from server.protocols.responses.input import chat_request, function_tools, input_items
from server.protocols.responses.output import RESPONSES_STREAM, ResponseEvents, answer_output, finished
from server.protocols.responses.store import ResponseStore, StoredResponse, StoreUnavailable
from server.protocols.responses.wire import (
    DeletedResponse,
    InputItemList,
    ReasoningConfig,
    ResponseObject,
    ResponseRequest,
    TextConfig,
    item_id,
)
from server.service.errors import APIError, invalid_request

router = APIRouter()
log = logging.getLogger("localchat.api")


def _store(request: Request) -> ResponseStore:
    return request.app.state.response_store


def _not_found(response_id: str, param: str | None = None) -> APIError:
    return APIError(
        404, f"No response with id '{response_id}' is stored here.", param=param, code="response_not_found"
    )


async def _call_store(work: Any, *args: Any) -> Any:
    try:
        return await asyncio.to_thread(work, *args)
    except StoreUnavailable as exc:
        raise APIError(503, f"The response store is unavailable: {exc}", code="store_unavailable") from exc


async def _stored(request: Request, response_id: str, param: str | None = None) -> StoredResponse:
    stored = await _call_store(_store(request).get, response_id)
    if stored is None:
        raise _not_found(response_id, param)
    return stored


def _as_input_items(output: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # An earlier answer joins the conversation as the items it was, minus its streaming status.
    return [{key: value for key, value in item.items() if key != "status"} for item in output]


def _skeleton(body: ResponseRequest, name: str) -> ResponseObject:
    """The response as it starts: what the request asked for, no output yet."""
    return ResponseObject(
        id=item_id("resp"),
        status="in_progress",
        instructions=body.instructions,
        max_output_tokens=body.max_output_tokens,
        model=name,
        parallel_tool_calls=body.parallel_tool_calls,
        previous_response_id=body.previous_response_id,
        reasoning=body.reasoning or ReasoningConfig(),
        store=body.store,
        temperature=1.0 if body.temperature is None else body.temperature,
        text=body.text or TextConfig(),
        tool_choice=body.tool_choice or "auto",
        tools=function_tools(body),
        top_p=1.0 if body.top_p is None else body.top_p,
        user=body.user,
        metadata=body.metadata or {},
    )


@router.post("/v1/responses", response_model=None)
async def create_response(request: Request, body: ResponseRequest, model: str | None = Query(None)) -> Any:
    if body.background:
        raise invalid_request(
            "Background responses are not supported.", param="background", code="unsupported_value"
        )
    context: list[dict[str, Any]] = []
    if body.previous_response_id is not None:
        previous = await _stored(request, body.previous_response_id, "previous_response_id")
        context = previous.context + _as_input_items(previous.response["output"])
    context += input_items(body)
    chat = chat_request(body, context)
    if body.store:
        # Refused now, before any answer, rather than answered and then not kept.
        await _call_store(_store(request).check_writable)
    return await respond_with_model(
        request,
        model,
        body.model,
        respond=lambda loaded: _respond(request, body, chat, context, loaded),
        stream=RESPONSES_STREAM if body.stream else None,
    )


async def _respond(
    request: Request, body: ResponseRequest, chat: Any, context: list[dict[str, Any]], loaded: LoadedModel
) -> Any:
    skeleton = _skeleton(body, loaded.name)
    run = await start_chat(request, chat, loaded)
    store = _store(request)

    def keep(response: ResponseObject) -> None:
        if body.store:
            try:
                store.save(response.model_dump(mode="json"), context)
            except StoreUnavailable:
                # Already streamed: the client has its answer; the store logged why it kept none.
                log.warning("streamed response %s not stored", response.id)

    if body.stream:
        events = ResponseEvents(run.prepared, skeleton, keep)
        return stream_envelope(run.events, events, RESPONSES_STREAM.transport)
    answer = await answer_chat(request, run)
    response = finished(skeleton, answer_output(answer), answer.finish_reason, answer.usage)
    if body.store:
        await _call_store(store.save, response.model_dump(mode="json"), context)
    return response


@router.get("/v1/responses/{response_id}", response_model=None)
async def get_response(request: Request, response_id: str) -> Any:
    return (await _stored(request, response_id)).response


@router.delete("/v1/responses/{response_id}", response_model=DeletedResponse)
async def delete_response(request: Request, response_id: str) -> Any:
    if not await _call_store(_store(request).delete, response_id):
        raise _not_found(response_id)
    return DeletedResponse(id=response_id)


@router.get("/v1/responses/{response_id}/input_items", response_model=InputItemList)
async def list_input_items(
    request: Request,
    response_id: str,
    limit: int = Query(20, ge=1, le=100),
    order: Literal["asc", "desc"] = Query("desc"),
    after: str | None = Query(None),
) -> Any:
    items = (await _stored(request, response_id)).context
    if order == "desc":
        items = items[::-1]
    if after is not None:
        ids = [item.get("id") for item in items]
        if after not in ids:
            raise invalid_request(f"No input item with id '{after}' in this response.", param="after")
        items = items[ids.index(after) + 1 :]
    page = items[:limit]
    return InputItemList(
        data=page,
        first_id=page[0]["id"] if page else None,
        last_id=page[-1]["id"] if page else None,
        has_more=len(items) > limit,
    )
