"""The real chat templates llama.cpp ships (models/templates/*.jinja), taken from the sdist of the
installed llama-cpp-python: pip downloads it (and keeps it in its own cache), only the templates are
unpacked, into a cache folder that later runs reuse."""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import pytest

TEMPLATES_IN_SDIST = "vendor/llama.cpp/models/templates/"
CACHE_ENV = "LOCALCHAT_TEST_CACHE"
DOWNLOAD_TIMEOUT_S = 600

# Read at import too: the unit tests' autouse fixture removes every LOCALCHAT_* variable before a test
# runs, and this module is imported while tests are collected, before that.
_CACHE_AT_IMPORT = os.environ.get(CACHE_ENV)


class TemplatesUnavailable(RuntimeError):
    """The sdist could not be downloaded or holds no templates."""


# version -> why its download failed: one attempt per session, not one per test
_failures: dict[str, str] = {}


def cache_dir() -> Path:
    override = os.environ.get(CACHE_ENV) or _CACHE_AT_IMPORT
    return Path(override) if override else Path.home() / ".cache" / "localchat-tests"


def llama_cpp_python_version() -> str:
    return importlib.metadata.version("llama-cpp-python")


def fetch_vendored_templates() -> Path:
    """The templates folder, downloaded on first use; raises TemplatesUnavailable with pip's reason."""
    version = llama_cpp_python_version()
    target = cache_dir() / f"llama-cpp-python-{version}-templates"
    if any(target.glob("*.jinja")):
        return target
    failure = _failures.get(version)
    if failure is not None:
        raise TemplatesUnavailable(failure)
    try:
        _download(version, target)
    except TemplatesUnavailable as exc:
        _failures[version] = str(exc)
        raise
    return target


def vendored_templates_dir() -> Path:
    """The folder of `*.jinja` templates; fails the calling test if they cannot be had."""
    try:
        return fetch_vendored_templates()
    except TemplatesUnavailable as exc:
        pytest.fail(str(exc))


def vendored_template_names() -> list[str]:
    """File stems, sorted, e.g. "Qwen-Qwen2.5-7B-Instruct"."""
    return sorted(path.stem for path in vendored_templates_dir().glob("*.jinja"))


def vendored_template(name: str) -> str:
    """One template's text, by file stem (e.g. "meta-llama-Llama-3.1-8B-Instruct")."""
    path = vendored_templates_dir() / f"{name}.jinja"
    if not path.is_file():
        pytest.fail(f"llama-cpp-python {llama_cpp_python_version()} ships no template named {name!r}")
    return path.read_text(encoding="utf-8")


def _download(version: str, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    # Work in a private folder next to the target, so the final rename is atomic and a crash or a
    # parallel run never leaves a half-filled templates folder behind.
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".download-") as work:
        download = Path(work) / "sdist"
        command = [
            sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
            f"llama-cpp-python=={version}", "-d", str(download),
        ]  # fmt: skip
        try:
            result = subprocess.run(command, capture_output=True, text=True, timeout=DOWNLOAD_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            raise TemplatesUnavailable(
                f"downloading the llama-cpp-python {version} sdist took over {DOWNLOAD_TIMEOUT_S} s"
            ) from None
        sdists = sorted(download.glob("*.tar.gz"))
        if result.returncode != 0 or len(sdists) != 1:
            raise TemplatesUnavailable(
                f"could not download the llama-cpp-python {version} sdist "
                f"({' '.join(command[1:])} exited {result.returncode}):\n{result.stderr[-3000:]}"
            )
        unpacked = Path(work) / "templates"
        unpacked.mkdir()
        num_templates = _extract_templates(sdists[0], unpacked)
        if num_templates == 0:
            raise TemplatesUnavailable(f"{sdists[0].name} holds no {TEMPLATES_IN_SDIST}*.jinja")
        try:
            unpacked.rename(target)
        except OSError:
            if not any(target.glob("*.jinja")):  # else a parallel run got there first
                shutil.rmtree(target, ignore_errors=True)
                unpacked.rename(target)


def _extract_templates(sdist: Path, into: Path) -> int:
    num_templates = 0
    with tarfile.open(sdist, "r:gz") as archive:
        for member in archive:
            # Members are "<name>-<version>/vendor/...": drop the first part. Only the base name is
            # written, so no member can land outside `into`.
            inner = member.name.partition("/")[2]
            folder, _, name = inner.rpartition("/")
            if not (member.isfile() and f"{folder}/" == TEMPLATES_IN_SDIST and name.endswith(".jinja")):
                continue
            source = archive.extractfile(member)
            if source is None:
                continue
            (into / name).write_bytes(source.read())
            num_templates += 1
    return num_templates
