"""The one OpenAI error envelope, its factory, and the handlers that route every failure through it."""

from __future__ import annotations

import json
import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from server.api.validation_errors import describe_validation_errors

log = logging.getLogger("localchat.api")

_TYPE_BY_STATUS = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "invalid_request_error",
    405: "invalid_request_error",
    409: "invalid_request_error",
    413: "invalid_request_error",
    415: "invalid_request_error",
    429: "rate_limit_exceeded",
    503: "server_unavailable",
}


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


class APIError(Exception):
    """Raised anywhere below the routers; rendered as {"error": {...}} with `status`."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.param = param
        self.headers = headers or {}

    @property
    def type(self) -> str:
        return _TYPE_BY_STATUS.get(
            self.status, "server_error" if self.status >= 500 else "invalid_request_error"
        )

    def to_dict(self) -> dict[str, Any]:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}

    def to_anthropic_dict(self) -> dict[str, Any]:
        kind = _ANTHROPIC_TYPE_BY_STATUS.get(
            self.status, "api_error" if self.status >= 500 else "invalid_request_error"
        )
        return {"type": "error", "error": {"type": kind, "message": self.message}}

    def to_response(self, path: str = "") -> JSONResponse:
        """The error in the envelope of the API `path` belongs to: Anthropic's on its Messages routes,
        OpenAI's everywhere else."""
        body = self.to_anthropic_dict() if is_anthropic_path(path) else self.to_dict()
        return JSONResponse(body, status_code=self.status, headers=self.headers)


ANTHROPIC_PREFIX = "/v1/messages"
_ANTHROPIC_TYPE_BY_STATUS = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    413: "request_too_large",
    429: "rate_limit_error",
    503: "overloaded_error",
}


def is_anthropic_path(path: str) -> bool:
    return path == ANTHROPIC_PREFIX or path.startswith(ANTHROPIC_PREFIX + "/")


def invalid_request(message: str, *, param: str | None = None, code: str | None = None) -> APIError:
    return APIError(400, message, param=param, code=code)


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
    @app.exception_handler(APIError)
    async def _api_error(request: Request, exc: APIError) -> JSONResponse:
        return exc.to_response(request.url.path)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        if not _is_json_media_type(request):
            # FastAPI does not parse a form or text body as JSON, so every field looks missing.
            return APIError(
                415,
                "The request body must be JSON, sent with Content-Type: application/json.",
                code="unsupported_media_type",
            ).to_response(request.url.path)
        return _validation_error(exc).to_response(request.url.path)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400 and exc.detail == _BODY_PARSE_DETAIL:
            return invalid_request(
                "We could not parse the JSON body of your request: it is not valid UTF-8, "
                "or it is nested too deeply.",
                code="invalid_json",
            ).to_response(request.url.path)
        message = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
        return APIError(exc.status_code, message, headers=dict(exc.headers or {})).to_response(
            request.url.path
        )

    @app.exception_handler(UnicodeError)
    async def _unicode(request: Request, exc: UnicodeError) -> JSONResponse:
        # JSON may spell a lone surrogate ("\\ud800"), which no UTF-8 text can carry to the model.
        return invalid_request(
            "The request contains text that is not valid Unicode (a lone surrogate such as \\ud800).",
            code="invalid_unicode",
        ).to_response(request.url.path)

    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error", exc_info=exc)
        return APIError(
            500, f"Internal server error: {type(exc).__name__}", code="internal_error"
        ).to_response(request.url.path)

    # A handler for Exception itself runs in Starlette's outermost middleware, which re-raises after
    # answering, and uvicorn then drops the keep-alive connection. Handlers for these (and their
    # subclasses) run inside the app instead, so a bug costs one 500, not the client's connection.
    for kind in _ANSWERED_IN_APP:
        app.add_exception_handler(kind, _unexpected)
    app.add_exception_handler(Exception, _unexpected)
