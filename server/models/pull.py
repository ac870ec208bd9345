"""`localchat pull` and auto-pull: fetch a catalog model's GGUF file from the Hugging Face Hub.

A pull by hand also records the model in models.yaml; pulling an entry that is already there
(a `repo:` entry whose file is missing) only fetches its file.
"""

from __future__ import annotations

import logging
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from server.config import DEFAULT_MODELS_DIR, Settings
from server.models import catalog_file, hub
from server.models.catalog import Catalog, EntryConfig, HubSource, ModelEntry, local_path
from server.models.hub import HubFile, ProgressReport, PullError

log = logging.getLogger("localchat.hub")


@dataclass(frozen=True)
class PullResult:
    name: str
    path: Path
    file: HubFile
    num_bytes_fetched: int
    is_new_entry: bool


def pull(
    settings: Settings,
    repo: str,
    spec: str | None,
    *,
    revision: str | None = None,
    name: str | None = None,
    show_progress: bool = True,
    on_file: Callable[[HubFile], None] | None = None,
    report: ProgressReport | None = None,
) -> PullResult:
    """`on_file` hears which file was chosen before its download starts; `report` hears progress."""
    file = hub.find_gguf(repo, spec, revision=revision)
    if on_file is not None:
        on_file(file)
    name = name or PurePosixPath(file.path).stem
    catalog_path = settings.catalog_path
    existing = catalog_file.find_entry(catalog_path, name)
    # The entry to add to models.yaml; None when the catalog already has it.
    record: dict[str, Any] | None = None
    if existing is None:
        _check_name_is_free(settings, name)
        record = {"name": name, "repo": repo, "file": file.path}
        if revision is not None:
            record["revision"] = revision
        config = EntryConfig.model_validate(record)
    else:
        config = _matching_entry(existing, name, file, catalog_path)
    target = local_path(config, settings.models_dir)
    num_fetched = hub.download(file, target, show_progress=show_progress, report=report)
    if record is not None:
        catalog_file.add_entry(catalog_path, record)
    return PullResult(name, target, file, num_fetched, is_new_entry=record is not None)


def pull_entry(entry: ModelEntry) -> int:
    """Fetch the file of a `repo:` catalog entry to its path (auto-pull); the catalog stays as it is."""
    assert entry.hub is not None
    source = entry.hub
    file = hub.find_gguf(source.repo, source.spec, revision=source.revision)
    log.info("pulling '%s' from %s/%s (%s bytes)", entry.name, file.repo, file.path, file.size)
    num_fetched = hub.download(file, entry.path, show_progress=False)
    log.info("pulled '%s' into %s", entry.name, entry.path)
    return num_fetched


def pull_command(entry: ModelEntry, settings: Settings) -> str:
    """The exact `localchat pull ...` that fetches this entry's file for a server with these settings."""
    assert entry.hub is not None
    source: HubSource = entry.hub
    words = ["localchat", "pull", source.repo]
    if source.spec is not None:
        words.append(source.spec)
    if source.revision is not None:
        words += ["--revision", source.revision]
    words += ["--name", entry.name]
    if settings.models_dir != DEFAULT_MODELS_DIR:
        words += ["--models-dir", str(settings.models_dir)]
    if settings.catalog_path != settings.models_dir / "models.yaml":
        words += ["--config", str(settings.catalog_path)]
    return shlex.join(words)


def _check_name_is_free(settings: Settings, name: str) -> None:
    if Catalog.from_settings(settings).has_name(name):
        raise PullError(f"'{name}' is already a model or alias in the catalog; choose another --name.")


def _matching_entry(existing: dict[str, Any], name: str, file: HubFile, catalog_path: Path) -> EntryConfig:
    """The catalog's entry of this name, if it describes this very file (a pull it asked for)."""
    config = EntryConfig.model_validate(existing)
    is_same_file = config.file == file.path or (
        config.file is None
        and (config.quant is None or hub.quant_pattern(config.quant).search(file.path) is not None)
    )
    if config.repo != file.repo or not is_same_file:
        raise PullError(f"'{name}' is already in {catalog_path} for another file; choose another --name.")
    return config
