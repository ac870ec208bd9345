"""ModelPool: leases, one load per cold model, LRU eviction within count and memory budgets, draining,
idle TTL, failed and abandoned loads. llama.cpp is replaced by a loader that counts and can hold loads."""

from __future__ import annotations

import asyncio
import threading
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from server.config import Settings
from server.models.catalog import Catalog, ModelEntry, ModelInfo, ModelNotFound
from server.models.pool import FOREVER, LoadedModel, ModelNotDownloaded, ModelPool, ModelUnavailable

GGUFFactory = Callable[..., Path]
WAIT_SECONDS = 5.0


class FakeEngine:
    def __init__(self, close_seconds: float = 0.0) -> None:
        self.is_closed = False
        self._close_seconds = close_seconds

    def close(self) -> None:
        time.sleep(self._close_seconds)  # a real close frees buffers and trims the heap: it takes time
        self.is_closed = True


class FakeLoader:
    """Counts loads; `hold()` keeps every load waiting until `release()`; names in `failing` fail."""

    def __init__(self) -> None:
        self.num_loads: Counter[str] = Counter()
        self.num_started: Counter[str] = Counter()
        self.failing: set[str] = set()
        self.close_seconds = 0.0
        self._gate = threading.Event()
        self._gate.set()

    def hold(self) -> None:
        self._gate.clear()

    def release(self) -> None:
        self._gate.set()

    def __call__(self, entry: ModelEntry, info: ModelInfo, settings: Settings) -> LoadedModel:
        self.num_started[entry.name] += 1
        self._gate.wait(WAIT_SECONDS)
        if entry.name in self.failing:
            raise ModelUnavailable(f"model '{entry.name}' failed to load: broken")
        self.num_loads[entry.name] += 1
        engine = FakeEngine(self.close_seconds)
        return LoadedModel(info=info, engine=engine, load_seconds=0.0)  # type: ignore[arg-type]


@pytest.fixture
def models_dir(tmp_path: Path, make_gguf: GGUFFactory) -> Path:
    directory = tmp_path / "models"
    for name in ("a", "b", "c"):
        make_gguf(directory / f"{name}.gguf", name=name)
    return directory


@pytest.fixture
def loader() -> FakeLoader:
    return FakeLoader()


@pytest.fixture
def make_pool(models_dir: Path, loader: FakeLoader) -> Callable[..., ModelPool]:
    pools: list[ModelPool] = []

    def make(**settings: Any) -> ModelPool:
        config = Settings(models_dir=models_dir, **settings)
        pool = ModelPool(Catalog.from_settings(config), config, loader=loader)
        pools.append(pool)
        return pool

    return make


async def _eventually(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def _is_blocked(task: asyncio.Task[Any]) -> bool:
    done, _ = await asyncio.wait({task}, timeout=0.1)
    return not done


def _engine(model: LoadedModel | None) -> FakeEngine:
    assert model is not None
    return model.engine  # type: ignore[return-value]


# -- leases and loads -----------------------------------------------------------------------------------


async def test_pool_acquire_loads_model_and_counts_lease(make_pool: Callable[..., ModelPool]) -> None:
    pool = make_pool()
    lease = await pool.acquire("a")
    assert lease.model.name == "a"
    assert (pool.num_loads("a"), pool.num_in_flight("a"), pool.is_ready("a")) == (1, 1, True)
    lease.release()
    lease.release()  # twice is harmless
    assert pool.num_in_flight("a") == 0


async def test_pool_concurrent_cold_acquires_share_one_load(
    make_pool: Callable[..., ModelPool], loader: FakeLoader
) -> None:
    pool = make_pool()
    loader.hold()
    tasks = [asyncio.create_task(pool.acquire("a")) for _ in range(8)]
    await _eventually(lambda: loader.num_started["a"] == 1)
    assert pool.loading == ["a"]
    loader.release()
    leases = await asyncio.gather(*tasks)
    assert {lease.model.name for lease in leases} == {"a"}
    assert len({id(lease.model) for lease in leases}) == 1
    assert (loader.num_loads["a"], pool.num_loads("a"), pool.num_in_flight("a")) == (1, 1, 8)


async def test_pool_resolves_alias_and_unknown_names(models_dir: Path, loader: FakeLoader) -> None:
    (models_dir / "models.yaml").write_text(
        "models:\n  - name: alpha\n    file: a.gguf\n    aliases: [al, '*']\n", encoding="utf-8"
    )
    settings = Settings(models_dir=models_dir)
    pool = ModelPool(Catalog.from_settings(settings), settings, loader=loader)
    assert (await pool.acquire("al")).model.name == "alpha"
    assert (await pool.acquire("gpt-4o-mini")).model.name == "alpha"
    assert loader.num_loads["alpha"] == 1


async def test_pool_unknown_name_raises_model_not_found(make_pool: Callable[..., ModelPool]) -> None:
    with pytest.raises(ModelNotFound):
        await make_pool().acquire("gpt-4o-mini")


async def test_pool_failed_load_reaches_every_waiter_and_is_retried(
    make_pool: Callable[..., ModelPool], loader: FakeLoader
) -> None:
    pool = make_pool()
    loader.failing.add("a")
    results = await asyncio.gather(*(pool.acquire("a") for _ in range(3)), return_exceptions=True)
    assert all(isinstance(result, ModelUnavailable) for result in results)
    assert loader.num_started["a"] == 1
    loader.failing.clear()
    assert (await pool.acquire("a")).model.name == "a"
    assert loader.num_started["a"] == 2


async def test_pool_cancelled_caller_leaves_load_to_finish(
    make_pool: Callable[..., ModelPool], loader: FakeLoader
) -> None:
    pool = make_pool()
    loader.hold()
    task = asyncio.create_task(pool.acquire("a"))
    await _eventually(lambda: loader.num_started["a"] == 1)
    task.cancel()
    loader.release()
    await _eventually(lambda: pool.loaded_model("a") is not None)
    assert pool.num_in_flight("a") == 0
    await pool.acquire("a")
    assert loader.num_started["a"] == 1


# -- eviction -------------------------------------------------------------------------------------------


async def test_pool_evicts_least_recently_used_idle_model(make_pool: Callable[..., ModelPool]) -> None:
    pool = make_pool(max_loaded_models=2)
    (await pool.acquire("a")).release()
    (await pool.acquire("b")).release()
    (await pool.acquire("a")).release()  # a is now the most recently used
    b_engine = _engine(pool.loaded_model("b"))
    (await pool.acquire("c")).release()
    assert sorted(model.name for model in pool.loaded) == ["a", "c"]
    assert b_engine.is_closed


async def test_pool_never_evicts_model_in_flight(make_pool: Callable[..., ModelPool]) -> None:
    pool = make_pool(max_loaded_models=1)
    lease_a = await pool.acquire("a")
    wanting_b = asyncio.create_task(pool.acquire("b"))
    assert await _is_blocked(wanting_b)
    # a finishes what it has but takes nothing new: a steady stream of requests cannot starve b.
    assert pool.loaded_model("a") is not None and not pool.is_ready("a")
    assert not _engine(lease_a.model).is_closed
    lease_a.release()
    lease_b = await wanting_b
    assert lease_b.model.name == "b"
    assert _engine(lease_a.model).is_closed
    assert [model.name for model in pool.loaded] == ["b"]


async def test_pool_request_for_draining_model_loads_it_again_later(
    make_pool: Callable[..., ModelPool], loader: FakeLoader
) -> None:
    pool = make_pool(max_loaded_models=1)
    lease_a = await pool.acquire("a")
    wanting_b = asyncio.create_task(pool.acquire("b"))
    assert await _is_blocked(wanting_b)
    wanting_a = asyncio.create_task(pool.acquire("a"))
    assert await _is_blocked(wanting_a)
    lease_a.release()
    lease_b = await wanting_b
    assert await _is_blocked(wanting_a)
    lease_b.release()
    assert (await wanting_a).model.name == "a"
    assert loader.num_loads["a"] == 2


async def test_pool_room_an_eviction_frees_goes_to_the_load_that_evicted(
    make_pool: Callable[..., ModelPool], loader: FakeLoader
) -> None:
    # While the evicted engine closes, its memory is not free and its room is not up for grabs: a
    # request for the evicted model that arrives meanwhile waits its turn instead of loading it
    # again ahead of the load that made the room (which then waited for a lease the caller held).
    loader.close_seconds = 0.3
    pool = make_pool(max_loaded_models=1)
    lease_a = await pool.acquire("a")
    wanting_b = asyncio.create_task(pool.acquire("b"))
    assert await _is_blocked(wanting_b)
    wanting_a = asyncio.create_task(pool.acquire("a"))
    assert await _is_blocked(wanting_a)
    lease_a.release()
    lease_b = await asyncio.wait_for(wanting_b, WAIT_SECONDS)
    assert lease_b.model.name == "b" and pool.num_models_held == 1
    assert await _is_blocked(wanting_a)
    lease_b.release()
    assert (await asyncio.wait_for(wanting_a, WAIT_SECONDS)).model.name == "a"


async def test_pool_memory_budget_evicts_until_new_model_fits(
    make_pool: Callable[..., ModelPool], models_dir: Path
) -> None:
    size = max((models_dir / f"{name}.gguf").stat().st_size for name in "abc")
    pool = make_pool(max_loaded_models=None, max_memory_bytes=2 * size + 1)
    for name in "abc":
        (await pool.acquire(name)).release()
    assert sorted(model.name for model in pool.loaded) == ["b", "c"]
    assert pool.num_resident_bytes <= 2 * size + 1


async def test_pool_model_larger_than_budget_still_loads_alone(make_pool: Callable[..., ModelPool]) -> None:
    pool = make_pool(max_memory_bytes=1)
    (await pool.acquire("a")).release()
    (await pool.acquire("b")).release()
    assert [model.name for model in pool.loaded] == ["b"]


# -- idle TTL and shutdown ------------------------------------------------------------------------------


async def test_pool_ttl_unloads_idle_model(make_pool: Callable[..., ModelPool]) -> None:
    pool = make_pool(model_ttl=0.2)
    pool.start()
    try:
        (await pool.acquire("a")).release()
        engine = _engine(pool.loaded_model("a"))
        # Taken out of the pool first, so no request can get it, then closed in a worker thread.
        await _eventually(lambda: pool.loaded_model("a") is None and engine.is_closed)
    finally:
        await pool.close()


async def test_pool_ttl_keeps_model_with_request_in_flight(make_pool: Callable[..., ModelPool]) -> None:
    pool = make_pool(model_ttl=0.1)
    pool.start()
    try:
        lease = await pool.acquire("a")
        await asyncio.sleep(0.4)  # four TTL periods with the request still running
        assert pool.loaded_model("a") is not None
        lease.release()
        await _eventually(lambda: pool.loaded_model("a") is None)
    finally:
        await pool.close()


async def test_pool_idle_time_set_per_model(make_pool: Callable[..., ModelPool]) -> None:
    pool = make_pool()  # no server-wide TTL: models stay until they must make room
    pool.start()
    try:
        (await pool.acquire("a")).release()
        (await pool.acquire("b")).release()
        assert pool.idle_seconds("a") is None and pool.seconds_until_unload("a") is None
        pool.set_idle_seconds("a", 0.2)
        assert 0 < (pool.seconds_until_unload("a") or 0) <= 0.2
        await _eventually(lambda: pool.loaded_model("a") is None)
        await asyncio.sleep(0.3)
        assert pool.loaded_model("b") is not None
    finally:
        await pool.close()


async def test_pool_idle_time_forever_outlives_the_server_ttl(make_pool: Callable[..., ModelPool]) -> None:
    pool = make_pool(model_ttl=0.1)
    pool.start()
    try:
        pool.set_idle_seconds("a", FOREVER)
        (await pool.acquire("a")).release()
        (await pool.acquire("b")).release()
        await _eventually(lambda: pool.loaded_model("b") is None)
        assert pool.loaded_model("a") is not None and pool.idle_seconds("a") is None
        pool.set_idle_seconds("a", None)  # back to the server's TTL
        await _eventually(lambda: pool.loaded_model("a") is None)
    finally:
        await pool.close()


async def test_pool_unload_when_idle_waits_for_the_last_response(make_pool: Callable[..., ModelPool]) -> None:
    pool = make_pool()
    try:
        (await pool.acquire("b")).release()
        await pool.unload_when_idle("b")  # idle: gone at once
        assert pool.loaded_model("b") is None
        lease = await pool.acquire("a")
        await pool.unload_when_idle("a")
        assert pool.loaded_model("a") is not None  # a response still uses it
        engine = _engine(pool.loaded_model("a"))
        lease.release()
        await _eventually(lambda: pool.loaded_model("a") is None and engine.is_closed)
        # The request to unload was for that residence only: a later load stays.
        (await pool.acquire("a")).release()
        await asyncio.sleep(0.1)
        assert pool.loaded_model("a") is not None
        await pool.unload_when_idle("c")  # not loaded: nothing to do
    finally:
        await pool.close()


async def test_pool_close_unloads_everything(make_pool: Callable[..., ModelPool]) -> None:
    pool = make_pool()
    (await pool.acquire("a")).release()
    engine = _engine(pool.loaded_model("a"))
    await pool.close()
    assert engine.is_closed and pool.loaded == []
    with pytest.raises(ModelUnavailable, match="shutting down"):
        await pool.acquire("a")


# -- files that are not there ---------------------------------------------------------------------------


async def test_pool_missing_local_file_is_unavailable(models_dir: Path, loader: FakeLoader) -> None:
    (models_dir / "models.yaml").write_text(
        "models:\n  - name: gone\n    file: gone.gguf\n", encoding="utf-8"
    )
    settings = Settings(models_dir=models_dir)
    pool = ModelPool(Catalog.from_settings(settings), settings, loader=loader)
    with pytest.raises(ModelUnavailable, match="does not exist"):
        await pool.acquire("gone")
    assert loader.num_started["gone"] == 0


async def test_pool_repo_entry_not_downloaded_names_the_pull_command(
    models_dir: Path, loader: FakeLoader
) -> None:
    (models_dir / "models.yaml").write_text(
        "models:\n  - name: tiny\n    repo: org/tiny-GGUF\n    quant: Q4_K_M\n", encoding="utf-8"
    )
    settings = Settings(models_dir=models_dir)
    pool = ModelPool(Catalog.from_settings(settings), settings, loader=loader)
    with pytest.raises(ModelNotDownloaded) as caught:
        await pool.acquire("tiny")
    expected = f"localchat pull org/tiny-GGUF Q4_K_M --name tiny --models-dir {models_dir}"
    assert caught.value.command == expected
    assert expected in str(caught.value)
