"""One folder per wire dialect. Each package here declares `PROTOCOL`, a WireProtocol: its routes, the
error envelope of the paths it owns, and any state it keeps on the app. create_app installs every
protocol it finds here, so a new dialect is a new folder and nothing else.

A protocol imports the pipeline, the service and the layers below them, never another protocol.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from fastapi import APIRouter, FastAPI

from server.service.errors import ErrorBody, ErrorEnvelopes


@dataclass(frozen=True)
class WireProtocol:
    name: str
    routers: tuple[APIRouter, ...]
    # Path prefix -> error body: errors on those paths (and below them) take this envelope. None
    # registered: the default envelope.
    error_envelopes: Mapping[str, ErrorBody] = field(default_factory=dict)
    # State the protocol keeps on app.state (the Responses store): made with the app, closed after
    # the models when it stops.
    on_create: Callable[[FastAPI], None] | None = None
    on_close: Callable[[FastAPI], None] | None = None
    # Paths served without an API key (a connection check that clients make before sending one).
    keyless_paths: frozenset[str] = frozenset()
    # What `GET /` says to a client that is not a browser; the first protocol that sets one wins.
    root_text: str | None = None
    # Path prefixes whose bodies are JSON whatever their Content-Type says (clients that `curl -d`).
    json_body_prefixes: tuple[str, ...] = ()

    def install(self, app: FastAPI, envelopes: ErrorEnvelopes) -> None:
        for router in self.routers:
            app.include_router(router)
        for prefix, body in self.error_envelopes.items():
            envelopes.register(prefix, body)
        if self.on_create is not None:
            self.on_create(app)

    def close(self, app: FastAPI) -> None:
        if self.on_close is not None:
            self.on_close(app)


def discover() -> list[WireProtocol]:
    """Every protocol package under server/protocols/, in name order."""
    protocols = []
    for module in sorted(pkgutil.iter_modules(__path__), key=lambda module: module.name):
        if not module.ispkg:
            continue
        package = importlib.import_module(f"{__name__}.{module.name}")
        protocol = getattr(package, "PROTOCOL", None)
        if not isinstance(protocol, WireProtocol):
            raise TypeError(f"{package.__name__} declares no PROTOCOL (a WireProtocol)")
        protocols.append(protocol)
    return protocols
