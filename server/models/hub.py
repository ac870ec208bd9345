"""The Hugging Face Hub side of `localchat pull`: find a GGUF file in a repo, download it with resume,
and check it against the size and sha256 the hub publishes.

huggingface_hub does the talking (endpoint from HF_ENDPOINT, token from HF_TOKEN, its error types);
the download goes into a `.part` file next to the target that survives an interrupted run, so the
next run asks only for the missing bytes (an HTTP Range request).
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar
from urllib.parse import urlparse

from huggingface_hub import HfApi, constants, get_hf_file_metadata, hf_hub_url
from huggingface_hub.errors import (
    GatedRepoError,
    HfHubHTTPError,
    HTTPError,
    OfflineModeIsEnabled,
    RemoteEntryNotFoundError,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.file_download import http_get
from huggingface_hub.utils import build_hf_headers
from tqdm import tqdm

log = logging.getLogger("localchat.hub")
T = TypeVar("T")

GGUF_SUFFIX = ".gguf"
_HASH_CHUNK_BYTES = 8 * 1024 * 1024
# llama.cpp's split files: model-Q4_K_M-00001-of-00003.gguf
_SPLIT_PART = re.compile(r"-\d{5}-of-\d{5}\.gguf$", re.IGNORECASE)


class PullError(RuntimeError):
    """A pull that cannot go on; the message says what to do."""


@dataclass(frozen=True)
class HubFile:
    repo: str
    path: str
    # The commit the repo's revision pointed to: every request for this file uses it.
    commit: str
    size: int | None
    # LFS files (all GGUF weights on the hub) carry a sha256; small git files a git blob id.
    sha256: str | None
    blob_id: str | None

    @property
    def name(self) -> str:
        return PurePosixPath(self.path).name


def endpoint() -> str:
    return constants.ENDPOINT


def quant_pattern(quant: str) -> re.Pattern[str]:
    # Q4_K must not match Q4_K_M, nor Q4_XS match IQ4_XS; separators around the tag vary (-, _, .).
    return re.compile(rf"(?<![a-z0-9]){re.escape(quant)}(?![a-z0-9_])", re.IGNORECASE)


def select_gguf(repo: str, names: Sequence[str], spec: str | None) -> str:
    """The one GGUF file `spec` means: a file name, a quant tag, or nothing when there is one file."""
    ggufs = sorted(name for name in names if name.lower().endswith(GGUF_SUFFIX))
    listing = "".join(f"\n  {name}" for name in ggufs) or " none"
    if spec is not None and spec.lower().endswith(GGUF_SUFFIX):
        if spec in ggufs:
            return _single_file(spec)
        raise PullError(f"'{spec}' is not in {repo}. Its GGUF files:{listing}")
    if not ggufs:
        raise PullError(f"{repo} has no .gguf files.")
    if spec is None:
        if len(ggufs) == 1:
            return _single_file(ggufs[0])
        raise PullError(
            f"{repo} has {len(ggufs)} GGUF files; name one, or a quant tag such as Q4_K_M:{listing}"
        )
    pattern = quant_pattern(spec)
    matches = [name for name in ggufs if pattern.search(name)]
    if len(matches) == 1 or (matches and all(_SPLIT_PART.search(name) for name in matches)):
        return _single_file(matches[0])
    if not matches:
        raise PullError(f"no GGUF file in {repo} matches the quant '{spec}'. Its GGUF files:{listing}")
    matching = "".join(f"\n  {name}" for name in matches)
    raise PullError(f"{len(matches)} GGUF files in {repo} match '{spec}'; name one of them:{matching}")


def _single_file(name: str) -> str:
    if _SPLIT_PART.search(name):
        raise PullError(f"'{name}' is one part of a split GGUF; split models are not supported yet.")
    return name


def find_gguf(repo: str, spec: str | None, *, revision: str | None = None) -> HubFile:
    """Ask the hub for the repo's files (with sizes and hashes) and pick the one `spec` means."""
    api = HfApi(endpoint=endpoint())
    info = _hub_call(
        lambda: api.model_info(repo, revision=revision, files_metadata=True), repo=repo, revision=revision
    )
    siblings = {sibling.rfilename: sibling for sibling in info.siblings or []}
    chosen = siblings[select_gguf(repo, list(siblings), spec)]
    if info.sha is None:
        raise PullError(f"{endpoint()} did not say which commit {repo} is at.")
    lfs = chosen.lfs
    return HubFile(
        repo=repo,
        path=chosen.rfilename,
        commit=info.sha,
        size=lfs.size if lfs is not None else chosen.size,
        sha256=lfs.sha256 if lfs is not None else None,
        blob_id=chosen.blob_id,
    )


class _ProgressBar(tqdm):  # type: ignore[type-arg]
    """Plain tqdm on stderr: huggingface_hub's own bar hides itself when stderr is not a terminal."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("file", sys.stderr)
        kwargs.setdefault("mininterval", 0.5)
        kwargs.setdefault("dynamic_ncols", True)
        super().__init__(*args, **kwargs)


class _NoProgress(tqdm):  # type: ignore[type-arg]
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["disable"] = True
        super().__init__(*args, **kwargs)


def partial_path(target: Path, file: HubFile) -> Path:
    # Keyed by content, so a partial download of another revision is never resumed into this one.
    key = (file.sha256 or file.blob_id or file.commit)[:16]
    return target.with_name(f"{target.name}.{key}.part")


# Told (bytes on disk, bytes in all) as a download goes; called from the downloading thread.
ProgressReport = Callable[[int, "int | None"], None]


def _reporting(report: ProgressReport) -> type[tqdm]:  # type: ignore[type-arg]
    """A silent tqdm that tells `report` how far the download is."""

    class _Reporting(tqdm):  # type: ignore[type-arg]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs["disable"] = True
            super().__init__(*args, **kwargs)
            self.num_done = int(kwargs.get("initial") or 0)
            self.num_total = kwargs.get("total")
            report(self.num_done, self.num_total)

        def update(self, n: float | None = 1) -> bool | None:
            self.num_done += int(n or 0)
            report(self.num_done, self.num_total)
            return None

    return _Reporting


def download(
    file: HubFile, target: Path, *, show_progress: bool, report: ProgressReport | None = None
) -> int:
    """Download `file` to `target`, resuming a partial download; returns the bytes fetched now.
    `report` hears how far it is (as the progress bar would show it)."""
    if target.exists():
        if matches_hub_file(target, file):
            if report is not None:
                report(target.stat().st_size, target.stat().st_size)
            return 0
        raise PullError(
            f"{target} already exists and is not {file.repo}/{file.path}; move it away or pull another file."
        )
    url = hf_hub_url(file.repo, file.path, revision=file.commit, endpoint=endpoint())
    metadata = _hub_call(lambda: get_hf_file_metadata(url), repo=file.repo, path=file.path)
    expected_size = file.size if file.size is not None else metadata.size
    headers = build_hf_headers()
    # Xet-backed files are fetched through the resolve URL; others may redirect to a CDN that must
    # not see the token.
    source = url if metadata.xet_file_data is not None else metadata.location
    if urlparse(source).netloc != urlparse(url).netloc:
        headers.pop("authorization", None)
    part = partial_path(target, file)
    progress_class = _ProgressBar if show_progress else _NoProgress
    if report is not None:
        progress_class = _reporting(report)
    target.parent.mkdir(parents=True, exist_ok=True)
    with part.open("ab") as out:
        num_resumed = out.tell()
        if expected_size is not None and num_resumed > expected_size:
            out.truncate(0)
            num_resumed = 0
        if num_resumed:
            log.info("resuming %s at %d of %s bytes", file.name, num_resumed, expected_size)
        _hub_call(
            lambda: http_get(
                source,
                out,
                resume_size=num_resumed,
                headers=headers,
                expected_size=expected_size,
                displayed_filename=file.name,
                tqdm_class=progress_class,
            ),
            repo=file.repo,
            path=file.path,
        )
    num_fetched = part.stat().st_size - num_resumed
    if not matches_hub_file(part, file, expected_size=expected_size):
        part.unlink()
        raise PullError(
            f"{file.name} does not match the hub's size or sha256; the partial file was removed, run again."
        )
    os.replace(part, target)
    return num_fetched


def matches_hub_file(path: Path, file: HubFile, *, expected_size: int | None = None) -> bool:
    size = expected_size if expected_size is not None else file.size
    if size is not None and path.stat().st_size != size:
        return False
    if file.sha256 is not None:
        return file_digest(path, hashlib.sha256()) == file.sha256.lower()
    if file.blob_id is not None:
        # A git blob id is the sha1 of "blob <size>\0" followed by the content.
        digest = hashlib.sha1(f"blob {path.stat().st_size}\0".encode(), usedforsecurity=False)
        return file_digest(path, digest) == file.blob_id.lower()
    return size is not None


def file_digest(path: Path, digest: Any) -> str:
    with path.open("rb") as source:
        while chunk := source.read(_HASH_CHUNK_BYTES):
            digest.update(chunk)
    return str(digest.hexdigest())


def _hub_call(call: Callable[[], T], *, repo: str, revision: str | None = None, path: str | None = None) -> T:
    """Run one huggingface_hub call, turning its errors into messages that say what to do."""
    where = endpoint()
    try:
        return call()
    except GatedRepoError as exc:
        raise PullError(
            f"{repo} is gated: accept its terms on {where}/{repo} with your account, then set HF_TOKEN "
            f"to a token of that account (HTTP {exc.response.status_code})."
        ) from exc
    except RepositoryNotFoundError as exc:
        raise PullError(
            f"repository '{repo}' was not found on {where}. If it is private, set HF_TOKEN to a token "
            "that can read it."
        ) from exc
    except RevisionNotFoundError as exc:
        raise PullError(f"revision '{revision}' was not found in {repo}.") from exc
    except RemoteEntryNotFoundError as exc:
        raise PullError(f"'{path}' was not found in {repo}.") from exc
    except HfHubHTTPError as exc:
        status = exc.response.status_code
        if status == 401:
            raise PullError(
                f"{where} refused the request for {repo} (HTTP 401): HF_TOKEN is missing or was rejected."
            ) from exc
        if status == 403:
            raise PullError(
                f"{where} denied access to {repo} (HTTP 403): the token in HF_TOKEN lacks permission."
            ) from exc
        raise PullError(f"{where} answered HTTP {status} for {repo}; run again to resume.") from exc
    except OfflineModeIsEnabled as exc:
        raise PullError("huggingface_hub is in offline mode (HF_HUB_OFFLINE=1); unset it to pull.") from exc
    except (HTTPError, OSError) as exc:
        raise PullError(f"downloading from {where} failed: {exc}. Run again to resume.") from exc
