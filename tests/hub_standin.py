"""A stand-in for the Hugging Face Hub on 127.0.0.1, serving just what huggingface_hub asks for a pull.

- GET /api/models/{repo} and /api/models/{repo}/revision/{rev}: the file list with sizes and LFS
  sha256 (what `HfApi.model_info(files_metadata=True)` reads).
- HEAD and GET /{repo}/resolve/{rev}/{path}: the file, with X-Repo-Commit, ETag, X-Linked-Etag and
  X-Linked-Size as the real hub sends them for LFS files, and Range requests for resuming.

Errors carry the X-Error-Code header huggingface_hub maps to its exception types. A test can make a
repo private (a bearer token is required) and queue faults for the next downloads: drop the
connection after some bytes, or answer with an error status.
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import socket
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlsplit

_COPY_CHUNK = 1024 * 1024
_RESOLVE = re.compile(r"^/([^/]+/[^/]+)/resolve/([^/]+)/(.+)$")
_API = re.compile(r"^/api/models/([^/]+/[^/]+?)(?:/revision/([^/]+))?$")


@dataclass(frozen=True)
class HubFile:
    path: Path
    size: int
    sha256: str

    @classmethod
    def of(cls, path: Path) -> HubFile:
        digest = hashlib.sha256()
        with path.open("rb") as source:
            while chunk := source.read(_COPY_CHUNK):
                digest.update(chunk)
        return cls(path, path.stat().st_size, digest.hexdigest())


@dataclass
class HubRepo:
    repo_id: str
    files: dict[str, HubFile]
    # A private repo: requests must carry "Authorization: Bearer <token>".
    token: str | None = None
    commit: str = field(default_factory=lambda: secrets.token_hex(20))

    def knows_revision(self, revision: str) -> bool:
        return revision in ("main", self.commit)


@dataclass(frozen=True)
class Fault:
    """What goes wrong with the next file download (GET)."""

    # Send the headers for the whole body, then drop the connection after this many bytes.
    cut_after: int | None = None
    # Answer with this status instead of the file.
    status: int | None = None
    # Wait for this event before answering: a download that takes as long as the test wants.
    hold: threading.Event | None = None


@dataclass(frozen=True)
class Recorded:
    method: str
    path: str
    range: str | None
    authorization: str | None


class HubStandIn:
    def __init__(self) -> None:
        self.repos: dict[str, HubRepo] = {}
        self.requests: list[Recorded] = []
        self.download_faults: deque[Fault] = deque()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def add_repo(self, repo_id: str, files: dict[str, Path], *, token: str | None = None) -> HubRepo:
        repo = HubRepo(repo_id, {name: HubFile.of(path) for name, path in files.items()}, token=token)
        self.repos[repo_id] = repo
        return repo

    def downloads(self, path_suffix: str = "") -> list[Recorded]:
        return [
            r
            for r in self.requests
            if r.method == "GET" and "/resolve/" in r.path and r.path.endswith(path_suffix)
        ]

    def start(self) -> HubStandIn:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _handler_for(hub: HubStandIn) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:  # quiet test output
            pass

        def do_GET(self) -> None:
            self._answer(is_head=False)

        def do_HEAD(self) -> None:
            self._answer(is_head=True)

        def _answer(self, *, is_head: bool) -> None:
            path = unquote(urlsplit(self.path).path)
            hub.requests.append(
                Recorded(self.command, path, self.headers.get("Range"), self.headers.get("Authorization"))
            )
            api = _API.match(path)
            if api is not None and not is_head:
                self._model_info(api.group(1), api.group(2) or "main")
                return
            resolve = _RESOLVE.match(path)
            if resolve is not None:
                self._resolve(*resolve.groups(), is_head=is_head)
                return
            self._error(404, None, "not found")

        def _repo(self, repo_id: str) -> HubRepo | None:
            repo = hub.repos.get(repo_id)
            if repo is None:
                self._error(404, "RepoNotFound", "Repository not found")
                return None
            if repo.token is not None:
                given = self.headers.get("Authorization")
                if given is None:
                    # What the real hub answers for a private repo without a token.
                    self._error(401, "RepoNotFound", "Repository not found")
                    return None
                if given != f"Bearer {repo.token}":
                    self._error(401, None, "Invalid credentials in Authorization header")
                    return None
            return repo

        def _model_info(self, repo_id: str, revision: str) -> None:
            repo = self._repo(repo_id)
            if repo is None:
                return
            if not repo.knows_revision(revision):
                self._error(404, "RevisionNotFound", "Invalid rev id")
                return
            siblings = [
                {
                    "rfilename": name,
                    "size": file.size,
                    "blobId": hashlib.sha1(file.sha256.encode()).hexdigest(),
                    "lfs": {"size": file.size, "sha256": file.sha256, "pointerSize": 134},
                }
                for name, file in repo.files.items()
            ]
            body = json.dumps(
                {
                    "id": repo_id,
                    "modelId": repo_id,
                    "sha": repo.commit,
                    "private": repo.token is not None,
                    "siblings": siblings,
                }
            ).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _resolve(self, repo_id: str, revision: str, name: str, *, is_head: bool) -> None:
            repo = self._repo(repo_id)
            if repo is None:
                return
            if not repo.knows_revision(revision):
                self._error(404, "RevisionNotFound", "Invalid rev id")
                return
            file = repo.files.get(name)
            if file is None:
                self._error(404, "EntryNotFound", "Entry not found", commit=repo.commit)
                return
            fault = hub.download_faults.popleft() if not is_head and hub.download_faults else Fault()
            if fault.hold is not None:
                fault.hold.wait(timeout=120)
            if fault.status is not None:
                self._error(fault.status, None, "stand-in fault")
                return
            start = _range_start(self.headers.get("Range"))
            self.send_response(206 if start else 200)
            self.send_header("X-Repo-Commit", repo.commit)
            self.send_header("ETag", f'"{file.sha256}"')
            self.send_header("X-Linked-Etag", f'"{file.sha256}"')
            self.send_header("X-Linked-Size", str(file.size))
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Length", str(file.size - start))
            if start:
                self.send_header("Content-Range", f"bytes {start}-{file.size - 1}/{file.size}")
            self.end_headers()
            if not is_head:
                self._send_body(file.path, start, fault.cut_after)

        def _send_body(self, path: Path, start: int, cut_after: int | None) -> None:
            remaining = cut_after
            with path.open("rb") as source:
                source.seek(start)
                while chunk := source.read(_COPY_CHUNK):
                    if remaining is not None:
                        chunk = chunk[:remaining]
                        remaining -= len(chunk)
                    self.wfile.write(chunk)
                    if remaining == 0:
                        self.wfile.flush()
                        self.connection.shutdown(socket.SHUT_RDWR)
                        self.close_connection = True
                        return

        def _error(self, status: int, code: str | None, message: str, *, commit: str | None = None) -> None:
            body = json.dumps({"error": message}).encode()
            self.send_response(status)
            if code is not None:
                self.send_header("X-Error-Code", code)
            self.send_header("X-Error-Message", message)
            if commit is not None:
                self.send_header("X-Repo-Commit", commit)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

    return Handler


def _range_start(header: str | None) -> int:
    match = re.fullmatch(r"bytes=(\d+)-", header or "")
    return int(match.group(1)) if match else 0
