"""What a request learns before any model loads: unknown names (404), files that are missing or not
downloaded yet (409 with the pull command), streamed or not. The app runs in-process without lifespan."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.config import Settings
from server.models.catalog import ModelNotFound
from server.pipeline.model_lease import model_name, model_not_found
from tests.unit.asgi_app import client_for, make_app

CHAT = {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2}


@pytest.fixture
def models_dir(tmp_path: Path) -> Path:
    (tmp_path / "models.yaml").write_text(
        "models:\n"
        "  - name: remote\n    repo: org/tiny-GGUF\n    quant: Q4_K_M\n"
        "  - name: gone\n    file: gone.gguf\n",
        encoding="utf-8",
    )
    return tmp_path


@pytest.mark.parametrize("is_stream", [False, True])
async def test_not_downloaded_model_is_409_with_pull_command(models_dir: Path, is_stream: bool) -> None:
    async with client_for(make_app(models_dir)) as client:
        response = await client.post(
            "/v1/chat/completions", json={**CHAT, "model": "remote", "stream": is_stream}
        )
    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "model_not_downloaded" and error["param"] == "model"
    assert f"localchat pull org/tiny-GGUF Q4_K_M --name remote --models-dir {models_dir}" in error["message"]


async def test_not_downloaded_model_by_query_parameter_on_completions(models_dir: Path) -> None:
    async with client_for(make_app(models_dir)) as client:
        response = await client.post("/v1/completions?model=remote", json={"prompt": "x", "model": "gone"})
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "model_not_downloaded"


@pytest.mark.parametrize("is_stream", [False, True])
async def test_missing_local_file_is_409_unavailable(models_dir: Path, is_stream: bool) -> None:
    async with client_for(make_app(models_dir)) as client:
        response = await client.post(
            "/v1/chat/completions", json={**CHAT, "model": "gone", "stream": is_stream}
        )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "model_unavailable"


async def test_unknown_model_on_a_stream_is_404_before_the_stream_starts(models_dir: Path) -> None:
    async with client_for(make_app(models_dir)) as client:
        response = await client.post(
            "/v1/chat/completions", json={**CHAT, "model": "gpt-4o-mini", "stream": True}
        )
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/json")
    assert response.json()["error"]["code"] == "model_not_found"


def test_auto_pull_makes_a_missing_repo_file_servable(models_dir: Path) -> None:
    # The load pulls it then (tests/integration/test_pool.py drives that against a stand-in hub).
    pool = make_app(models_dir, auto_pull=True).state.pool
    pool.check_servable(pool.catalog.resolve("remote"))


async def test_models_list_reports_hub_entries_and_load_state(models_dir: Path) -> None:
    async with client_for(make_app(models_dir)) as client:
        cards = {card["id"]: card for card in (await client.get("/v1/models")).json()["data"]}
    remote = cards["remote"]
    assert (remote["repo"], remote["file_exists"], remote["loaded"], remote["status"]) == (
        "org/tiny-GGUF",
        False,
        False,
        "unloaded",
    )
    assert (remote["num_loads"], remote["num_in_flight"], remote["size_bytes"]) == (0, 0, None)
    assert isinstance(remote["n_gpu_layers"], int)


# -- model_not_found ---------------------------------------------------------------------------------------


def test_model_not_found_lists_available_models() -> None:
    error = model_not_found(ModelNotFound("gpt-4", ["alpha", "beta"]))
    assert error.status == 404
    assert error.to_dict()["error"] == {
        "message": "The model 'gpt-4' does not exist. Available models: alpha, beta.",
        "type": "invalid_request_error",
        "param": "model",
        "code": "model_not_found",
    }


def test_model_not_found_with_empty_catalog_says_none() -> None:
    assert "Available models: none." in model_not_found(ModelNotFound("x", [])).message


# -- model_name ----------------------------------------------------------------------------------------------


@pytest.fixture
def settings() -> Settings:
    return Settings(default_model="the-default")


def test_model_name_query_wins_over_body(settings: Settings) -> None:
    assert model_name("from-query", "from-body", settings) == "from-query"


def test_model_name_body_wins_over_default(settings: Settings) -> None:
    assert model_name(None, "from-body", settings) == "from-body"


def test_model_name_falls_back_to_default(settings: Settings) -> None:
    assert model_name(None, None, settings) == "the-default"


def test_model_name_empty_query_falls_through_to_body(settings: Settings) -> None:
    assert model_name("", "from-body", settings) == "from-body"
