"""Newline-delimited JSON: one chunk a line, nothing before or after (Ollama's native API streams so).
A line must be a whole JSON value, so there is no keep-alive line: the headers go out at once and the
first chunk follows when there is one. With `exclude_none`, a chunk's None fields are left out (a
dialect whose fields are omitted when empty)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from pydantic import BaseModel
from starlette.responses import StreamingResponse

from server.service.transports.transport import RunsOnClose

NDJSON_MEDIA_TYPE = "application/x-ndjson"


@dataclass(frozen=True)
class NDJSON:
    media_type: ClassVar[str] = NDJSON_MEDIA_TYPE
    keep_alive: ClassVar[None] = None
    closing: ClassVar[tuple[str, ...]] = ()
    exclude_none: bool = False

    def frame(self, chunk: BaseModel) -> str:
        return chunk.model_dump_json(exclude_none=self.exclude_none) + "\n"

    def response(
        self,
        stream: AsyncIterator[Any],
        *,
        ping_seconds: float = 0.0,
        on_close: Callable[[], None] | None = None,
    ) -> StreamingResponse:
        return _NDJSONResponse(stream, on_close=on_close)


class _NDJSONResponse(RunsOnClose, StreamingResponse):
    def __init__(self, stream: AsyncIterator[str], *, on_close: Callable[[], None] | None) -> None:
        super().__init__(stream, media_type=NDJSON_MEDIA_TYPE)
        self._on_close = on_close
