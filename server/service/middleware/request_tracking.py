"""One record per HTTP request: its id (the X-Request-Id header), route, status, model, tokens and
timings. The middleware opens the record and hands it, finished, to the access log and the metrics.

The record travels in a context variable, so the generation code can note the model and the tokens
without the request being passed down to it; a streamed body runs in tasks that inherit the context.
"""

from __future__ import annotations

import contextvars
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from starlette.datastructures import MutableHeaders
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from server.engine.sequence import Event, Finished
from server.service.transports import STREAM_MEDIA_TYPES

log = logging.getLogger("localchat.api")

REQUEST_ID_HEADER = "x-request-id"
# An incoming id ends up in log lines, so only a tame alphabet and length are taken as they are.
_SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9._:/+=-]{1,128}")
UNMATCHED_ROUTE = "unmatched"


@dataclass
class RequestRecord:
    request_id: str
    method: str
    path: str
    started: float  # time.perf_counter()
    # The route's path template ("/v1/models/{model_id}"), so metrics labels stay few.
    route: str = UNMATCHED_ROUTE
    # None until the response starts; a request that raised without answering counts as 500.
    status: int | None = None
    is_stream: bool = False
    model: str | None = None
    num_prompt_tokens: int | None = None
    num_completion_tokens: int | None = None
    first_event_at: float | None = None
    finished_at: float | None = None

    @property
    def ttft_seconds(self) -> float | None:
        """Time to the first generated event: what a streaming client waits before text appears."""
        return None if self.first_event_at is None else self.first_event_at - self.started

    @property
    def duration_seconds(self) -> float:
        end = self.finished_at if self.finished_at is not None else time.perf_counter()
        return end - self.started


_current: contextvars.ContextVar[RequestRecord | None] = contextvars.ContextVar(
    "localchat_request_record", default=None
)


def note_model(name: str) -> None:
    record = _current.get()
    if record is not None:
        record.model = name


def note_event(event: Event) -> None:
    """Called for each engine event a response consumes; the first one marks the time to first token."""
    record = _current.get()
    if record is None:
        return
    if record.first_event_at is None:
        record.first_event_at = time.perf_counter()
    if isinstance(event, Finished):
        record.num_prompt_tokens = event.usage.prompt_tokens
        record.num_completion_tokens = event.usage.completion_tokens


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == REQUEST_ID_HEADER.encode():
            candidate = value.decode("latin-1")
            if _SAFE_REQUEST_ID.fullmatch(candidate):
                return candidate
            break
    return uuid.uuid4().hex


def _find_template(routes: Iterable[Any], scope: Scope) -> str | None:
    for route in routes:
        match, _ = route.matches(scope)
        if match is Match.NONE:
            continue
        path = getattr(route, "path", None)
        if isinstance(path, str) and path:
            return path
        # FastAPI wraps each included router in a route of its own: look among the router's routes.
        router = getattr(route, "original_router", route)
        found = _find_template(getattr(router, "routes", None) or (), scope)
        if found is not None:
            return found
    return None


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    if isinstance(getattr(route, "path", None), str):
        return str(route.path)  # type: ignore[union-attr]
    # Refused before routing (401, 413, 503): find the route the request was aimed at.
    app = scope.get("app")
    return _find_template(getattr(getattr(app, "router", None), "routes", ()), scope) or UNMATCHED_ROUTE


FinishHook = Callable[[RequestRecord], None]


class RequestTracking:
    """Pure ASGI middleware: opens the record, adds X-Request-Id, calls the hooks once the response
    has been sent completely (for a stream: after [DONE])."""

    def __init__(self, app: ASGIApp, on_finish: Sequence[FinishHook] = ()) -> None:
        self.app = app
        self.on_finish = tuple(on_finish)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        record = RequestRecord(
            request_id=_request_id(scope),
            method=scope["method"],
            path=scope["path"],
            started=time.perf_counter(),
        )

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                record.status = message["status"]
                headers = MutableHeaders(scope=message)
                headers[REQUEST_ID_HEADER] = record.request_id
                record.is_stream = headers.get("content-type", "").startswith(STREAM_MEDIA_TYPES)
            await send(message)

        token = _current.set(record)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            _current.reset(token)
            record.finished_at = time.perf_counter()
            record.route = _route_template(scope)
            if record.status is None:
                record.status = 500
            self._finish(record)

    def _finish(self, record: RequestRecord) -> None:
        for hook in self.on_finish:
            try:
                hook(record)
            except Exception:  # bookkeeping must never turn a served request into an error
                log.exception("request hook %r failed", hook)
