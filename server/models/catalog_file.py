"""Adding an entry to models.yaml without disturbing the rest of the file.

The new item is inserted as text at the end of the `models:` list, so comments and layout survive.
If the file is laid out in a way that trick does not fit (a flow-style list, say), the whole file is
rewritten from its parsed data instead: correct, but without its comments. Changing or removing an
entry (Ollama's copy and delete) rewrites it that way too.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from server.config import ConfigError, read_catalog_file

NEW_FILE_HEADER = (
    "# localchat's catalog. Every *.gguf dropped into this folder is also served under its file stem.\n"
)
_MODELS_KEY = re.compile(r"^models:\s*(#.*)?$")
_LIST_ITEM = re.compile(r"^(\s*)-\s")


def find_entry(path: Path, name: str) -> dict[str, Any] | None:
    for raw in _models(read_catalog_file(path), path):
        if isinstance(raw, dict) and raw.get("name") == name:
            return raw
    return None


def add_entry(path: Path, entry: dict[str, Any]) -> None:
    data = read_catalog_file(path)
    expected = {**data, "models": [*_models(data, path), entry]}
    text = path.read_text(encoding="utf-8") if path.exists() else NEW_FILE_HEADER
    updated = _append_item(text, entry)
    if updated is None or yaml.safe_load(updated) != expected:
        updated = yaml.safe_dump(expected, sort_keys=False, allow_unicode=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(updated, encoding="utf-8")
    os.replace(temporary, path)


def _models(data: dict[str, Any], path: Path) -> list[Any]:
    models = data.get("models") or []
    if not isinstance(models, list):
        raise ConfigError(f"{path}: 'models' must be a list")
    return models


def _append_item(text: str, entry: dict[str, Any]) -> str | None:
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    start = next((index for index, line in enumerate(lines) if _MODELS_KEY.match(line)), None)
    if start is None:
        return "".join(lines) + "models:\n" + _render(entry, indent=2)
    end = start + 1
    # The block runs until the next top-level key; comments at column 0 may belong to that key.
    last_content = start
    indent: int | None = None
    while end < len(lines):
        line = lines[end]
        if line.strip() and not line[0].isspace() and not line.startswith(("-", "#")):
            break
        if line.strip() and not line.startswith("#"):
            last_content = end
            item = _LIST_ITEM.match(line)
            if item is not None and indent is None:
                indent = len(item.group(1))
        end += 1
    lines.insert(last_content + 1, _render(entry, indent=2 if indent is None else indent))
    return "".join(lines)


def _render(entry: dict[str, Any], *, indent: int) -> str:
    dumped = yaml.safe_dump([entry], sort_keys=False, allow_unicode=True, default_flow_style=False)
    return "".join(" " * indent + line for line in dumped.splitlines(keepends=True))


def change_entry(path: Path, name: str, change: Callable[[dict[str, Any]], dict[str, Any] | None]) -> bool:
    """Replace the entry named `name` with `change(entry)`, or remove it where that returns None;
    False if there is no such entry. The file is rewritten from its parsed data: its comments go."""
    data = read_catalog_file(path)
    models = _models(data, path)
    for position, raw in enumerate(models):
        if isinstance(raw, dict) and raw.get("name") == name:
            changed = change(dict(raw))
            updated = [
                *models[:position],
                *([changed] if changed is not None else []),
                *models[position + 1 :],
            ]
            _write(path, {**data, "models": updated})
            return True
    return False


def _write(path: Path, data: dict[str, Any]) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), encoding="utf-8")
    os.replace(temporary, path)
