"""The model pool on real servers and real models: eviction at max_loaded_models=1 and reloading, one
load for many concurrent cold requests, /health and the loaded model answering while another model
loads, keep-alive comments while a stream waits, the "*" alias, auto-pull from a stand-in hub,
preloading, and idle TTL unloading.

Waiting for a load is made as long as a test needs by auto-pulling the model from the stand-in hub
and holding its download there: everything else about that load is real."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from server.engine.llama import supports_gpu_offload
from tests.hub_standin import Fault, HubStandIn

from .conftest import BASE_MODEL, INSTRUCT_MODEL, RunningServer
from .model_servers import model_card, start_server, stop, wait_until

HELLO = [{"role": "user", "content": "Hi"}]
PULLED_MODEL = "gemma-pulled"
STREAMED_PULLED_MODEL = "gemma-pulled-streamed"
HUB_REPO = "test-org/gemma-3-270m-GGUF"
HUB_FILE = "gemma-3-270m-Q4_K_M.gguf"


@pytest.fixture(scope="module")
def hub(base_model_path: Path) -> Iterator[HubStandIn]:
    standin = HubStandIn().start()
    standin.add_repo(HUB_REPO, {HUB_FILE: base_model_path})
    yield standin
    standin.stop()


def _hub_env(hub: HubStandIn, home: Path) -> dict[str, str | None]:
    return {
        "HF_ENDPOINT": hub.url,
        "HF_HUB_DISABLE_XET": "1",
        "HF_HUB_OFFLINE": "0",
        "HF_HOME": str(home),
        "HF_TOKEN": None,
    }


@pytest.fixture(scope="module")
def pool_server(
    base_model_path: Path,
    instruct_model_path: Path,
    hub: HubStandIn,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[RunningServer]:
    """One model resident at a time; the instruct model also answers any unknown name."""
    workdir = tmp_path_factory.mktemp("pool")
    catalog = f"""
settings:
  default_model: {BASE_MODEL}
models:
  - name: {BASE_MODEL}
    file: {base_model_path}
  - name: {INSTRUCT_MODEL}
    file: {instruct_model_path}
    aliases: [gemma-it, "*"]
  - name: {PULLED_MODEL}
    repo: {HUB_REPO}
    quant: q4_k_m
  - name: {STREAMED_PULLED_MODEL}
    repo: {HUB_REPO}
    file: {HUB_FILE}
"""
    env = {
        "LOCALCHAT_MAX_LOADED_MODELS": "1",
        "LOCALCHAT_SSE_PING_SECONDS": "0.1",
        "LOCALCHAT_AUTO_PULL": "1",
        **_hub_env(hub, workdir / "hf-home"),
    }
    running = start_server(workdir, catalog, env)
    yield running
    stop(running)


@pytest.fixture
def pool_http(pool_server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=pool_server.base_url, timeout=120) as session:
        yield session


def _complete(server: RunningServer, model: str) -> str:
    response = server.client().completions.create(
        model=model, prompt="The capital of France is", max_tokens=8, temperature=0
    )
    assert response.model == model
    return response.choices[0].text


def _make_cold(server: RunningServer, http: httpx.Client, name: str, other: str) -> int:
    """With max_loaded_models=1, using `other` unloads `name`; returns `name`'s load count."""
    _complete(server, other)
    card = model_card(http, name)
    assert card["loaded"] is False
    return int(card["num_loads"])


# -- max_loaded_models=1 --------------------------------------------------------------------------------


def test_switching_evicts_and_evicted_model_reloads_correctly(
    pool_server: RunningServer, pool_http: httpx.Client
) -> None:
    first = _complete(pool_server, BASE_MODEL)
    num_loads = model_card(pool_http, BASE_MODEL)["num_loads"]
    instruct = pool_server.client(default_query={"model": INSTRUCT_MODEL})
    assert (
        instruct.chat.completions.create(model=BASE_MODEL, messages=HELLO, max_tokens=3).model
        == INSTRUCT_MODEL
    )
    assert [model_card(pool_http, name)["loaded"] for name in (BASE_MODEL, INSTRUCT_MODEL)] == [False, True]
    assert _complete(pool_server, BASE_MODEL) == first
    base = model_card(pool_http, BASE_MODEL)
    assert (base["loaded"], base["num_loads"]) == (True, num_loads + 1)
    assert model_card(pool_http, INSTRUCT_MODEL)["loaded"] is False


def test_concurrent_cold_requests_share_one_load(pool_server: RunningServer, pool_http: httpx.Client) -> None:
    num_loads = _make_cold(pool_server, pool_http, INSTRUCT_MODEL, BASE_MODEL)
    client = pool_server.client()

    def ask(_: int) -> str:
        return client.chat.completions.create(model=INSTRUCT_MODEL, messages=HELLO, max_tokens=3).model

    with ThreadPoolExecutor(max_workers=6) as workers:
        models = list(workers.map(ask, range(6)))
    assert models == [INSTRUCT_MODEL] * 6
    card = model_card(pool_http, INSTRUCT_MODEL)
    assert (card["num_loads"], card["num_in_flight"]) == (num_loads + 1, 0)


def test_stream_waiting_for_a_load_gets_keep_alive_comments(
    pool_server: RunningServer, pool_http: httpx.Client, hub: HubStandIn
) -> None:
    download = threading.Event()
    hub.download_faults.append(Fault(hold=download))
    body = {"model": STREAMED_PULLED_MODEL, "messages": HELLO, "max_tokens": 3, "stream": True}
    try:
        with pool_http.stream("POST", "/v1/chat/completions", json=body) as response:
            assert response.status_code == 200
            lines = response.iter_lines()
            # Sent every 0.1s here while the download is held: the client sees a live connection.
            assert [next(lines) for _ in range(4)] == [": keep-alive", "", ": keep-alive", ""]
            download.set()
            rest = [line for line in lines if line]
    finally:
        download.set()
    first_data = next(index for index, line in enumerate(rest) if line.startswith("data:"))
    assert set(rest[:first_data]) <= {": keep-alive"}
    assert f'"model":"{STREAMED_PULLED_MODEL}"' in rest[first_data]
    assert rest[-1] == "data: [DONE]"
    # The stream held the model until its end, and let go then.
    wait_until(lambda: model_card(pool_http, STREAMED_PULLED_MODEL)["num_in_flight"] == 0, what="release")


def test_stream_the_client_abandons_releases_its_model(
    pool_server: RunningServer, pool_http: httpx.Client
) -> None:
    _complete(pool_server, BASE_MODEL)
    body = {"model": BASE_MODEL, "prompt": "Once upon a time", "max_tokens": 500, "stream": True}
    with pool_http.stream("POST", "/v1/completions", json=body) as response:
        lines = response.iter_lines()
        assert next(line for line in lines if line.startswith("data:"))
        assert model_card(pool_http, BASE_MODEL)["num_in_flight"] == 1
    wait_until(
        lambda: model_card(pool_http, BASE_MODEL)["num_in_flight"] == 0, what="release after disconnect"
    )
    # Released, so it can make room: the next model loads without waiting for 500 tokens.
    _complete(pool_server, INSTRUCT_MODEL)
    assert model_card(pool_http, BASE_MODEL)["loaded"] is False


def test_health_answers_while_a_model_loads(pool_server: RunningServer, pool_http: httpx.Client) -> None:
    _make_cold(pool_server, pool_http, INSTRUCT_MODEL, BASE_MODEL)
    seen_loading = []
    with ThreadPoolExecutor(max_workers=1) as worker:
        request = worker.submit(_complete, pool_server, INSTRUCT_MODEL)

        def health_reports_loading() -> bool:
            response = pool_http.get("/health")
            assert response.status_code == 200
            seen_loading.append(INSTRUCT_MODEL in response.json()["loading"])
            return seen_loading[-1] or request.done()

        wait_until(health_reports_loading, what="a /health answer during the load")
        request.result()  # raises what the request raised
    assert any(seen_loading)


def test_wildcard_alias_serves_unknown_names_under_canonical_name(
    pool_server: RunningServer, pool_http: httpx.Client
) -> None:
    response = pool_server.client().chat.completions.create(model="gpt-4o-mini", messages=HELLO, max_tokens=2)
    assert response.model == INSTRUCT_MODEL
    assert model_card(pool_http, "gpt-4o-mini")["id"] == INSTRUCT_MODEL


def test_health_and_loaded_model_answer_while_another_model_is_pulled(
    pool_server: RunningServer, pool_http: httpx.Client, hub: HubStandIn, base_model_path: Path
) -> None:
    card = model_card(pool_http, PULLED_MODEL)
    assert (card["file_exists"], card["repo"]) == (False, HUB_REPO)
    _complete(pool_server, BASE_MODEL)
    download = threading.Event()
    hub.download_faults.append(Fault(hold=download))
    client = pool_server.client()
    with ThreadPoolExecutor(max_workers=1) as worker:
        pulled = worker.submit(
            client.chat.completions.create, model=PULLED_MODEL, messages=HELLO, max_tokens=2
        )
        try:
            wait_until(lambda: model_card(pool_http, PULLED_MODEL)["status"] == "loading", what="the pull")
            health = pool_http.get("/health")
            assert health.status_code == 200 and health.json()["loading"] == [PULLED_MODEL]
            # The loaded model keeps its place until the new one has its file and needs the room.
            _complete(pool_server, BASE_MODEL)
            assert not pulled.done()
        finally:
            download.set()
        assert pulled.result().model == PULLED_MODEL
    card = model_card(pool_http, PULLED_MODEL)
    assert (card["file_exists"], card["loaded"], card["size_bytes"]) == (
        True,
        True,
        base_model_path.stat().st_size,
    )
    assert len(hub.downloads(HUB_FILE)) >= 1


# -- preload and idle TTL -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ttl_server(
    base_model_path: Path, instruct_model_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningServer]:
    workdir = tmp_path_factory.mktemp("ttl")
    catalog = f"""
models:
  - name: {BASE_MODEL}
    file: {base_model_path}
  - name: {INSTRUCT_MODEL}
    file: {instruct_model_path}
"""
    running = start_server(
        workdir, catalog, {"LOCALCHAT_MODEL_TTL": "1", "LOCALCHAT_PRELOAD": INSTRUCT_MODEL}
    )
    yield running
    stop(running)


def test_preloaded_models_unload_after_idle_ttl_and_reload_on_use(ttl_server: RunningServer) -> None:
    with httpx.Client(base_url=ttl_server.base_url, timeout=120) as http:
        # Preloaded at start, with no request for it.
        wait_until(lambda: model_card(http, INSTRUCT_MODEL)["num_loads"] == 1, what="the preload")
        wait_until(
            lambda: not any(card["loaded"] for card in http.get("/v1/models").json()["data"]),
            what="both models unloaded after 1s idle",
        )
        response = ttl_server.client().chat.completions.create(
            model=INSTRUCT_MODEL, messages=HELLO, max_tokens=2
        )
        assert response.model == INSTRUCT_MODEL
        assert model_card(http, INSTRUCT_MODEL)["num_loads"] == 2
    assert "unloading 'gemma-3-270m-it' (idle for" in ttl_server.log_text()


def test_openai_client_lists_models_with_pool_fields(pool_server: RunningServer) -> None:
    models = pool_server.client().models.list()
    names = [model.id for model in models]
    assert names == [BASE_MODEL, INSTRUCT_MODEL, PULLED_MODEL, STREAMED_PULLED_MODEL]
    extra = models.data[0].model_extra or {}
    assert {"loaded", "status", "n_gpu_layers", "num_loads", "quantization", "size_label"} <= set(extra)
    # All 18 blocks plus the output layer where llama.cpp can offload, none where it cannot.
    assert extra["n_gpu_layers"] == (19 if supports_gpu_offload() else 0)
