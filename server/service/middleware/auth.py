"""Optional API keys: `Authorization: Bearer <key>` (or `x-api-key: <key>`, as Anthropic's and other
clients send it) on every route except CORS preflights and the open paths (service/open_paths.py).

Installed only when keys are configured. A missing or wrong key gets a 401 (authentication_error, code
invalid_api_key) in the envelope of the protocol the path belongs to.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable

from starlette.types import ASGIApp, Receive, Scope, Send

from server.service.errors import APIError, error_response


def _digest(key: bytes) -> bytes:
    # Comparing fixed-length digests keeps the comparison time independent of the keys' lengths.
    return hashlib.sha256(key).digest()


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return value
    return None


def bearer_token(scope: Scope) -> bytes | None:
    """The key from `Authorization: Bearer <key>`, or from `x-api-key: <key>` as Anthropic's
    clients send it."""
    value = _header(scope, b"authorization")
    if value is None:
        api_key = _header(scope, b"x-api-key")
        return api_key.strip() or None if api_key is not None else None
    scheme, _, token = value.strip().partition(b" ")
    if scheme.lower() != b"bearer" or not token.strip():
        return None
    return token.strip()


def _is_preflight(scope: Scope) -> bool:
    # Browsers never send credentials on a preflight, so it must pass to reach CORS handling.
    return scope["method"] == "OPTIONS" and _header(scope, b"access-control-request-method") is not None


class APIKeyAuth:
    """Pure ASGI middleware; keys are compared in constant time, every key every time."""

    def __init__(
        self, app: ASGIApp, keys: Iterable[str], is_open: Callable[[str], bool] = lambda path: False
    ) -> None:
        self.app = app
        self._is_open = is_open
        self._digests = tuple(_digest(key.encode()) for key in keys)
        if not self._digests:
            raise ValueError("APIKeyAuth needs at least one key")

    def is_authorized(self, token: bytes | None) -> bool:
        if token is None:
            return False
        candidate = _digest(token)
        # No early exit: the time taken does not tell which key, if any, came close.
        matched = False
        for digest in self._digests:
            matched |= hmac.compare_digest(candidate, digest)
        return matched

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or self._is_open(path) or _is_preflight(scope):
            await self.app(scope, receive, send)
            return
        token = bearer_token(scope)
        if self.is_authorized(token):
            await self.app(scope, receive, send)
            return
        if token is None:
            message = (
                "You didn't provide an API key. You need to provide your API key in an Authorization "
                "header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
            )
        else:
            message = "Incorrect API key provided."
        error = APIError(401, message, code="invalid_api_key", headers={"WWW-Authenticate": "Bearer"})
        await error_response(error, scope)(scope, receive, send)
