"""Bodies read as JSON whatever their Content-Type, below the path prefixes a protocol names: Ollama's
documentation and clients `curl -d '{...}'` (a form's Content-Type) or send none at all, and Ollama
reads the body as JSON regardless. Elsewhere a body that is not declared JSON stays a 415."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

_JSON = b"application/json"


class AssumeJSONBody:
    def __init__(self, app: ASGIApp, *, prefixes: tuple[str, ...]) -> None:
        self.app = app
        self.prefixes = prefixes

    def _applies(self, path: str) -> bool:
        return any(path == prefix or path.startswith(prefix.rstrip("/") + "/") for prefix in self.prefixes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("POST", "DELETE") and self._applies(scope["path"]):
            headers = [(key, value) for key, value in scope["headers"] if key != b"content-type"]
            declared = next((value for key, value in scope["headers"] if key == b"content-type"), b"")
            if b"json" not in declared.lower():
                scope = {**scope, "headers": [*headers, (b"content-type", _JSON)]}
        await self.app(scope, receive, send)
