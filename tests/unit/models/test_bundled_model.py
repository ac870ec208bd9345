"""The catalog and the metadata reader on the real bundled model (Gemma 3 270M, Q4_K_M, base)."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.config import Settings
from server.models.bundled import assemble_bundled_model
from server.models.catalog import Catalog
from server.models.metadata import read_metadata
from tests.conftest import REPO_ROOT

BUNDLED_FILE = REPO_ROOT / "models" / "gemma-3-270m-q4_k_m.gguf"


@pytest.fixture(scope="module")
def bundled_path() -> Path:
    if not BUNDLED_FILE.exists():
        assemble_bundled_model(BUNDLED_FILE)
    return BUNDLED_FILE


def test_bundled_model_metadata(bundled_path: Path) -> None:
    metadata = read_metadata(bundled_path)
    assert (metadata.architecture, metadata.size_label, metadata.quantization) == ("gemma3", "270M", "Q4_K_M")
    assert (metadata.context_length, metadata.num_layers) == (32768, 18)
    assert (metadata.bos_token, metadata.eos_token) == ("<bos>", "<eos>")
    assert metadata.chat_templates == {} and metadata.kind == "base"


def test_bundled_model_in_catalog_by_name_and_alias(tmp_path: Path, bundled_path: Path) -> None:
    (tmp_path / "models.yaml").write_text(
        f"models:\n  - name: gemma\n    file: {bundled_path}\n    aliases: [g3]\n", encoding="utf-8"
    )
    catalog = Catalog.from_settings(Settings(models_dir=tmp_path))
    info = catalog.info("g3")
    assert info.name == "gemma" and info.kind == "base" and not info.has_chat_template
    assert info.metadata is not None and info.metadata.quantization == "Q4_K_M"


def test_bundled_model_dropped_in_is_served_under_its_stem(tmp_path: Path, bundled_path: Path) -> None:
    (tmp_path / "gemma-copy.gguf").symlink_to(bundled_path)
    catalog = Catalog.from_settings(Settings(models_dir=tmp_path))
    assert catalog.names == ["gemma-copy"]
    metadata = catalog.info("gemma-copy").metadata
    assert metadata is not None and metadata.architecture == "gemma3"
