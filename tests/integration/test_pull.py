"""`localchat pull` as a user runs it (a subprocess), against a stand-in Hugging Face Hub on 127.0.0.1.

huggingface_hub reads HF_ENDPOINT when it is imported, so each pull is its own process with its own
environment. Nothing here reaches any other host.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.hub_standin import Fault, HubStandIn
from tests.support.tiny_gguf import tiny_gguf

REPO = "org/tiny-GGUF"
PRIVATE_REPO = "org/private-GGUF"
TOKEN = "hf_right_token"
BIG_FILE = "tiny-Q4_K_M.gguf"
# huggingface_hub writes downloads in 10 MiB pieces; the big file must hold more than one.
PIECE_BYTES = 10 * 1024 * 1024


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubStandIn]:
    files = tmp_path_factory.mktemp("hub-files")
    big = tiny_gguf(files / BIG_FILE, padding_bytes=PIECE_BYTES + 2 * 1024 * 1024)
    small = tiny_gguf(files / "tiny-Q8_0.gguf")
    readme = files / "README.md"
    readme.write_text("# tiny\n")
    standin = HubStandIn().start()
    standin.add_repo(REPO, {BIG_FILE: big, "tiny-Q8_0.gguf": small, "README.md": readme})
    standin.add_repo(PRIVATE_REPO, {"secret-Q4_K_M.gguf": small}, token=TOKEN)
    yield standin
    standin.stop()


@dataclass(frozen=True)
class Run:
    returncode: int
    stdout: str
    stderr: str


Localchat = Callable[..., Run]


@pytest.fixture
def models_dir(tmp_path: Path) -> Path:
    return tmp_path / "models"


@pytest.fixture
def localchat(hub: HubStandIn, tmp_path: Path, models_dir: Path) -> Iterator[Localchat]:
    def run(*args: str, token: str | None = None) -> Run:
        env = {
            **os.environ,
            "HF_ENDPOINT": hub.url,
            "HF_HUB_DISABLE_XET": "1",
            "HF_HUB_OFFLINE": "0",
            "HF_HOME": str(tmp_path / "hf-home"),
        }
        env.pop("HF_TOKEN", None)
        if token is not None:
            env["HF_TOKEN"] = token
        done = subprocess.run(
            [sys.executable, "-m", "server", *args, "--models-dir", str(models_dir)],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        return Run(done.returncode, done.stdout, done.stderr)

    hub.download_faults.clear()
    yield run
    hub.download_faults.clear()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _catalog(models_dir: Path) -> list[dict[str, object]]:
    return yaml.safe_load((models_dir / "models.yaml").read_text())["models"]


def test_pull_by_quant_downloads_checks_and_adds_entry(
    localchat: Localchat, hub: HubStandIn, models_dir: Path
) -> None:
    run = localchat("pull", REPO, "q4_k_m")
    assert run.returncode == 0, run.stderr
    target = models_dir / BIG_FILE
    assert _sha256(target) == hub.repos[REPO].files[BIG_FILE].sha256
    assert "100%" in run.stderr and BIG_FILE in run.stderr  # the progress bar
    assert (
        f"-> {target}" in run.stdout and f"added 'tiny-Q4_K_M' to {models_dir / 'models.yaml'}" in run.stdout
    )
    assert _catalog(models_dir) == [{"name": "tiny-Q4_K_M", "repo": REPO, "file": BIG_FILE}]
    assert list(models_dir.glob("*.part")) == []
    listed = localchat("models")
    row = next(line for line in listed.stdout.splitlines() if line.startswith("tiny-Q4_K_M "))
    assert row.split()[:4] == ["tiny-Q4_K_M", "base", "1M", "Q4_K_M"]


def test_pull_again_is_a_no_op(localchat: Localchat, hub: HubStandIn, models_dir: Path) -> None:
    assert localchat("pull", REPO, "Q8_0").returncode == 0
    num_downloads = len(hub.downloads("tiny-Q8_0.gguf"))
    again = localchat("pull", REPO, "Q8_0")
    assert again.returncode == 0, again.stderr
    assert "already here" in again.stdout and "was already in" in again.stdout
    assert len(hub.downloads("tiny-Q8_0.gguf")) == num_downloads
    assert len(_catalog(models_dir)) == 1


def test_pull_resumes_in_the_same_run_after_a_cut_connection(
    localchat: Localchat, hub: HubStandIn, models_dir: Path
) -> None:
    hub.download_faults.append(Fault(cut_after=PIECE_BYTES + 4096))
    before = len(hub.downloads(BIG_FILE))
    run = localchat("pull", REPO, BIG_FILE)
    assert run.returncode == 0, run.stderr
    attempts = hub.downloads(BIG_FILE)[before:]
    assert [attempt.range for attempt in attempts] == [None, f"bytes={PIECE_BYTES}-"]
    assert _sha256(models_dir / BIG_FILE) == hub.repos[REPO].files[BIG_FILE].sha256


def test_pull_interrupted_run_is_resumed_by_the_next(
    localchat: Localchat, hub: HubStandIn, models_dir: Path
) -> None:
    hub.download_faults.extend([Fault(cut_after=PIECE_BYTES + 4096), Fault(status=503)])
    first = localchat("pull", REPO, BIG_FILE)
    assert first.returncode == 1
    assert "run again to resume" in first.stderr
    (part,) = models_dir.glob(f"{BIG_FILE}.*.part")
    assert part.stat().st_size == PIECE_BYTES
    assert not (models_dir / BIG_FILE).exists()
    before = len(hub.downloads(BIG_FILE))
    second = localchat("pull", REPO, BIG_FILE)
    assert second.returncode == 0, second.stderr
    assert [attempt.range for attempt in hub.downloads(BIG_FILE)[before:]] == [f"bytes={PIECE_BYTES}-"]
    assert _sha256(models_dir / BIG_FILE) == hub.repos[REPO].files[BIG_FILE].sha256
    assert not part.exists()


def test_pull_missing_file_lists_the_gguf_files(localchat: Localchat, models_dir: Path) -> None:
    run = localchat("pull", REPO, "tiny-Q2_K.gguf")
    assert run.returncode == 1
    assert f"'tiny-Q2_K.gguf' is not in {REPO}" in run.stderr
    assert BIG_FILE in run.stderr and "tiny-Q8_0.gguf" in run.stderr and "README.md" not in run.stderr
    assert not models_dir.exists() or list(models_dir.iterdir()) == []


def test_pull_without_file_in_repo_with_several_asks_for_one(localchat: Localchat) -> None:
    run = localchat("pull", REPO)
    assert run.returncode == 1
    assert "2 GGUF files; name one, or a quant tag such as Q4_K_M" in run.stderr


def test_pull_missing_repo(localchat: Localchat) -> None:
    run = localchat("pull", "org/no-such-repo", "Q4_K_M")
    assert run.returncode == 1
    assert "repository 'org/no-such-repo' was not found" in run.stderr


def test_pull_missing_revision(localchat: Localchat) -> None:
    run = localchat("pull", REPO, "Q8_0", "--revision", "v9")
    assert run.returncode == 1
    assert f"revision 'v9' was not found in {REPO}" in run.stderr


def test_pull_private_repo_needs_the_right_token(
    localchat: Localchat, hub: HubStandIn, models_dir: Path
) -> None:
    anonymous = localchat("pull", PRIVATE_REPO, "Q4_K_M")
    assert anonymous.returncode == 1
    assert "set HF_TOKEN" in anonymous.stderr
    wrong = localchat("pull", PRIVATE_REPO, "Q4_K_M", token="hf_wrong")
    assert wrong.returncode == 1
    assert "HTTP 401" in wrong.stderr and "HF_TOKEN is missing or was rejected" in wrong.stderr
    right = localchat("pull", PRIVATE_REPO, "Q4_K_M", token=TOKEN)
    assert right.returncode == 0, right.stderr
    assert (models_dir / "secret-Q4_K_M.gguf").exists()
    assert hub.downloads("secret-Q4_K_M.gguf")[-1].authorization == f"Bearer {TOKEN}"


def test_pull_fills_in_the_file_of_an_existing_catalog_entry(localchat: Localchat, models_dir: Path) -> None:
    models_dir.mkdir()
    catalog = f"# mine\nmodels:\n  - name: tiny\n    repo: {REPO}\n    quant: Q8_0  # small one\n"
    (models_dir / "models.yaml").write_text(catalog)
    listed = localchat("models")
    command = f"localchat pull {REPO} Q8_0 --name tiny --models-dir {models_dir}"
    assert command in listed.stdout
    run = localchat(*command.split()[1:-2])  # the same command; the fixture adds --models-dir
    assert run.returncode == 0, run.stderr
    assert "'tiny' was already in" in run.stdout
    assert (models_dir / "tiny.gguf").exists()
    assert (models_dir / "models.yaml").read_text() == catalog


def test_pull_refuses_a_name_taken_by_another_model(localchat: Localchat, models_dir: Path) -> None:
    models_dir.mkdir()
    (models_dir / "models.yaml").write_text("models:\n  - name: tiny\n    file: other.gguf\n")
    run = localchat("pull", REPO, "Q8_0", "--name", "tiny")
    assert run.returncode == 1
    assert "choose another --name" in run.stderr
