"""Stored Responses: the one piece of state that outlives the process, in one SQLite file.

A row keeps what `previous_response_id` needs to continue a conversation (the whole context the
response answered, and its output) and what `GET /v1/responses/{id}` returns. The store is bounded by
age, count and total size; the oldest rows go first, at every write. Calls block, so the API runs them
in a thread; one lock serialises them, as one connection serves every thread.

Nothing acknowledged is lost: each write is one transaction, committed before the client hears of
it, in WAL mode with synchronous=FULL, so a `kill -9` (or a power cut) mid-write leaves every
committed response readable and no half-written one. A folder that cannot be written (read-only, or
a full disk) is a StoreUnavailable for the requests that store, logged once until the store works
again; everything else keeps serving.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger("localchat.store")

FILE_NAME = "responses.sqlite3"
# How long a write waits for another connection's lock (another process on the same file).
BUSY_TIMEOUT_MS = 5000
_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    id TEXT PRIMARY KEY,
    created_at REAL NOT NULL,
    response TEXT NOT NULL,
    context TEXT NOT NULL,
    size INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS responses_by_age ON responses (created_at);
"""


class StoreUnavailable(Exception):
    """The database cannot be opened or written (a read-only data folder, a full disk)."""


@dataclass(frozen=True)
class StoreLimits:
    max_count: int
    max_age_seconds: float
    max_bytes: int


@dataclass(frozen=True)
class StoredResponse:
    # The response object as the API returns it.
    response: dict[str, Any]
    # The input items it answered, earlier turns of its conversation included, oldest first.
    context: list[dict[str, Any]]


class ResponseStore:
    def __init__(self, folder: Path, limits: StoreLimits) -> None:
        self._path = folder / FILE_NAME
        self._limits = limits
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None
        self._is_failing = False

    @property
    def path(self) -> Path:
        return self._path

    def _db(self) -> sqlite3.Connection:
        # Opened on first use, so a server whose data folder is read-only still serves store: false.
        if self._connection is None:
            try:
                self._path.parent.mkdir(parents=True, exist_ok=True)
                connection = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None)
                connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
                connection.execute("PRAGMA journal_mode = WAL")
                connection.execute("PRAGMA synchronous = FULL")
                connection.executescript(_SCHEMA)
            except (OSError, sqlite3.Error) as exc:
                raise self._failure(f"cannot open {self._path}: {exc}") from exc
            self._connection = connection
        return self._connection

    def _failure(self, message: str) -> StoreUnavailable:
        """The error to raise; logged the first time only, until a call succeeds again."""
        if not self._is_failing:
            self._is_failing = True
            log.error("the response store is unavailable (store: true requests get a 503): %s", message)
        return StoreUnavailable(message)

    def _succeeded(self) -> None:
        if self._is_failing:
            self._is_failing = False
            log.info("the response store at %s works again", self._path)

    def check_writable(self) -> None:
        """Raise StoreUnavailable now if a write could not start (a read-only file or folder), so a
        request that stores is refused before it is answered rather than answered and lost."""
        with self._lock:
            try:
                db = self._db()
                db.execute("BEGIN IMMEDIATE")
                db.execute("ROLLBACK")
            except sqlite3.Error as exc:
                self._rollback()
                raise self._failure(f"cannot write {self._path}: {exc}") from exc

    def save(self, response: dict[str, Any], context: list[dict[str, Any]]) -> None:
        response_json = json.dumps(response, ensure_ascii=False)
        context_json = json.dumps(context, ensure_ascii=False)
        size = len(response_json.encode()) + len(context_json.encode())
        with self._lock:
            try:
                db = self._db()
                db.execute("BEGIN IMMEDIATE")
                db.execute(
                    "INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?, ?)",
                    (response["id"], time.time(), response_json, context_json, size),
                )
                self._prune(db)
                db.execute("COMMIT")
            except sqlite3.Error as exc:
                self._rollback()
                raise self._failure(f"cannot write {self._path}: {exc}") from exc
            self._succeeded()

    def _rollback(self) -> None:
        if self._connection is not None and self._connection.in_transaction:
            # The transaction may be gone already with the failure that ended it.
            with contextlib.suppress(sqlite3.Error):
                self._connection.execute("ROLLBACK")

    def _prune(self, db: sqlite3.Connection) -> None:
        limits = self._limits
        db.execute("DELETE FROM responses WHERE created_at < ?", (time.time() - limits.max_age_seconds,))
        db.execute(
            "DELETE FROM responses WHERE id NOT IN "
            "(SELECT id FROM responses ORDER BY created_at DESC, rowid DESC LIMIT ?)",
            (limits.max_count,),
        )
        # Newest first, keep rows while the running total fits; a single row larger than the whole
        # budget is not kept either.
        db.execute(
            "DELETE FROM responses WHERE id IN (SELECT id FROM (SELECT id, SUM(size) OVER "
            "(ORDER BY created_at DESC, rowid DESC) AS running FROM responses) WHERE running > ?)",
            (limits.max_bytes,),
        )

    def get(self, response_id: str) -> StoredResponse | None:
        with self._lock:
            try:
                row = (
                    self._db()
                    .execute(
                        "SELECT response, context FROM responses WHERE id = ? AND created_at >= ?",
                        (response_id, time.time() - self._limits.max_age_seconds),
                    )
                    .fetchone()
                )
            except sqlite3.Error as exc:
                raise self._failure(f"cannot read {self._path}: {exc}") from exc
        if row is None:
            return None
        return StoredResponse(json.loads(row[0]), json.loads(row[1]))

    def delete(self, response_id: str) -> bool:
        with self._lock:
            try:
                cursor = self._db().execute("DELETE FROM responses WHERE id = ?", (response_id,))
            except sqlite3.Error as exc:
                raise self._failure(f"cannot write {self._path}: {exc}") from exc
        return cursor.rowcount > 0

    def count(self) -> int:
        with self._lock:
            return int(self._db().execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None
