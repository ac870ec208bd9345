"""Settings of the model pool: budgets, TTL, preload, auto-pull, keep-alive; sizes like 8G or 512MiB."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from server.cli import _parser
from server.config import Settings, load_settings, parse_bytes


@pytest.fixture(autouse=True)
def _isolated_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


def test_pool_settings_defaults() -> None:
    settings = Settings()
    assert (settings.max_loaded_models, settings.max_memory_bytes, settings.model_ttl) == (3, None, None)
    assert (settings.preload, settings.auto_pull, settings.sse_ping_seconds) == ([], False, 15.0)


def test_pool_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCALCHAT_PRELOAD", "alpha, beta")
    monkeypatch.setenv("LOCALCHAT_MAX_MEMORY_BYTES", "8GiB")
    monkeypatch.setenv("LOCALCHAT_MODEL_TTL", "300")
    monkeypatch.setenv("LOCALCHAT_AUTO_PULL", "true")
    monkeypatch.setenv("LOCALCHAT_MAX_LOADED_MODELS", "1")
    settings = load_settings()
    assert settings.preload == ["alpha", "beta"]
    assert (settings.max_memory_bytes, settings.model_ttl, settings.auto_pull) == (8 * 1024**3, 300.0, True)
    assert settings.max_loaded_models == 1


def test_pool_settings_from_catalog_file(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("settings:\n  preload: [alpha]\n  max_memory_bytes: 16G\n  model_ttl: 60\n")
    settings = load_settings({"config_file": path})
    assert (settings.preload, settings.max_memory_bytes, settings.model_ttl) == (["alpha"], 16 * 10**9, 60.0)


def test_pool_settings_from_serve_flags() -> None:
    args = vars(
        _parser().parse_args(
            [
                "serve",
                "--max-loaded-models",
                "2",
                "--max-memory",
                "512MiB",
                "--model-ttl",
                "5",
                "--preload",
                "a,b",
                "--auto-pull",
            ]
        )
    )
    args.pop("command")
    settings = load_settings(args)
    assert (settings.max_loaded_models, settings.max_memory_bytes) == (2, 512 * 1024**2)
    assert (settings.model_ttl, settings.preload, settings.auto_pull) == (5.0, ["a", "b"], True)


def test_serve_without_auto_pull_flag_keeps_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCALCHAT_AUTO_PULL", "1")
    args = vars(_parser().parse_args(["serve"]))
    args.pop("command")
    assert load_settings(args).auto_pull is True


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("100", 100),
        ("8G", 8 * 10**9),
        ("8GB", 8 * 10**9),
        ("8gib", 8 * 2**30),
        ("1.5M", 1_500_000),
        ("2 KiB", 2048),
    ],
)
def test_parse_bytes_units(text: str, expected: int) -> None:
    assert parse_bytes(text) == expected


@pytest.mark.parametrize("value", ["lots", "8X", "-1G"])
def test_pool_settings_reject_bad_sizes(value: str) -> None:
    with pytest.raises(ValidationError):
        Settings(max_memory_bytes=value)


@pytest.mark.parametrize("field", ["max_loaded_models", "model_ttl", "sse_ping_seconds"])
def test_pool_settings_reject_zero(field: str) -> None:
    with pytest.raises(ValidationError):
        Settings(**{field: 0})
