"""The stored-responses database: what it keeps, for how long, and within what size."""

from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path

import pytest

from server.protocols.responses.store import ResponseStore, StoreLimits, StoreUnavailable

ROOMY = StoreLimits(max_count=100, max_age_seconds=3600, max_bytes=10**6)


def _response(number: int, text: str = "") -> dict[str, object]:
    return {"id": f"resp_{number}", "output": [{"type": "message", "text": text}]}


def test_saved_response_is_read_back_after_reopening(tmp_path: Path) -> None:
    store = ResponseStore(tmp_path, ROOMY)
    store.save(_response(1, "héllo"), [{"type": "message", "id": "msg_1"}])
    store.close()
    reopened = ResponseStore(tmp_path, ROOMY)
    stored = reopened.get("resp_1")
    assert stored is not None
    assert stored.response == _response(1, "héllo")
    assert stored.context == [{"type": "message", "id": "msg_1"}]
    assert reopened.get("resp_2") is None


def test_delete_says_whether_there_was_something(tmp_path: Path) -> None:
    store = ResponseStore(tmp_path, ROOMY)
    store.save(_response(1), [])
    assert store.delete("resp_1") is True
    assert store.delete("resp_1") is False
    assert store.get("resp_1") is None


def test_oldest_go_first_past_the_count(tmp_path: Path) -> None:
    store = ResponseStore(tmp_path, StoreLimits(max_count=3, max_age_seconds=3600, max_bytes=10**6))
    for number in range(5):
        store.save(_response(number), [])
    assert store.count() == 3
    assert [store.get(f"resp_{n}") is not None for n in range(5)] == [False, False, True, True, True]


def test_total_size_is_bounded(tmp_path: Path) -> None:
    store = ResponseStore(tmp_path, StoreLimits(max_count=100, max_age_seconds=3600, max_bytes=3000))
    for number in range(10):
        store.save(_response(number, "x" * 900), [])
    assert store.count() == 3  # each row is a little over 900 bytes
    assert store.get("resp_9") is not None and store.get("resp_6") is None
    store.save(_response(99, "y" * 5000), [])  # larger than the whole budget: not kept either
    assert store.get("resp_99") is None


def test_expired_responses_are_neither_returned_nor_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = ResponseStore(tmp_path, StoreLimits(max_count=100, max_age_seconds=60, max_bytes=10**6))
    store.save(_response(1), [])
    later = time.time() + 120
    monkeypatch.setattr(time, "time", lambda: later)
    assert store.get("resp_1") is None
    store.save(_response(2), [])
    assert store.count() == 1


def test_unwritable_folder_is_a_store_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    store = ResponseStore(blocker / "data", ROOMY)
    with pytest.raises(StoreUnavailable):
        store.save(_response(1), [])


def test_store_writes_in_wal_mode_with_full_sync(tmp_path: Path) -> None:
    store = ResponseStore(tmp_path, ROOMY)
    store.save(_response(1), [])
    with sqlite3.connect(store.path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert store._db().execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_full_disk_is_a_store_error_logged_once(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = ResponseStore(tmp_path, ROOMY)
    store.save(_response(1), [])
    # A database that may not grow is what a full disk looks like to SQLite (SQLITE_FULL).
    db = store._db()
    db.execute(f"PRAGMA max_page_count = {db.execute('PRAGMA page_count').fetchone()[0]}")
    big = {"id": "resp_big", "output": "x" * 200_000}
    with caplog.at_level(logging.ERROR, logger="localchat.store"):
        for _ in range(3):
            with pytest.raises(StoreUnavailable, match="full"):
                store.save(big, [])
    assert len([r for r in caplog.records if r.name == "localchat.store"]) == 1
    assert store.get("resp_1") is not None  # what was there stays readable
    db.execute("PRAGMA max_page_count = 1073741823")
    store.save(big, [])  # room again: the store works, and says so
    assert store.get("resp_big") is not None


def test_unwritable_folder_fails_the_write_check(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(StoreUnavailable):
        ResponseStore(blocker / "data", ROOMY).check_writable()
    ResponseStore(tmp_path / "data", ROOMY).check_writable()  # a writable one passes
