"""Ollama names on catalog names (tags, aliases, hf.co sources) and keep_alive values."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from server.models.catalog import Catalog, HubSource, ModelEntry, ModelNotFound
from server.models.pool import FOREVER
from server.protocols.ollama.model_use import (
    duration_seconds,
    find_entry,
    hub_source,
    keep_alive_seconds,
    listed_name,
)
from server.service.errors import APIError

GGUFFactory = Callable[..., Path]


@pytest.fixture
def catalog(tmp_path: Path) -> Catalog:
    return Catalog(
        [
            ModelEntry(name="gemma-3-270m", path=tmp_path / "g.gguf", aliases=("gemma-base",)),
            ModelEntry(name="qwen:7b", path=tmp_path / "q.gguf"),
            ModelEntry(
                name="pulled",
                path=tmp_path / "p.gguf",
                hub=HubSource(repo="Org/Repo-GGUF", file="repo-Q4_K_M.gguf"),
            ),
        ]
    )


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("gemma-3-270m", "gemma-3-270m"),
        ("gemma-3-270m:latest", "gemma-3-270m"),
        ("gemma-base", "gemma-3-270m"),
        ("gemma-base:latest", "gemma-3-270m"),
        ("qwen:7b", "qwen:7b"),
        ("hf.co/org/repo-gguf:Q4_K_M", "pulled"),
        ("hf.co/Org/Repo-GGUF", "pulled"),
        ("huggingface.co/Org/Repo-GGUF:latest", "pulled"),
    ],
)
def test_ollama_names_find_catalog_entries(catalog: Catalog, name: str, expected: str) -> None:
    assert find_entry(catalog, name).name == expected


@pytest.mark.parametrize(
    "name", ["gemma-3-270m:q8_0", "qwen", "qwen:latest", "hf.co/Org/Repo-GGUF:Q8_0", "x"]
)
def test_other_names_are_not_found(catalog: Catalog, name: str) -> None:
    with pytest.raises(ModelNotFound):
        find_entry(catalog, name)


def test_listed_names_carry_a_tag() -> None:
    assert listed_name("gemma-3-270m") == "gemma-3-270m:latest"
    assert listed_name("qwen:7b") == "qwen:7b"
    assert listed_name("hf.co/org/repo:Q4_K_M") == "hf.co/org/repo:Q4_K_M"
    assert listed_name("hf.co/org/repo") == "hf.co/org/repo:latest"


def test_hub_sources() -> None:
    assert hub_source("hf.co/org/repo:Q4_K_M") == ("org/repo", "Q4_K_M")
    assert hub_source("hf.co/org/repo:latest") == ("org/repo", None)
    assert hub_source("hf.co/org") is None
    assert hub_source("llama3.2:1b") is None


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("5m", 300.0),
        ("1h30m", 5400.0),
        ("300ms", 0.3),
        ("1.5s", 1.5),
        ("0", 0.0),
        ("-1m", -60.0),
        ("2h", 7200.0),
    ],
)
def test_go_durations(text: str, seconds: float) -> None:
    assert duration_seconds(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["300", "5 minutes", "m", "", "1d", "5m3"])
def test_strings_that_are_not_durations(text: str) -> None:
    with pytest.raises(ValueError, match="invalid duration"):
        duration_seconds(text)


def test_keep_alive_values() -> None:
    assert keep_alive_seconds(None) is None
    assert keep_alive_seconds(0) == 0 and keep_alive_seconds(0.0) == 0 and keep_alive_seconds("0") == 0
    assert keep_alive_seconds(300) == 300 and keep_alive_seconds("5m") == 300
    assert keep_alive_seconds(-1) == FOREVER and keep_alive_seconds("-1m") == FOREVER
    with pytest.raises(APIError) as caught:
        keep_alive_seconds("300")
    assert caught.value.status == 400 and caught.value.param == "keep_alive"
    with pytest.raises(APIError):
        keep_alive_seconds(float("nan"))
