"""Server settings: CLI flags > LOCALCHAT_* environment > `settings:` in models.yaml > defaults."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, EnvSettingsSource, NoDecode, SettingsConfigDict

DEFAULT_MODELS_DIR = Path("models")
CATALOG_FILE_NAME = "models.yaml"


class ConfigError(ValueError):
    """The catalog file or a setting is unusable; the message says which and why."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LOCALCHAT_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    # A second port served the same way: 11434, where Ollama's clients look by default.
    ollama_port: int | None = Field(None, ge=1, le=65535)
    models_dir: Path = DEFAULT_MODELS_DIR
    # None: <models_dir>/models.yaml
    config_file: Path | None = None
    default_model: str = "gemma-3-270m"
    # Context of each sequence; a model's KV cache holds n_ctx * n_parallel tokens.
    n_ctx: int = Field(4096, ge=64)
    # Sequences decoded together per model (continuous batching).
    n_parallel: int = Field(8, ge=1, le=256)
    # Requests that may wait per model beyond n_parallel before new ones get 429.
    max_queue: int = Field(64, ge=0)
    # Same seed gives the same text alone or batched: no repacked weights, no flash attention, at
    # most 7 rows per decode. Off by default: it costs throughput from 4 concurrent streams on.
    batch_invariant: bool = False
    # One KV cache shared by all sequences (each still capped at n_ctx, so it never runs out) instead
    # of one per sequence: prompts arriving together prefill in one micro-batch (lower TTFT).
    kv_unified: bool = True
    # "numpy": the common sampling parameters run on the logits buffer in numpy (fast); "llama":
    # llama.cpp's sampler chain for everything. Grammars always use llama.cpp's.
    sampler: Literal["numpy", "llama"] = "numpy"
    # A cached prefix shorter than this is not worth reusing (a lone BOS, say): full prefill instead.
    min_prefix_reuse: int = Field(16, ge=1)
    # None: every core llama.cpp can use
    n_threads: int | None = Field(None, ge=1)
    # None: all layers where llama.cpp was built with GPU offload, else 0; -1: all layers
    n_gpu_layers: int | None = Field(None, ge=-1)
    n_batch: int = Field(512, ge=16)
    # Models resident at once; the least recently used idle one is unloaded first. None: no limit.
    max_loaded_models: int | None = Field(3, ge=1)
    # Budget for resident models, counted as their GGUF file sizes (8G, 512MiB or bytes). None: no limit.
    max_memory_bytes: int | None = Field(None, ge=1)
    # Seconds a model may sit idle (no request in flight) before it is unloaded. None: never.
    model_ttl: float | None = Field(None, gt=0)
    # Models loaded at start, after the default one. Comma-separated in the env.
    preload: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Download a catalog entry that names a Hugging Face repo on its first use.
    auto_pull: bool = False
    # Seconds between SSE keep-alive comments, also sent while a stream waits for its model to load.
    sse_ping_seconds: float = Field(15.0, gt=0)
    # Ceiling on max_tokens a request may ask for, on top of the context limit.
    max_tokens_limit: int = Field(32768, ge=1)
    log_level: str = "info"
    # Bearer keys a client may send (any one); empty: no authentication. Comma-separated in the env.
    api_key: Annotated[list[str], NoDecode] = Field(default_factory=list, repr=False)
    # Browser origins allowed to call the API; empty: no CORS headers at all. "*" allows any origin.
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Larger request bodies get 413, counted while reading, so a missing Content-Length does not help.
    max_body_bytes: int = Field(8 * 1024 * 1024, ge=1)
    # Slow clients (slowloris): a request's headers must arrive within header_timeout_seconds of the
    # connection opening (or of the previous answer), its body within body_timeout_seconds (408).
    header_timeout_seconds: float = Field(10.0, gt=0)
    body_timeout_seconds: float = Field(30.0, gt=0)
    # Chat templates are programs from model files: one render may take this long and build values
    # (its output included) of at most this many characters, or it fails with a clear error.
    template_render_seconds: float = Field(1.0, gt=0, le=60)
    template_max_chars: int = Field(4_000_000, ge=1024)
    # Where state that outlives the process lives (stored Responses); the models folder when unset.
    data_dir: Path | None = None
    # Stored Responses (previous_response_id): the oldest go first past any of these bounds.
    responses_max_count: int = Field(10_000, ge=1)
    responses_max_age_days: float = Field(30.0, gt=0)
    responses_max_bytes: int = Field(256 * 1024 * 1024, ge=1)
    # The browser playground at /playground (static files; every API call it makes is checked as usual).
    playground: bool = True
    # After SIGTERM, how long requests in flight may keep going before their streams are ended.
    shutdown_grace_seconds: float = Field(30.0, ge=0)

    @field_validator("api_key", "cors_origins", "preload", mode="before")
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("max_memory_bytes", "responses_max_bytes", mode="before")
    @classmethod
    def _parse_size(cls, value: Any) -> Any:
        return parse_bytes(value) if isinstance(value, str) else value

    @property
    def state_dir(self) -> Path:
        return self.data_dir if self.data_dir is not None else self.models_dir

    @property
    def catalog_path(self) -> Path:
        return self.config_file if self.config_file is not None else self.models_dir / CATALOG_FILE_NAME


def parse_bytes(text: str) -> int:
    """'8G', '8GB' and '8GiB' as bytes (G is 10^9, GiB is 2^30); a plain number is bytes."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*(?:([kmgt])(i?))?b?\s*", text, flags=re.IGNORECASE)
    if match is None:
        raise ValueError(f"not a size: '{text}' (try 8G, 512MiB or a number of bytes)")
    number, unit, binary = match.groups()
    power = "kmgt".index(unit.lower()) + 1 if unit else 0
    return int(float(number) * (1024 if binary else 1000) ** power)


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
