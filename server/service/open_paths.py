"""The one list of paths that stay open when the rest is guarded: what the outside uses to watch the
server (health checks, metrics scrapes) and the static files of a page that asks for its key itself."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

HEALTH_PATH = "/health"
METRICS_PATH = "/metrics"
ROOT_PATH = "/"


def no_path(path: str) -> bool:
    return False


@dataclass(frozen=True)
class OpenPaths:
    # Static files that hold no data (the playground's), open without a key when served at all.
    is_static: Callable[[str], bool] = no_path
    # Paths protocols open (Ollama's /api/version, which clients call to check the connection).
    keyless: frozenset[str] = frozenset()

    def is_keyless(self, path: str) -> bool:
        """Served without an API key: orchestrators probe /health with no credentials, and `/` says
        only that the server runs."""
        return path in (HEALTH_PATH, ROOT_PATH) or path in self.keyless or self.is_static(path)

    def is_open_while_draining(self, path: str) -> bool:
        """Served after shutdown began: how the outside sees the shutdown."""
        return path in (HEALTH_PATH, METRICS_PATH)
