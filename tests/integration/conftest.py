"""One real server per test session: uvicorn on 127.0.0.1, the real bundled model, plus a copy of it
with a Gemma chat template written into its GGUF metadata (the instruct path)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from server.models.bundled import assemble_bundled_model
from tests.hub_standin import HubStandIn
from tests.support.gguf_copies import copy_with_template
from tests.support.tiny_gguf import tiny_gguf

from .model_servers import N_CTX, RunningServer, start_server, stop
from .ollama_models import PULL_FILE, PULL_PADDING_BYTES, PULL_REPO, THINKING_MODEL, TOOLS_MODEL
from .tool_models import TOOL_MODELS, gguf_with_template

__all__ = ["BASE_MODEL", "INSTRUCT_MODEL", "N_CTX", "RunningServer"]

REPO_ROOT = Path(__file__).resolve().parents[2]
NODE_DIR = REPO_ROOT / "tests" / "node"
GEMMA_TEMPLATE = REPO_ROOT / "tests" / "fixtures" / "templates" / "gemma.jinja"
BASE_MODEL = "gemma-3-270m"
INSTRUCT_MODEL = "gemma-3-270m-it"


@pytest.fixture(scope="session")
def base_model_path() -> Path:
    path = REPO_ROOT / "models" / "gemma-3-270m-q4_k_m.gguf"
    if not path.exists():
        assemble_bundled_model(path)
    return path


@pytest.fixture(scope="session")
def instruct_model_path(base_model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled base model with the Gemma instruct template added to its metadata."""
    target = tmp_path_factory.mktemp("instruct") / "gemma-3-270m-it-template.gguf"
    return copy_with_template(base_model_path, GEMMA_TEMPLATE, target)


@pytest.fixture(scope="session")
def node_clients() -> Path:
    """tests/node with its npm packages (openai-node, ollama-js) installed from the lockfile."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        # CI sets LOCALCHAT_REQUIRE_NODE=1 so that a missing node fails rather than skips.
        if os.environ.get("LOCALCHAT_REQUIRE_NODE") == "1":
            pytest.fail("node and npm are required here (LOCALCHAT_REQUIRE_NODE=1)")
        pytest.skip("node and npm are not installed")
    packages = json.loads((NODE_DIR / "package.json").read_text())["dependencies"]
    if not all((NODE_DIR / "node_modules" / package).is_dir() for package in packages):
        # npm ci installs exactly the locked versions.
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, check=True, timeout=300)
    return NODE_DIR


@pytest.fixture(scope="session")
def server(
    base_model_path: Path, instruct_model_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    running = start_server(
        tmp_path_factory.mktemp("models"),
        f"""
settings:
  default_model: {BASE_MODEL}
models:
  - name: {BASE_MODEL}
    file: {base_model_path}
    aliases: [gemma-base]
  - name: {INSTRUCT_MODEL}
    file: {instruct_model_path}
    aliases: [gemma-it]
""",
        {},
    )
    yield running
    stop(running)


@pytest.fixture(scope="session")
def client(server: RunningServer) -> openai.OpenAI:
    return server.client()


@pytest.fixture
def http(server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=120) as session:
        yield session


@pytest.fixture(scope="session")
def tool_server(base_model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """The base model plus copies of it carrying real tool-calling templates (see tool_models.py)."""
    folder = tmp_path_factory.mktemp("tool-models")
    entries = "\n".join(
        f"  - name: {name}\n    file: {gguf_with_template(base_model_path, stem, folder / f'{name}.gguf')}"
        for name, stem in TOOL_MODELS.items()
    )
    running = start_server(
        folder / "serve",
        f"settings:\n  default_model: {BASE_MODEL}\n  max_loaded_models: {len(TOOL_MODELS) + 1}\n"
        f"models:\n  - name: {BASE_MODEL}\n    file: {base_model_path}\n{entries}\n",
        {},
    )
    yield running
    stop(running)


@pytest.fixture(scope="session")
def tools_client(tool_server: RunningServer) -> openai.OpenAI:
    return tool_server.client()


@pytest.fixture
def tools_http(tool_server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=tool_server.base_url, timeout=120) as session:
        yield session


@pytest.fixture(scope="session")
def ollama_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[HubStandIn]:
    files = tmp_path_factory.mktemp("ollama-hub")
    standin = HubStandIn().start()
    standin.add_repo(PULL_REPO, {PULL_FILE: tiny_gguf(files / PULL_FILE, padding_bytes=PULL_PADDING_BYTES)})
    yield standin
    standin.stop()


@pytest.fixture(scope="session")
def ollama_server(
    base_model_path: Path, ollama_hub: HubStandIn, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    folder = tmp_path_factory.mktemp("ollama-models")
    copies = {
        name: gguf_with_template(base_model_path, TOOL_MODELS[name], folder / f"{name}.gguf")
        for name in (TOOLS_MODEL, THINKING_MODEL)
    }
    entries = "".join(f"  - name: {name}\n    file: {path}\n" for name, path in copies.items())
    running = start_server(
        folder / "serve",
        f"settings:\n  default_model: {BASE_MODEL}\n  max_loaded_models: 4\n"
        f"models:\n  - name: {BASE_MODEL}\n    file: {base_model_path}\n    aliases: [gemma-base]\n{entries}",
        {
            "HF_ENDPOINT": ollama_hub.url,
            "HF_HUB_DISABLE_XET": "1",
            "HF_HUB_OFFLINE": "0",
            "HF_HOME": str(folder / "hf-home"),
            "HF_TOKEN": None,
        },
    )
    yield running
    stop(running)
