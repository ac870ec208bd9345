"""The handlers that route every failure through the error envelopes: APIError, request validation,
HTTP errors, text that is not valid Unicode, and our own bugs (a 500 that keeps the connection)."""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from server.service.errors import APIError, error_response, invalid_request
from server.service.validation_errors import describe_validation_errors

log = logging.getLogger("localchat.api")

# Failures of ours (bugs) that should still leave the connection open; see install_error_handlers.
_ANSWERED_IN_APP: tuple[type[Exception], ...] = (
    ArithmeticError,
    AssertionError,
    AttributeError,
    LookupError,
    RuntimeError,
    TypeError,
    ValueError,
)


def _param_from_location(location: tuple[Any, ...]) -> str | None:
    # ("body", "messages", 0, "role") -> "messages.0.role"; the "body" prefix is noise for clients.
    parts = [str(part) for part in location if part not in ("body", "query")]
    return ".".join(parts) or None


# FastAPI's detail when the body is not JSON it can decode at all (invalid UTF-8, nesting deeper than the
# parser's recursion limit): it raises a bare HTTPException(400) with this text.
_BODY_PARSE_DETAIL = "There was an error parsing the body"


def _is_json_media_type(request: Request) -> bool:
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    # No Content-Type at all is read as JSON, as FastAPI (and OpenAI's API) do.
    return not media_type or media_type == "application/json" or media_type.endswith("+json")


def _validation_error(exc: RequestValidationError) -> APIError:
    errors = exc.errors()
    first = errors[0] if errors else {}
    if first.get("type") == "invalid_unicode":
        param = _param_from_location(tuple(first.get("loc", ())))
        where = (first.get("ctx") or {}).get("param") or param
        return invalid_request(
            f"The request contains text that is not valid Unicode (a lone surrogate such as \\ud800)"
            f"{f' at {where!r}' if where else ''}.",
            param=where,
            code="invalid_unicode",
        )
    if first.get("type") == "json_invalid":
        return invalid_request(
            f"We could not parse the JSON body of your request: {first.get('msg', 'invalid JSON')}.",
            code="invalid_json",
        )
    problem = describe_validation_errors(errors, exc.body)
    return invalid_request(problem.message, param=problem.param, code=problem.code)


def install_error_handlers(app: FastAPI) -> None:
    def answer(request: Request, exc: APIError) -> JSONResponse:
        return error_response(exc, request.scope)

    @app.exception_handler(APIError)
    async def _api_error(request: Request, exc: APIError) -> JSONResponse:
        return answer(request, exc)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        if not _is_json_media_type(request):
            # FastAPI does not parse a form or text body as JSON, so every field looks missing.
            unsupported = APIError(
                415,
                "The request body must be JSON, sent with Content-Type: application/json.",
                code="unsupported_media_type",
            )
            return answer(request, unsupported)
        return answer(request, _validation_error(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and exc.detail == _BODY_PARSE_DETAIL:
            unparsable = invalid_request(
                "We could not parse the JSON body of your request: it is not valid UTF-8, "
                "or it is nested too deeply.",
                code="invalid_json",
            )
            return answer(request, unparsable)
        message = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
        return answer(request, APIError(exc.status_code, message, headers=dict(exc.headers or {})))

    @app.exception_handler(UnicodeError)
    async def _unicode(request: Request, exc: UnicodeError) -> JSONResponse:
        # JSON may spell a lone surrogate ("\\ud800"), which no UTF-8 text can carry to the model.
        not_unicode = invalid_request(
            "The request contains text that is not valid Unicode (a lone surrogate such as \\ud800).",
            code="invalid_unicode",
        )
        return answer(request, not_unicode)

    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error", exc_info=exc)
        return answer(
            request, APIError(500, f"Internal server error: {type(exc).__name__}", code="internal_error")
        )

    # A handler for Exception itself runs in Starlette's outermost middleware, which re-raises after
    # answering, and uvicorn then drops the keep-alive connection. Handlers for these (and their
    # subclasses) run inside the app instead, so a bug costs one 500, not the client's connection.
    for kind in _ANSWERED_IN_APP:
        app.add_exception_handler(kind, _unexpected)
    app.add_exception_handler(Exception, _unexpected)
