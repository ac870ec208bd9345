"""What is loaded: resident models within a count and a memory budget, each held by leases.

A request leases its model from the moment it gets it until its response is over; a stream is over
after its handler returns. A leased model is never unloaded. When a load needs room, the least
recently used idle model goes; if every resident model is busy, the least recently used one stops
taking new leases ("draining") until its last response ends, so a steady stream of requests for one
model cannot starve another. Idle models are unloaded after `model_ttl` seconds, or after the idle
time a request set for that model (Ollama's `keep_alive`); a model asked to unload goes as soon as
its last response ends.

Each load is one task per model and reads weights in a worker thread: N concurrent requests for a
cold model share one load, and a caller that goes away leaves nothing half-loaded behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections import Counter, OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from server.config import Settings
from server.models.bundled import assemble_bundled_model
from server.models.catalog import Catalog, ModelEntry, ModelInfo
from server.models.heap import release_freed_memory
from server.models.hub import PullError
from server.models.loader import LoadedModel, ModelUnavailable, load_model
from server.models.pull import pull_command, pull_entry

__all__ = ["Lease", "LoadedModel", "ModelNotDownloaded", "ModelPool", "ModelUnavailable"]

log = logging.getLogger("localchat.models")

Loader = Callable[[ModelEntry, ModelInfo, Settings], LoadedModel]
# How often the idle check runs, as a share of the shortest idle time (bounded below and above).
_TTL_CHECKS_PER_PERIOD = 4
_TTL_CHECK_SECONDS = (0.05, 5.0)
# An idle time that never ends (Ollama's negative keep_alive).
FOREVER = math.inf


class ModelNotDownloaded(ModelUnavailable):
    """A `repo:` entry whose file is not here yet, while auto-pull is off."""

    def __init__(self, name: str, command: str) -> None:
        super().__init__(
            f"Model '{name}' is not downloaded yet. Run `{command}`, "
            "or start the server with --auto-pull to download it on first use."
        )
        self.command = command


@dataclass(eq=False)
class Resident:
    model: LoadedModel
    num_bytes: int
    last_used: float
    num_in_flight: int = 0
    # Chosen to make room: takes no new leases and is unloaded once the last one ends.
    is_draining: bool = False


class Lease:
    """One request's hold on its model. Release it when the response is over; releasing twice is fine."""

    def __init__(self, pool: ModelPool, resident: Resident) -> None:
        self._pool = pool
        self._resident = resident
        self._is_released = False

    @property
    def model(self) -> LoadedModel:
        return self._resident.model

    def release(self) -> None:
        if not self._is_released:
            self._is_released = True
            self._pool._release(self._resident)


def _close_engine(model: LoadedModel) -> None:
    model.engine.close()
    release_freed_memory()


class ModelPool:
    """Owns every loaded model and everything about loading them: the catalog it loads from, one load
    task per model, the count and memory budget (least recently leased goes first), the leases that
    keep a model resident while a response uses it, draining before unload, and the idle TTL."""

    def __init__(
        self,
        catalog: Catalog,
        settings: Settings,
        *,
        loader: Loader = load_model,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.catalog = catalog
        self.settings = settings
        self._loader = loader
        self._clock = clock
        # Least recently leased first.
        self._residents: OrderedDict[str, Resident] = OrderedDict()
        self._loads: dict[str, asyncio.Task[None]] = {}
        # Loads that have their room and are reading weights, with the bytes set aside for them.
        self._reserved_bytes: dict[str, int] = {}
        # Unloaded models whose engines are still closing: their memory is not free yet, and the room
        # they leave belongs to the load that evicted them, not to whoever asks first.
        self._closing: set[Resident] = set()
        self._num_waiting: Counter[str] = Counter()
        self._num_loads: Counter[str] = Counter()
        self._changed = asyncio.Event()
        # Idle times set by requests, per model (seconds, FOREVER); others use settings.model_ttl.
        self._idle_seconds: dict[str, float] = {}
        # Models to unload once their last response ends (Ollama's keep_alive 0).
        self._unload_when_idle: set[str] = set()
        self._idle_times_changed = asyncio.Event()
        self._unloads: set[asyncio.Task[None]] = set()
        self._ttl_task: asyncio.Task[None] | None = None
        self._is_closed = False

    # -- what the API and /health see -------------------------------------------------------------

    @property
    def loaded(self) -> list[LoadedModel]:
        return [resident.model for resident in self._residents.values()]

    def loaded_model(self, name: str) -> LoadedModel | None:
        resident = self._residents.get(name)
        return resident.model if resident is not None else None

    @property
    def loading(self) -> list[str]:
        return list(self._loads)

    def is_ready(self, name: str) -> bool:
        """Whether a request for this model (canonical name) gets it without waiting."""
        resident = self._residents.get(name)
        return resident is not None and not resident.is_draining

    def is_closing(self, name: str) -> bool:
        """Unloaded, but its engine is still being closed (its memory not yet given back)."""
        return any(resident.model.name == name for resident in self._closing)

    def num_loads(self, name: str) -> int:
        return self._num_loads[name]

    def num_in_flight(self, name: str) -> int:
        resident = self._residents.get(name)
        return resident.num_in_flight if resident is not None else 0

    def resident_bytes(self, name: str) -> int | None:
        resident = self._residents.get(name)
        return resident.num_bytes if resident is not None else None

    def idle_seconds(self, name: str) -> float | None:
        """How long this model may stay idle before it is unloaded; None: until it must make room."""
        seconds = self._idle_seconds.get(name, self.settings.model_ttl)
        return None if seconds == FOREVER else seconds

    def seconds_until_unload(self, name: str) -> float | None:
        """For a resident model: idle time left (its full idle time while in use); None: no deadline."""
        resident = self._residents.get(name)
        seconds = self.idle_seconds(name)
        if resident is None or seconds is None:
            return None
        if resident.num_in_flight > 0:
            return seconds
        return max(0.0, resident.last_used + seconds - self._clock())

    @property
    def num_models_held(self) -> int:
        """Models that take memory now: resident, loading with their room reserved, or closing."""
        return len(self._residents) + len(self._reserved_bytes) + len(self._closing)

    @property
    def num_resident_bytes(self) -> int:
        num_bytes = sum(resident.num_bytes for resident in [*self._residents.values(), *self._closing])
        return num_bytes + sum(self._reserved_bytes.values())

    def check_servable(self, entry: ModelEntry) -> None:
        """Raise now, before a response starts, if this entry's file is missing and will not appear."""
        if entry.path.exists() or entry.is_bundled:
            return
        if entry.hub is None:
            raise ModelUnavailable(f"model '{entry.name}': file {entry.path} does not exist")
        if not self.settings.auto_pull:
            raise ModelNotDownloaded(entry.name, pull_command(entry, self.settings))

    def check_readable(self, entry: ModelEntry) -> None:
        """Raise now if the file is there but unreadable: a stream would otherwise start (200) and
        only then report it."""
        if entry.path.exists():
            info = self.catalog.info(entry.name)
            if info.metadata_error is not None:
                raise ModelUnavailable(f"model '{entry.name}' is unreadable: {info.metadata_error}")

    # -- leases ------------------------------------------------------------------------------------

    async def acquire(self, name: str) -> Lease:
        """Lease the model for a name or alias, loading it first if needed."""
        entry = self.catalog.resolve(name)
        while True:
            if self._is_closed:
                raise ModelUnavailable("the server is shutting down")
            resident = self._residents.get(entry.name)
            if resident is not None and not resident.is_draining:
                return self._lease(resident)
            if resident is not None:
                # Draining to make room for another model; once it is gone it loads again.
                await self._wait_for_change()
                continue
            load = self._loads.get(entry.name) or self._start_load(entry)
            self._num_waiting[entry.name] += 1
            try:
                await asyncio.shield(load)
            finally:
                self._num_waiting[entry.name] -= 1
                # A model with waiters is never a victim: a load waiting for room may take it now
                # (this waiter may have been cancelled, and then it takes no lease to release).
                self._notify()
            # A request that waited for this load gets the model even if it is already draining, or
            # two loads could evict each other's model before anyone used it. No await from here to
            # the lease, and a model with waiters is never unloaded, so it is still here.
            resident = self._residents.get(entry.name)
            if resident is not None:
                return self._lease(resident)

    async def get(self, name: str) -> LoadedModel:
        """Load a model without holding it (preloading)."""
        lease = await self.acquire(name)
        lease.release()
        return lease.model

    def _lease(self, resident: Resident) -> Lease:
        resident.num_in_flight += 1
        resident.last_used = self._clock()
        self._residents.move_to_end(resident.model.name)
        return Lease(self, resident)

    def _release(self, resident: Resident) -> None:
        resident.num_in_flight -= 1
        resident.last_used = self._clock()
        if resident.num_in_flight == 0:
            self._notify()
            if resident.model.name in self._unload_when_idle:
                self._start_unload(resident, reason="asked to unload")

    # -- idle times set by requests ----------------------------------------------------------------

    def set_idle_seconds(self, name: str, seconds: float | None) -> None:
        """This model's idle time from now on (canonical name; FOREVER, or None for the default)."""
        if seconds is None:
            self._idle_seconds.pop(name, None)
        else:
            self._idle_seconds[name] = seconds
        self._idle_times_changed.set()

    async def unload_when_idle(self, name: str) -> None:
        """Unload this model now if nothing uses it, else as soon as its last response ends."""
        resident = self._residents.get(name)
        if resident is None:
            return
        self._unload_when_idle.add(name)
        if resident.num_in_flight == 0 and self._num_waiting[name] == 0:
            await self._unload(resident, reason="asked to unload")

    def _start_unload(self, resident: Resident, *, reason: str) -> None:
        task = asyncio.create_task(
            self._unload(resident, reason=reason), name=f"unload {resident.model.name}"
        )
        self._unloads.add(task)
        task.add_done_callback(self._unloads.discard)

    # -- loading -----------------------------------------------------------------------------------

    def _start_load(self, entry: ModelEntry) -> asyncio.Task[None]:
        task = asyncio.create_task(self._load(entry), name=f"load {entry.name}")
        self._loads[entry.name] = task
        # The waiters get any error; this keeps asyncio from reporting it again when none is left.
        task.add_done_callback(lambda done: done.cancelled() or done.exception())
        return task

    async def _load(self, entry: ModelEntry) -> None:
        try:
            self.check_servable(entry)
            if not entry.path.exists():
                await asyncio.to_thread(self._fetch, entry)
            info = await asyncio.to_thread(self.catalog.info, entry.name)
            num_bytes = entry.path.stat().st_size
            budget = self.settings.max_memory_bytes
            if budget is not None and num_bytes > budget:
                log.warning(
                    "'%s' (%d bytes) is larger than max_memory_bytes; it loads alone", entry.name, num_bytes
                )
            await self._make_room(entry.name, num_bytes)
            self._reserved_bytes[entry.name] = num_bytes
            model = await asyncio.to_thread(self._loader, entry, info, self.settings)
            self._num_loads[entry.name] += 1
            if self._is_closed:
                await asyncio.to_thread(model.engine.close)
                raise ModelUnavailable("the server is shutting down")
            self._residents[entry.name] = Resident(model, num_bytes, last_used=self._clock())
        except OSError as exc:
            raise ModelUnavailable(f"model '{entry.name}': {exc}") from exc
        finally:
            self._reserved_bytes.pop(entry.name, None)
            self._loads.pop(entry.name, None)
            self._notify()

    def _fetch(self, entry: ModelEntry) -> None:
        """Make a missing file appear: assemble the bundled model, or pull from the hub (auto-pull)."""
        if entry.is_bundled:
            assemble_bundled_model(entry.path)
            return
        try:
            pull_entry(entry)
        except PullError as exc:
            raise ModelUnavailable(f"model '{entry.name}' could not be pulled: {exc}") from exc

    # -- room --------------------------------------------------------------------------------------

    async def _make_room(self, name: str, num_bytes: int) -> None:
        try:
            while not self._has_room(num_bytes):
                if self._is_closed:
                    raise ModelUnavailable("the server is shutting down")
                victim = self._idle_victim(exclude=name)
                if victim is not None:
                    await self._unload(victim, reason=f"to make room for '{name}'")
                    continue
                if not self._drain_one(exclude=name):
                    await self._wait_for_change()
        finally:
            self._stop_draining()

    def _has_room(self, num_bytes: int) -> bool:
        num_models = self.num_models_held
        if num_models == 0:
            return True  # a model larger than the budget still loads, alone
        settings = self.settings
        if settings.max_loaded_models is not None and num_models >= settings.max_loaded_models:
            return False
        budget = settings.max_memory_bytes
        return budget is None or self.num_resident_bytes + num_bytes <= budget

    def _idle_victim(self, *, exclude: str) -> Resident | None:
        # Least recently used first; requests waiting for a fresh load are about to be in flight.
        for name, resident in self._residents.items():
            if name != exclude and resident.num_in_flight == 0 and self._num_waiting[name] == 0:
                return resident
        return None

    def _drain_one(self, *, exclude: str) -> bool:
        """Stop the least recently used model taking new requests; False if one already is draining."""
        if any(resident.is_draining for resident in self._residents.values()):
            return False
        for name, resident in self._residents.items():
            if name != exclude:
                resident.is_draining = True
                log.info("'%s' takes no new requests until the ones it has end, to make room", name)
                return True
        return False

    def _stop_draining(self) -> None:
        # The load that wanted the room has it (or gave up): a model still here serves again.
        for resident in self._residents.values():
            if resident.is_draining:
                resident.is_draining = False
                self._notify()

    async def _unload(self, resident: Resident, *, reason: str) -> None:
        name = resident.model.name
        if self._residents.get(name) is not resident:
            return
        del self._residents[name]
        self._unload_when_idle.discard(name)
        self._closing.add(resident)
        log.info("unloading '%s' (%s)", name, reason)
        try:
            await asyncio.to_thread(_close_engine, resident.model)
        finally:
            self._closing.discard(resident)
            self._notify()

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def _wait_for_change(self) -> None:
        await self._changed.wait()

    # -- idle TTL and lifecycle --------------------------------------------------------------------

    def start(self) -> None:
        """Start unloading idle models; call from the running event loop."""
        if self._ttl_task is None:
            self._ttl_task = asyncio.create_task(self._unload_idle(), name="unload idle models")

    def _check_interval(self) -> float:
        finite = [
            seconds
            for seconds in (self.settings.model_ttl, *self._idle_seconds.values())
            if seconds is not None and seconds != FOREVER
        ]
        low, high = _TTL_CHECK_SECONDS
        return min(max(min(finite) / _TTL_CHECKS_PER_PERIOD, low), high) if finite else high

    async def _unload_idle(self) -> None:
        while True:
            # A request that sets a shorter idle time wakes the check, so it is kept to.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._idle_times_changed.wait(), self._check_interval())
            self._idle_times_changed.clear()
            now = self._clock()
            for name, resident in list(self._residents.items()):
                ttl = self.idle_seconds(name)
                is_idle = resident.num_in_flight == 0 and self._num_waiting[name] == 0
                if ttl is not None and is_idle and now - resident.last_used >= ttl:
                    try:
                        await self._unload(resident, reason=f"idle for {now - resident.last_used:.1f}s")
                    except Exception:
                        log.exception("unloading '%s' failed", name)

    async def close(self) -> None:
        self._is_closed = True
        self._notify()
        if self._ttl_task is not None:
            self._ttl_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ttl_task
        # A load reading weights finishes (and closes what it loaded); one waiting for room gives up.
        await asyncio.gather(*self._loads.values(), *self._unloads, return_exceptions=True)
        for resident in list(self._residents.values()):
            await self._unload(resident, reason="shutting down")
