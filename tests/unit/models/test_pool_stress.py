"""ModelPool under everything at once: loads, evictions, drains, leases, idle TTL, failed loads and
cancelled callers, with seeded random delays in the load and close threads. It must never hang, never
lease a closed engine, and never hold more models (loading, resident or closing) than allowed."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from server.config import Settings
from server.models.catalog import Catalog, ModelEntry, ModelInfo
from server.models.pool import LoadedModel, ModelPool, ModelUnavailable

GGUFFactory = Callable[..., Path]
NAMES = ("a", "b", "c", "d")
MAX_LOADED = 2
NUM_WORKERS = 12
# A run that has not finished in this long is a hang (it takes a few seconds).
DEADLINE_SECONDS = 120.0


class SlowEngine:
    def __init__(self, delays: Delays) -> None:
        self._delays = delays
        self.is_closed = False

    def close(self) -> None:
        time.sleep(self._delays.next(0.004))
        self.is_closed = True


class Delays:
    """Seeded random delays, shared by the event loop and the worker threads."""

    def __init__(self, seed: int) -> None:
        self._random = random.Random(seed)
        self._lock = threading.Lock()

    def next(self, most: float) -> float:
        with self._lock:
            return self._random.uniform(0.0, most)

    def chance(self, probability: float) -> bool:
        with self._lock:
            return self._random.random() < probability

    def pick(self, names: tuple[str, ...]) -> str:
        with self._lock:
            return self._random.choice(names)


class RandomLoader:
    def __init__(self, delays: Delays) -> None:
        self._delays = delays
        self.engines: list[SlowEngine] = []

    def __call__(self, entry: ModelEntry, info: ModelInfo, settings: Settings) -> LoadedModel:
        time.sleep(self._delays.next(0.006))
        if self._delays.chance(0.05):
            raise ModelUnavailable(f"model '{entry.name}' failed to load (on purpose)")
        engine = SlowEngine(self._delays)
        self.engines.append(engine)
        return LoadedModel(info=info, engine=engine, load_seconds=0.0)  # type: ignore[arg-type]


async def _worker(pool: ModelPool, delays: Delays, num_iterations: int, problems: list[str]) -> int:
    num_leases = 0
    for _ in range(num_iterations):
        name = delays.pick(NAMES)
        acquiring = asyncio.ensure_future(pool.acquire(name))
        if delays.chance(0.2):
            # A client that gives up while its model loads, or while it waits for room.
            await asyncio.sleep(delays.next(0.004))
            acquiring.cancel()
        try:
            lease = await acquiring
        except (asyncio.CancelledError, ModelUnavailable):
            continue
        num_leases += 1
        if lease.model.engine.is_closed:  # type: ignore[attr-defined]
            problems.append(f"leased '{name}' with a closed engine")
        if pool.num_models_held > MAX_LOADED:
            problems.append(f"{pool.num_models_held} models held, more than {MAX_LOADED}")
        await asyncio.sleep(delays.next(0.003))
        lease.release()
        if delays.chance(0.05):
            await asyncio.sleep(0.03)  # long enough, now and then, for the idle TTL to unload
    return num_leases


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_pool_stress_never_hangs_or_leases_a_closed_engine(
    tmp_path: Path, make_gguf: GGUFFactory, seed: int
) -> None:
    for name in NAMES:
        make_gguf(tmp_path / f"{name}.gguf", name=name)
    settings = Settings(models_dir=tmp_path, max_loaded_models=MAX_LOADED, model_ttl=0.02)
    delays = Delays(seed)
    loader = RandomLoader(delays)
    pool = ModelPool(Catalog.from_settings(settings), settings, loader=loader)
    pool.start()
    problems: list[str] = []
    num_iterations = 250
    try:
        async with asyncio.timeout(DEADLINE_SECONDS):
            leases = await asyncio.gather(
                *(_worker(pool, delays, num_iterations, problems) for _ in range(NUM_WORKERS))
            )
    finally:
        await asyncio.wait_for(pool.close(), DEADLINE_SECONDS)
    assert problems == []
    # Most requests got their model: the pool kept serving through all of it.
    assert sum(leases) > NUM_WORKERS * num_iterations // 2
    assert pool.loaded == [] and all(engine.is_closed for engine in loader.engines)
