"""The one error type raised anywhere below the routes, and the envelopes it is answered in.

Each dialect answers errors in its own envelope (Anthropic's on its Messages routes, say). A protocol
registers its envelope for the path prefixes it owns; the longest prefix that matches a path wins, and
a path no protocol claims gets the default envelope, `{"error": {"message", "type", "param", "code"}}`
(OpenAI's shape, the one most clients parse). Middleware that refuses a request before routing (a
missing key, a body too large) finds the envelope the same way, through the app in the ASGI scope.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.responses import JSONResponse
from starlette.types import Scope

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


class APIError(Exception):
    """Raised anywhere below the routers; rendered in the envelope of the path's protocol."""

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
        """The default envelope."""
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


def invalid_request(message: str, *, param: str | None = None, code: str | None = None) -> APIError:
    return APIError(400, message, param=param, code=code)


# An error as one protocol's response body.
ErrorBody = Callable[[APIError], dict[str, Any]]


def default_error_body(exc: APIError) -> dict[str, Any]:
    return exc.to_dict()


class ErrorEnvelopes:
    """Which envelope answers an error on a path: the protocol owning the longest matching prefix."""

    def __init__(self) -> None:
        self._by_prefix: dict[str, ErrorBody] = {}

    def register(self, prefix: str, body: ErrorBody) -> None:
        """`prefix` owns itself and every path below it ("/api" and "/api/…", not "/apis")."""
        if prefix in self._by_prefix:
            raise ValueError(f"the error envelope of '{prefix}' is registered twice")
        self._by_prefix[prefix] = body

    def body_for(self, path: str) -> ErrorBody:
        owners = [
            prefix
            for prefix in self._by_prefix
            if path == prefix or path.startswith(prefix.rstrip("/") + "/")
        ]
        return self._by_prefix[max(owners, key=len)] if owners else default_error_body

    def response(self, exc: APIError, path: str) -> JSONResponse:
        return JSONResponse(self.body_for(path)(exc), status_code=exc.status, headers=exc.headers)


def envelopes_of(scope: Scope) -> ErrorEnvelopes:
    """The app's envelopes (create_app puts them on app.state); the default alone outside an app."""
    state = getattr(scope.get("app"), "state", None)
    envelopes = getattr(state, "error_envelopes", None)
    return envelopes if isinstance(envelopes, ErrorEnvelopes) else ErrorEnvelopes()


def error_response(exc: APIError, scope: Scope) -> JSONResponse:
    """The error in the envelope of the protocol that owns the request's path."""
    return envelopes_of(scope).response(exc, scope.get("path", ""))
