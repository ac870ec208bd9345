"""Write the app's OpenAPI schema to tests/fixtures/openapi.json, the copy that
tests/unit/test_openapi_schema.py holds the app to. Run it when a change means to alter the public API
(a route, a field, a type), and commit the new copy with that change:

    .venv/bin/python scripts/openapi_snapshot.py
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SNAPSHOT = ROOT / "tests" / "fixtures" / "openapi.json"


def current_schema() -> dict[str, Any]:
    sys.path.insert(0, str(ROOT))
    from server.app import create_app
    from server.config import Settings

    with tempfile.TemporaryDirectory() as models_dir:
        # The version travels in info.version; releases should not rewrite the copy.
        schema = create_app(Settings(models_dir=Path(models_dir))).openapi()
    schema["info"].pop("version", None)
    return schema


def main() -> None:
    SNAPSHOT.write_text(json.dumps(current_schema(), indent=1, sort_keys=True) + "\n")
    print(f"wrote {SNAPSHOT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
