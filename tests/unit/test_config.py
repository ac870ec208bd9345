"""load_settings: CLI > LOCALCHAT_* environment > `settings:` in models.yaml > defaults."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from server.config import ConfigError, Settings, load_settings, read_catalog_file


@pytest.fixture(autouse=True)
def _isolated_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The default catalog is models/models.yaml relative to the working directory.
    monkeypatch.chdir(tmp_path)


def _catalog(tmp_path: Path, text: str, name: str = "catalog.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_load_settings_defaults_without_any_source() -> None:
    settings = load_settings()
    assert (settings.host, settings.port, settings.n_ctx, settings.default_model) == (
        "127.0.0.1",
        8000,
        4096,
        "gemma-3-270m",
    )


def test_load_settings_reads_settings_section_of_catalog(tmp_path: Path) -> None:
    path = _catalog(tmp_path, "settings:\n  port: 9001\n  n_ctx: 2048\n")
    settings = load_settings({"config_file": path})
    assert (settings.port, settings.n_ctx) == (9001, 2048)


def test_load_settings_env_overrides_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _catalog(tmp_path, "settings:\n  port: 9001\n")
    monkeypatch.setenv("LOCALCHAT_PORT", "9002")
    assert load_settings({"config_file": path}).port == 9002


def test_load_settings_cli_overrides_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _catalog(tmp_path, "settings:\n  port: 9001\n")
    monkeypatch.setenv("LOCALCHAT_PORT", "9002")
    assert load_settings({"config_file": path, "port": 9003}).port == 9003


def test_load_settings_cli_none_values_do_not_override(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _catalog(tmp_path, "settings:\n  port: 9001\n")
    monkeypatch.setenv("LOCALCHAT_HOST", "0.0.0.0")
    settings = load_settings({"config_file": path, "port": None, "host": None})
    assert (settings.port, settings.host) == (9001, "0.0.0.0")


def test_load_settings_layers_merge_per_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _catalog(tmp_path, "settings:\n  port: 9001\n  n_ctx: 1024\n  default_model: from-file\n")
    monkeypatch.setenv("LOCALCHAT_N_CTX", "2048")
    settings = load_settings({"config_file": path, "default_model": "from-cli"})
    assert (settings.port, settings.n_ctx, settings.default_model) == (9001, 2048, "from-cli")


def test_load_settings_config_file_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _catalog(tmp_path, "settings:\n  default_model: env-located\n")
    monkeypatch.setenv("LOCALCHAT_CONFIG_FILE", str(path))
    settings = load_settings()
    assert settings.default_model == "env-located"
    assert settings.catalog_path == path


def test_load_settings_default_catalog_is_models_dir_models_yaml(tmp_path: Path) -> None:
    (tmp_path / "mine").mkdir()
    _catalog(tmp_path, "settings:\n  n_batch: 64\n", name="mine/models.yaml")
    settings = load_settings({"models_dir": tmp_path / "mine"})
    assert settings.n_batch == 64
    assert settings.catalog_path == tmp_path / "mine" / "models.yaml"


def test_load_settings_missing_catalog_file_uses_defaults(tmp_path: Path) -> None:
    settings = load_settings({"config_file": tmp_path / "absent.yaml"})
    assert settings.port == 8000


def test_load_settings_malformed_yaml_raises_config_error(tmp_path: Path) -> None:
    path = _catalog(tmp_path, "settings: [port: 1\n  : :\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings({"config_file": path})


def test_load_settings_non_mapping_settings_section_raises_config_error(tmp_path: Path) -> None:
    path = _catalog(tmp_path, "settings:\n  - port\n")
    with pytest.raises(ConfigError, match="'settings' must be a mapping"):
        load_settings({"config_file": path})


def test_load_settings_port_out_of_range_raises_validation_error() -> None:
    with pytest.raises(ValidationError):
        load_settings({"port": 70000})


def test_load_settings_invalid_port_in_file_raises_validation_error(tmp_path: Path) -> None:
    path = _catalog(tmp_path, "settings:\n  port: 70000\n")
    with pytest.raises(ValidationError):
        load_settings({"config_file": path})


def test_load_settings_non_numeric_env_raises_validation_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCALCHAT_N_CTX", "lots")
    with pytest.raises(ValidationError):
        load_settings()


def test_load_settings_env_values_are_coerced_to_field_types(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCALCHAT_N_GPU_LAYERS", "-1")
    assert load_settings().n_gpu_layers == -1


def test_read_catalog_file_missing_file_is_empty(tmp_path: Path) -> None:
    assert read_catalog_file(tmp_path / "nope.yaml") == {}


def test_read_catalog_file_empty_file_is_empty(tmp_path: Path) -> None:
    assert read_catalog_file(_catalog(tmp_path, "")) == {}


def test_read_catalog_file_top_level_list_raises_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="expected a mapping"):
        read_catalog_file(_catalog(tmp_path, "- a\n- b\n"))


def test_settings_catalog_path_prefers_config_file(tmp_path: Path) -> None:
    settings = Settings(models_dir=tmp_path / "m", config_file=tmp_path / "c.yaml")
    assert settings.catalog_path == tmp_path / "c.yaml"


def test_load_settings_models_dir_in_file_keeps_that_file_as_catalog(tmp_path: Path) -> None:
    path = _catalog(tmp_path, "settings:\n  models_dir: elsewhere\n")
    settings = load_settings({"config_file": path})
    assert settings.models_dir == Path("elsewhere")
    assert settings.catalog_path == path


def test_load_settings_unknown_key_in_file_is_config_error(tmp_path: Path) -> None:
    path = _catalog(tmp_path, "settings:\n  prot: 9001\n")
    with pytest.raises(ConfigError, match="prot"):
        load_settings({"config_file": path})


def test_load_settings_api_keys_and_cors_origins_split_on_commas(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCALCHAT_API_KEY", "key-one, key-two,,")
    monkeypatch.setenv("LOCALCHAT_CORS_ORIGINS", "http://a.example")
    settings = load_settings()
    assert (settings.api_key, settings.cors_origins) == (["key-one", "key-two"], ["http://a.example"])
    assert "key-one" not in repr(settings)


def test_load_settings_api_keys_as_a_list_in_the_file(tmp_path: Path) -> None:
    path = _catalog(tmp_path, "settings:\n  api_key: [alpha, beta]\n  max_body_bytes: 1000\n")
    settings = load_settings({"config_file": path})
    assert (settings.api_key, settings.max_body_bytes) == (["alpha", "beta"], 1000)
