"""Stream transports: how chunks are framed, what closes a stream, and the response that carries it
(its media type, and on_close however the stream ends)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI
from pydantic import BaseModel

from server.service.transports import STREAM_MEDIA_TYPES
from server.service.transports.ndjson import NDJSON, NDJSON_MEDIA_TYPE
from server.service.transports.sse import NAMED_EVENTS, SSE, SSE_MEDIA_TYPE


class Chunk(BaseModel):
    type: str
    text: str


def test_sse_frames_bare_data_lines_and_closes_with_done() -> None:
    sse = SSE(done="[DONE]")
    assert sse.frame(Chunk(type="delta", text="hi")) == {"data": '{"type":"delta","text":"hi"}'}
    assert sse.closing == ({"data": "[DONE]"},)


def test_sse_named_events_take_the_chunk_type_and_close_with_nothing() -> None:
    assert NAMED_EVENTS.frame(Chunk(type="delta", text="hi"))["event"] == "delta"
    assert NAMED_EVENTS.closing == ()


def test_ndjson_frames_one_line_per_chunk_with_no_keep_alive_or_closing() -> None:
    line = NDJSON().frame(Chunk(type="delta", text="a\nb"))
    assert line == '{"type":"delta","text":"a\\nb"}\n' and line.count("\n") == 1
    assert NDJSON.keep_alive is None and NDJSON().closing == ()


def test_both_media_types_count_as_streams() -> None:
    assert set(STREAM_MEDIA_TYPES) == {SSE_MEDIA_TYPE, NDJSON_MEDIA_TYPE}


async def test_ndjson_response_streams_lines_and_runs_on_close() -> None:
    closed: list[bool] = []

    async def lines() -> AsyncIterator[str]:
        for text in ("one", "two"):
            yield NDJSON().frame(Chunk(type="delta", text=text))

    app = FastAPI()

    @app.get("/stream")
    async def stream() -> object:
        return NDJSON().response(lines(), on_close=lambda: closed.append(True))

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client:
        response = await client.get("/stream")
    assert response.headers["content-type"].startswith(NDJSON_MEDIA_TYPE)
    assert [Chunk.model_validate_json(line).text for line in response.text.splitlines()] == ["one", "two"]
    assert closed == [True]
