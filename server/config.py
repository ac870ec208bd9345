"""Server settings: CLI flags > LOCALCHAT_* environment > `settings:` in models.yaml > defaults."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field
from pydantic_settings import BaseSettings, EnvSettingsSource, SettingsConfigDict

DEFAULT_MODELS_DIR = Path("models")
CATALOG_FILE_NAME = "models.yaml"


class ConfigError(ValueError):
    """The catalog file or a setting is unusable; the message says which and why."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LOCALCHAT_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    models_dir: Path = DEFAULT_MODELS_DIR
    # None: <models_dir>/models.yaml
    config_file: Path | None = None
    default_model: str = "gemma-3-270m"
    # Context of each sequence; a model's KV cache holds n_ctx * n_parallel tokens.
    n_ctx: int = Field(4096, ge=64)
    # Sequences decoded together per model (continuous batching).
    n_parallel: int = Field(4, ge=1, le=256)
    # Requests that may wait per model beyond n_parallel before new ones get 429.
    max_queue: int = Field(64, ge=0)
    # None: every core llama.cpp can use
    n_threads: int | None = Field(None, ge=1)
    # None: all layers where llama.cpp was built with GPU offload, else 0; -1: all layers
    n_gpu_layers: int | None = Field(None, ge=-1)
    n_batch: int = Field(512, ge=16)
    # Ceiling on max_tokens a request may ask for, on top of the context limit.
    max_tokens_limit: int = Field(32768, ge=1)
    log_level: str = "info"

    @property
    def catalog_path(self) -> Path:
        return self.config_file if self.config_file is not None else self.models_dir / CATALOG_FILE_NAME


def read_catalog_file(path: Path) -> dict[str, Any]:
    """Parse models.yaml; a missing file is an empty catalog, a malformed one is a ConfigError."""
    if not path.exists():
        return {}
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping with 'settings' and 'models' keys")
    return data


def load_settings(cli: Mapping[str, Any] | None = None) -> Settings:
    """Merge the four layers; the catalog file's location itself may come from CLI or env."""
    cli_values = {key: value for key, value in (cli or {}).items() if value is not None}
    env_values = EnvSettingsSource(Settings)()
    located = Settings.model_validate({**env_values, **cli_values})
    file_section = read_catalog_file(located.catalog_path).get("settings") or {}
    if not isinstance(file_section, dict):
        raise ConfigError(f"{located.catalog_path}: 'settings' must be a mapping")
    unknown = sorted(set(file_section) - set(Settings.model_fields))
    if unknown:
        raise ConfigError(f"{located.catalog_path}: unknown settings {', '.join(unknown)}")
    # The file that was read stays the catalog, even if it moves models_dir elsewhere.
    return Settings.model_validate(
        {**file_section, **env_values, **cli_values, "config_file": located.catalog_path}
    )
