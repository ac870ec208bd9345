"""Adding a pulled model to models.yaml: comments and layout kept, other content untouched."""

from __future__ import annotations

from pathlib import Path

import yaml

from server.models.catalog_file import add_entry, find_entry

ENTRY = {"name": "q", "repo": "org/q-GGUF", "file": "q-Q4_K_M.gguf"}


def test_add_entry_keeps_comments_and_appends_to_models(tmp_path: Path) -> None:
    path = tmp_path / "models.yaml"
    path.write_text(
        "# my catalog\nsettings:\n  default_model: a  # the usual\n"
        "models:\n  - name: a\n    file: a.gguf\n    # more keys: n_ctx\n",
        encoding="utf-8",
    )
    add_entry(path, ENTRY)
    text = path.read_text(encoding="utf-8")
    assert "# my catalog" in text and "# the usual" in text and "# more keys: n_ctx" in text
    assert text.endswith("  - name: q\n    repo: org/q-GGUF\n    file: q-Q4_K_M.gguf\n")
    data = yaml.safe_load(text)
    assert data["settings"] == {"default_model": "a"}
    assert data["models"] == [{"name": "a", "file": "a.gguf"}, ENTRY]


def test_add_entry_inserts_before_a_later_top_level_key(tmp_path: Path) -> None:
    path = tmp_path / "models.yaml"
    path.write_text("models:\n- name: a\n  file: a.gguf\n\n# settings below\nsettings:\n  port: 9000\n")
    add_entry(path, ENTRY)
    text = path.read_text()
    assert text.index("name: q") < text.index("# settings below")
    assert yaml.safe_load(text) == {
        "models": [{"name": "a", "file": "a.gguf"}, ENTRY],
        "settings": {"port": 9000},
    }


def test_add_entry_creates_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "models.yaml"
    add_entry(path, ENTRY)
    assert yaml.safe_load(path.read_text()) == {"models": [ENTRY]}
    assert find_entry(path, "q") == ENTRY


def test_add_entry_to_file_without_models_key(tmp_path: Path) -> None:
    path = tmp_path / "models.yaml"
    path.write_text("settings:\n  port: 9000")
    add_entry(path, ENTRY)
    assert yaml.safe_load(path.read_text()) == {"settings": {"port": 9000}, "models": [ENTRY]}


def test_add_entry_to_flow_style_list_rewrites_the_data(tmp_path: Path) -> None:
    path = tmp_path / "models.yaml"
    path.write_text("models: [{name: a, file: a.gguf}]\n")
    add_entry(path, ENTRY)
    assert yaml.safe_load(path.read_text()) == {"models": [{"name": "a", "file": "a.gguf"}, ENTRY]}


def test_find_entry_by_name(tmp_path: Path) -> None:
    path = tmp_path / "models.yaml"
    path.write_text("models:\n  - name: a\n    file: a.gguf\n")
    assert find_entry(path, "a") == {"name": "a", "file": "a.gguf"}
    assert find_entry(path, "b") is None
