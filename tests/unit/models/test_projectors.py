"""Multimodal projectors in the catalog: named by an entry's `mmproj`, read for what they can do, and
never listed as models of their own when dropped into the models folder."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from server.config import Settings
from server.models.catalog import Catalog, ModelEntry, describe
from server.models.gguf_header import GGUFFormatError
from server.models.metadata import is_projector_file, read_projector
from tests.support.tiny_mmproj import write_tiny_audio_mmproj, write_tiny_gemma3_mmproj

GGUFFactory = Callable[..., Path]


def test_a_vision_projector_says_what_it_is(tmp_path: Path) -> None:
    path = tmp_path / "vision.gguf"
    write_tiny_gemma3_mmproj(path, n_embd_text=640)
    projector = read_projector(path)
    assert (projector.projector_type, projector.has_vision, projector.has_audio) == ("gemma3", True, False)
    assert projector.output_width == 640
    assert is_projector_file(path)  # by its architecture, whatever its name


def test_an_audio_projector_says_what_it_is(tmp_path: Path) -> None:
    path = tmp_path / "mmproj-audio.gguf"
    write_tiny_audio_mmproj(path, n_embd_text=640)
    projector = read_projector(path)
    assert (projector.projector_type, projector.has_vision, projector.has_audio) == ("ultravox", False, True)
    assert projector.output_width == 640


def test_a_model_is_not_a_projector(make_gguf: GGUFFactory) -> None:
    path = make_gguf("model.gguf")
    assert not is_projector_file(path)
    with pytest.raises(GGUFFormatError, match="not a multimodal projector"):
        read_projector(path)


def test_projectors_in_the_folder_are_not_models(tmp_path: Path, make_gguf: GGUFFactory) -> None:
    models = tmp_path / "models"
    make_gguf(models / "vlm.gguf")
    write_tiny_gemma3_mmproj(models / "vision-encoder.gguf")
    write_tiny_gemma3_mmproj(models / "mmproj-other.gguf")
    (models / "models.yaml").write_text(
        "models:\n  - name: vlm\n    file: vlm.gguf\n    mmproj: mmproj-other.gguf\n"
    )
    catalog = Catalog.from_settings(Settings(models_dir=models))
    assert catalog.names == ["vlm"]
    info = catalog.info("vlm")
    assert info.entry.mmproj == models / "mmproj-other.gguf"
    assert info.projector is not None and info.projector.has_vision and info.projector_error is None


def test_a_missing_or_wrong_projector_is_explained(tmp_path: Path, make_gguf: GGUFFactory) -> None:
    model = make_gguf("m.gguf")
    missing = describe(ModelEntry(name="m", path=model, mmproj=tmp_path / "nope.gguf"))
    assert missing.projector is None and "does not exist" in (missing.projector_error or "")
    wrong = describe(ModelEntry(name="m", path=model, mmproj=model))
    assert wrong.projector is None and "not a multimodal projector" in (wrong.projector_error or "")
    plain = describe(ModelEntry(name="m", path=model))
    assert plain.projector is None and plain.projector_error is None
