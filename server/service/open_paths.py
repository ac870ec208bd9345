"""The one list of paths that stay open when the rest is guarded: what the outside uses to watch the
server (health checks, metrics scrapes) and the static files of a page that asks for its key itself."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

HEALTH_PATH = "/health"
METRICS_PATH = "/metrics"


def _no_path(path: str) -> bool:
    return False


@dataclass(frozen=True)
class OpenPaths:
    # Static files that hold no data (the playground's), open without a key when served at all.
    is_static: Callable[[str], bool] = _no_path

    def is_keyless(self, path: str) -> bool:
        """Served without an API key: orchestrators probe /health with no credentials."""
        return path == HEALTH_PATH or self.is_static(path)

    def is_open_while_draining(self, path: str) -> bool:
        """Served after shutdown began: how the outside sees the shutdown."""
        return path in (HEALTH_PATH, METRICS_PATH)
