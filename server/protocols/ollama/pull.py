"""POST /api/pull on localchat's Hugging Face pull: `hf.co/{owner}/{repo}:{quant}` (or without a tag:
the repo's only GGUF file, else its Q4_K_M) fetched into the models folder and added to the catalog
under that name, with Ollama's status lines as it goes: `pulling manifest`, `pulling <digest>` with
`total` and `completed`, `verifying sha256 digest`, `writing manifest`, `success`. A name already in
the catalog with its file here is a success at once; Ollama's own registry names are a clear error."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request

from server.models.catalog import ModelNotFound
from server.models.hub import HubFile, PullError
from server.models.pull import pull, pull_entry
from server.protocols.ollama.catalog_changes import catalog_lock, catalog_name, reload_catalog
from server.protocols.ollama.model_use import find_entry, hub_source, ollama_json, pool_of
from server.protocols.ollama.output import OLLAMA_NDJSON, error_line
from server.protocols.ollama.wire import API_PREFIX, ProgressResponse, PullRequest
from server.service.errors import APIError, invalid_request

log = logging.getLogger("localchat.hub")
router = APIRouter()
PULL_PATH = f"{API_PREFIX}/pull"
# Ollama's clients show progress from lines a few times a second; more is noise.
_REPORT_SECONDS = 0.25
_DEFAULT_QUANT = "Q4_K_M"


def _status(status: str, **fields: Any) -> ProgressResponse:
    return ProgressResponse(status=status, **fields)


def _pulling(file: HubFile, completed: int, total: int | None) -> ProgressResponse:
    key = file.sha256 or file.blob_id or file.commit
    return _status(f"pulling {key[:12]}", digest=f"sha256:{key}", total=total, completed=completed or None)


class _Pull:
    """One pull in a worker thread, its progress handed to the event loop as status lines."""

    def __init__(self, request: Request, name: str) -> None:
        self._app = request.app
        self._name = name
        self._loop = asyncio.get_running_loop()
        self._lines: asyncio.Queue[ProgressResponse | APIError | None] = asyncio.Queue()
        self._file: HubFile | None = None
        self._last_report = 0.0

    def _put(self, item: ProgressResponse | APIError | None) -> None:
        self._loop.call_soon_threadsafe(self._lines.put_nowait, item)

    def _on_file(self, file: HubFile) -> None:
        self._file = file

    def _report(self, completed: int, total: int | None) -> None:
        now = time.monotonic()
        is_done = total is not None and completed >= total
        if self._file is None or (now - self._last_report < _REPORT_SECONDS and not is_done):
            return
        self._last_report = now
        self._put(_pulling(self._file, completed, total))

    def _run(self) -> None:
        app = self._app
        pool = app.state.pool
        try:
            try:
                entry = find_entry(pool.catalog, self._name)
            except ModelNotFound:
                entry = None
            if entry is not None and entry.path.exists():
                return
            if entry is not None and entry.hub is not None:
                pull_entry(entry)
                return
            source = hub_source(self._name)
            if source is None:
                raise invalid_request(
                    f"'{self._name}' is a name in Ollama's registry, which localchat does not pull from. "
                    "Pull a GGUF from Hugging Face: hf.co/{owner}/{repo}:{quant}, e.g. "
                    "hf.co/Qwen/Qwen2.5-0.5B-Instruct-GGUF:Q4_K_M.",
                    param="model",
                    code="unsupported_value",
                )
            repo, tag = source
            try:
                self._pull(repo, tag)
            except PullError:
                if tag is not None:
                    raise
                self._pull(repo, _DEFAULT_QUANT)  # several files and no tag: Ollama's default quant
        except PullError as exc:
            self._put(APIError(400, f"pull model manifest: {exc}", param="model", code="pull_failed"))
        except APIError as exc:
            self._put(exc)
        except Exception as exc:
            log.exception("pull of '%s' failed", self._name)
            self._put(APIError(500, f"pull failed: {exc}", code="pull_failed"))
        finally:
            self._put(None)

    def _pull(self, repo: str, tag: str | None) -> None:
        pull(
            self._app.state.settings,
            repo,
            tag,
            name=catalog_name(self._name),
            show_progress=False,
            on_file=self._on_file,
            report=self._report,
        )

    async def lines(self) -> AsyncIterator[ProgressResponse | APIError]:
        yield _status("pulling manifest")
        async with catalog_lock(self._app):
            worker = asyncio.ensure_future(asyncio.to_thread(self._run))
            failed = False
            while (item := await self._lines.get()) is not None:
                failed = failed or isinstance(item, APIError)
                yield item
            await worker
            if not failed:
                reload_catalog(self._app)
        if not failed:
            yield _status("verifying sha256 digest")
            yield _status("writing manifest")
            yield _status("success")


async def _framed(lines: AsyncIterator[ProgressResponse | APIError]) -> AsyncIterator[str]:
    async for line in lines:
        if isinstance(line, APIError):
            for framed in error_line(line):
                yield framed
            return
        yield OLLAMA_NDJSON.frame(line)


@router.post(PULL_PATH, response_model=ProgressResponse, response_model_exclude_none=True)
async def pull_model(request: Request, body: PullRequest) -> Any:
    name = body.model_name
    if not name:
        raise invalid_request("model is required", param="model")
    pool_of(request)  # the pool exists before a pull starts
    lines = _Pull(request, name).lines()
    if body.stream is not False:
        return OLLAMA_NDJSON.response(_framed(lines))
    last: ProgressResponse | None = None
    async for line in lines:
        if isinstance(line, APIError):
            raise line
        last = line
    assert last is not None
    return ollama_json(last)
