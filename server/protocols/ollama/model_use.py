"""Which model an Ollama request means, and for how long it stays loaded.

Names: Ollama's are `name:tag`, and its clients add `:latest` to a name without a tag, so a catalog
name is listed with `:latest` and `gemma-3-270m`, `gemma-3-270m:latest` and each alias (with or
without `:latest`) all find it; `hf.co/{owner}/{repo}:{quant}` finds the entry pulled from that repo
(with that quant tag, when one is given). An unknown name is a 404 in Ollama's words.

keep_alive: a number is seconds; a string a Go duration ("5m", "1h30m", "300ms"); a negative value
keeps the model loaded for good; zero unloads it once the request is over. A request with nothing to
generate loads the model (or unloads it, with keep_alive 0)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from fastapi import Request
from starlette.responses import JSONResponse

from server.models.catalog import Catalog, ModelEntry, ModelNotFound
from server.models.hub import quant_pattern
from server.models.pool import FOREVER, ModelPool
from server.pipeline.model_lease import acquire_lease, model_name, resolve_servable
from server.protocols.ollama.wire import KeepAlive, OllamaResponse, model_not_found
from server.service.errors import invalid_request

LATEST = ":latest"
# hf.co/owner/repo[:tag], as Ollama pulls from Hugging Face (huggingface.co/ is the same hub).
_HUB_NAME = re.compile(r"^(?:hf\.co|huggingface\.co)/(?P<repo>[\w.-]+/[\w.-]+)(?::(?P<tag>[\w.-]+))?$")


def listed_name(catalog_name: str) -> str:
    """The name Ollama's clients see: with a tag, `:latest` when it has none."""
    last = catalog_name.rsplit("/", 1)[-1]
    return catalog_name if ":" in last else catalog_name + LATEST


def hub_source(name: str) -> tuple[str, str | None] | None:
    """(repo, quant tag or None) of an `hf.co/...` name; None for any other name."""
    match = _HUB_NAME.match(name)
    if match is None:
        return None
    tag = match.group("tag")
    return match.group("repo"), None if tag in (None, "latest") else tag


def find_entry(catalog: Catalog, name: str) -> ModelEntry:
    """The catalog entry an Ollama name means; ModelNotFound if none (the wildcard alias aside)."""
    for candidate in (name, name.removesuffix(LATEST)):
        if catalog.has_name(candidate):
            return catalog.resolve(candidate)
    source = hub_source(name)
    if source is not None:
        repo, tag = source
        for entry in catalog.entries():
            hub = entry.hub
            if hub is None or hub.repo.lower() != repo.lower():
                continue
            file_name = hub.file or entry.path.name
            if (
                tag is None
                or (hub.quant or "").lower() == tag.lower()
                or quant_pattern(tag).search(file_name)
            ):
                return entry
    return catalog.resolve(name)  # the "*" alias, or ModelNotFound


_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_DURATION = re.compile(rf"[+-]?(?:{_PART.pattern})+")
# About 31 years: longer than any process runs, and still finite for arithmetic.
_MAX_SECONDS = 1e9


def duration_seconds(text: str) -> float:
    """A Go duration string in seconds; ValueError for anything else ("300" has no unit)."""
    if text in ("0", "+0", "-0"):
        return 0.0
    if not _DURATION.fullmatch(text):
        raise ValueError(
            f'time: invalid duration "{text}" (use a number of seconds, or units: "5m", "1h30m")'
        )
    sign = -1.0 if text.startswith("-") else 1.0
    return sign * sum(float(number) * _UNITS[unit] for number, unit in _PART.findall(text))


def keep_alive_seconds(value: float | str | None) -> float | None:
    """Seconds to stay loaded when idle (FOREVER for a negative value); None when not given."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            seconds = duration_seconds(value.strip())
        except ValueError as exc:
            raise invalid_request(str(exc), param="keep_alive") from None
    else:
        seconds = float(value)
    if seconds != seconds:  # NaN
        raise invalid_request("keep_alive must be a number of seconds or a duration.", param="keep_alive")
    if seconds < 0:
        return FOREVER
    return min(seconds, _MAX_SECONDS)


def pool_of(request: Request) -> ModelPool:
    return request.app.state.pool  # type: ignore[no-any-return]


def requested_name(request: Request, body_model: str | None) -> str:
    """?model= > body > default, as on every route that runs a model."""
    return model_name(request.query_params.get("model"), body_model, request.app.state.settings)


def find_model(request: Request, name: str) -> ModelEntry:
    try:
        entry = find_entry(pool_of(request).catalog, name)
    except ModelNotFound:
        raise model_not_found(name) from None
    resolve_servable(pool_of(request), entry.name)  # a file missing or unreadable: 409 now
    return entry


class KeepAliveRule:
    """A request's keep_alive: seconds to stay loaded when idle, or 0 (unload once it is over)."""

    def __init__(self, value: KeepAlive) -> None:
        self.seconds = keep_alive_seconds(value)

    @property
    def unloads(self) -> bool:
        return self.seconds == 0

    def apply_before(self, pool: ModelPool, name: str) -> None:
        if self.seconds is not None and not self.unloads:
            pool.set_idle_seconds(name, self.seconds)

    async def apply_while_leased(self, pool: ModelPool, name: str) -> None:
        # The lease holds the model; it unloads once the last response using it ends.
        if self.unloads:
            await pool.unload_when_idle(name)


async def load_or_unload(
    request: Request, entry: ModelEntry, keep_alive: KeepAliveRule, answer: Callable[[str], OllamaResponse]
) -> Any:
    """An empty request: load the model (done_reason "load") or, with keep_alive 0, unload it
    ("unload"). One JSON object either way, streamed or not, as Ollama answers."""
    pool = pool_of(request)
    if keep_alive.unloads:
        await pool.unload_when_idle(entry.name)
        return ollama_json(answer("unload"))
    keep_alive.apply_before(pool, entry.name)
    lease = await acquire_lease(pool, entry.name)
    lease.release()
    return ollama_json(answer("load"))


def ollama_json(response: OllamaResponse, status_code: int = 200) -> JSONResponse:
    return JSONResponse(response.model_dump(mode="json", exclude_none=True), status_code=status_code)
