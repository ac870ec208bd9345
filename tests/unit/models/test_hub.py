"""Picking the GGUF file of a pull (by name, by quant tag, or the only one) and checking a download."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from server.models.hub import HubFile, PullError, matches_hub_file, partial_path, select_gguf

FILES = [
    "README.md",
    "model-IQ4_XS.gguf",
    "model-Q4_K.gguf",
    "model-Q4_K_M.gguf",
    "model-Q4_K_S.gguf",
    "model-Q8_0.gguf",
    "model.F16.gguf",
    "model.BF16.gguf",
]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("Q4_K_M", "model-Q4_K_M.gguf"),
        ("q4_k_m", "model-Q4_K_M.gguf"),
        ("Q4_K", "model-Q4_K.gguf"),
        ("IQ4_XS", "model-IQ4_XS.gguf"),
        ("F16", "model.F16.gguf"),
        ("q8_0", "model-Q8_0.gguf"),
        ("model-Q4_K_S.gguf", "model-Q4_K_S.gguf"),
    ],
)
def test_select_gguf_by_quant_tag_or_name(spec: str, expected: str) -> None:
    assert select_gguf("org/m", FILES, spec) == expected


def test_select_gguf_quant_matching_several_files_lists_them() -> None:
    files = ["a-Q4_K_M.gguf", "b-Q4_K_M.gguf", "a-Q8_0.gguf"]
    with pytest.raises(PullError, match="2 GGUF files in org/m match 'Q4_K_M'") as caught:
        select_gguf("org/m", files, "Q4_K_M")
    assert "a-Q4_K_M.gguf" in str(caught.value) and "a-Q8_0.gguf" not in str(caught.value)


def test_select_gguf_unknown_quant_lists_the_gguf_files() -> None:
    with pytest.raises(PullError, match="no GGUF file in org/m matches the quant 'Q2_K'") as caught:
        select_gguf("org/m", FILES, "Q2_K")
    assert "model-Q8_0.gguf" in str(caught.value) and "README.md" not in str(caught.value)


def test_select_gguf_missing_file_name_lists_the_gguf_files() -> None:
    with pytest.raises(PullError, match=r"'model-Q3_K\.gguf' is not in org/m") as caught:
        select_gguf("org/m", FILES, "model-Q3_K.gguf")
    assert "model-Q4_K_M.gguf" in str(caught.value)


def test_select_gguf_without_spec_takes_the_only_file() -> None:
    assert select_gguf("org/m", ["README.md", "only.gguf"], None) == "only.gguf"


def test_select_gguf_without_spec_and_several_files_asks_for_one() -> None:
    with pytest.raises(PullError, match="name one, or a quant tag"):
        select_gguf("org/m", FILES, None)


def test_select_gguf_repo_without_gguf_files() -> None:
    with pytest.raises(PullError, match=r"has no \.gguf files"):
        select_gguf("org/m", ["model.safetensors"], "Q4_K_M")


def test_select_gguf_split_file_is_refused() -> None:
    with pytest.raises(PullError, match="split GGUF"):
        select_gguf("org/m", ["big-Q4_K_M-00001-of-00002.gguf", "big-Q4_K_M-00002-of-00002.gguf"], "Q4_K_M")


def _hub_file(content: bytes, *, sha256: str | None = None, size: int | None = None) -> HubFile:
    return HubFile(
        repo="org/m",
        path="m.gguf",
        commit="c" * 40,
        size=len(content) if size is None else size,
        sha256=hashlib.sha256(content).hexdigest() if sha256 is None else sha256,
        blob_id=None,
    )


def test_matches_hub_file_checks_size_and_sha256(tmp_path: Path) -> None:
    path = tmp_path / "m.gguf"
    path.write_bytes(b"GGUF weights")
    assert matches_hub_file(path, _hub_file(b"GGUF weights"))
    assert not matches_hub_file(path, _hub_file(b"GGUF weights", sha256="0" * 64))
    assert not matches_hub_file(path, _hub_file(b"GGUF weights", size=3))


def test_matches_hub_file_checks_git_blob_id_of_small_files(tmp_path: Path) -> None:
    path = tmp_path / "m.gguf"
    path.write_bytes(b"hello")
    blob_id = hashlib.sha1(b"blob 5\0hello").hexdigest()
    file = HubFile("org/m", "m.gguf", "c" * 40, 5, None, blob_id)
    assert matches_hub_file(path, file)
    assert not matches_hub_file(path, HubFile("org/m", "m.gguf", "c" * 40, 5, None, "0" * 40))


def test_partial_path_is_keyed_by_content(tmp_path: Path) -> None:
    target = tmp_path / "m.gguf"
    first = partial_path(target, _hub_file(b"one"))
    assert first.parent == tmp_path and first.name.startswith("m.gguf.") and first.suffix == ".part"
    assert first != partial_path(target, _hub_file(b"two"))
