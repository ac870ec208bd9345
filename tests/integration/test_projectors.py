"""A model with a multimodal projector (catalog key `mmproj`) loads it beside its weights through
libmtmd, on the bundled model's real weights with tiny projectors written here; a projector made for
another model fails that model's load with the reason, and the server goes on serving."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.tiny_mmproj import write_tiny_audio_mmproj, write_tiny_gemma3_mmproj

from .conftest import BASE_MODEL
from .model_servers import RunningServer, model_card, start_server, stop


@pytest.fixture(scope="module")
def projector_server(
    base_model_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    folder = tmp_path_factory.mktemp("projectors")
    write_tiny_gemma3_mmproj(folder / "mmproj-vision.gguf", n_embd_text=640)
    write_tiny_audio_mmproj(folder / "mmproj-audio.gguf", n_embd_text=640)
    write_tiny_gemma3_mmproj(folder / "mmproj-wide.gguf", n_embd_text=1024)
    catalog = f"""
settings:
  default_model: {BASE_MODEL}
  max_loaded_models: 4
models:
  - name: {BASE_MODEL}
    file: {base_model_path}
  - name: gemma-vision
    file: {base_model_path}
    mmproj: mmproj-vision.gguf
  - name: gemma-audio
    file: {base_model_path}
    mmproj: {folder / "mmproj-audio.gguf"}
  - name: gemma-wrong-projector
    file: {base_model_path}
    mmproj: mmproj-wide.gguf
"""
    running = start_server(folder, catalog, {})
    yield running
    stop(running)


@pytest.fixture
def http(projector_server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=projector_server.base_url, timeout=120) as session:
        yield session


ASK = {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 3}


def test_projector_files_are_not_models(http: httpx.Client) -> None:
    names = [card["id"] for card in http.get("/v1/models").json()["data"]]
    assert names == [BASE_MODEL, "gemma-vision", "gemma-audio", "gemma-wrong-projector"]


@pytest.mark.parametrize(
    ("name", "projector"), [("gemma-vision", "mmproj-vision.gguf"), ("gemma-audio", "mmproj-audio.gguf")]
)
def test_a_model_loads_with_its_projector(http: httpx.Client, name: str, projector: str) -> None:
    answer = http.post("/v1/chat/completions", json={"model": name, **ASK})
    assert answer.status_code == 200, answer.text
    card = model_card(http, name)
    assert card["status"] == "loaded" and card["mmproj"] == projector and card["projector_error"] is None


def test_a_projector_for_another_model_is_refused_with_the_reason(http: httpx.Client) -> None:
    answer = http.post("/v1/chat/completions", json={"model": "gemma-wrong-projector", **ASK})
    assert answer.status_code == 409
    message = answer.json()["error"]["message"]
    assert "mmproj-wide.gguf" in message and "1024" in message and "640" in message
    assert model_card(http, "gemma-wrong-projector")["status"] == "unloaded"
    # The server goes on serving.
    assert http.post("/v1/chat/completions", json={"model": BASE_MODEL, **ASK}).status_code == 200
