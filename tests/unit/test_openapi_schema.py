"""The public API stays what it was: every route, method, field and type, as the OpenAPI schema
states them, equals the committed copy. A change that means to alter the API rewrites the copy with
scripts/openapi_snapshot.py and commits it beside the change."""

from __future__ import annotations

import json

from scripts.openapi_snapshot import SNAPSHOT, current_schema


def test_openapi_schema_matches_the_committed_copy() -> None:
    stored = json.loads(SNAPSHOT.read_text())
    current = current_schema()
    assert sorted(current["paths"]) == sorted(stored["paths"])
    for path, operations in stored["paths"].items():
        assert current["paths"][path] == operations, f"{path} changed"
    assert current["components"] == stored["components"]
    assert current == stored
