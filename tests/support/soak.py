"""A soak of the real server: concurrent streams, clients that hang up at chosen points, slow readers.

Raw HTTP/1.1 over asyncio sockets, so each client decides exactly when it closes: before reading a
byte, while its long prompt is still being prefilled, after k events, inside a multi-byte UTF-8
character of the JSON (the server sends non-ASCII text unescaped), or while its model is still
loading. Every stream read to the end must equal the same request run alone (batch-invariant mode,
same seed); every partial one must be a prefix of it. Afterwards no sequence may be left running or
waiting, and the KV cache must hold only what finished requests leave for prefix reuse.

Used by scripts/soak.py (minutes) and tests/integration/test_soak.py (one minute, in CI).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import socket
import struct
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from tests.integration.model_servers import RunningServer, start_server, stop

MODEL = "gemma-3-270m"
# The same file under a second name: with a short TTL it unloads when idle, so a request to it can
# hang up while it loads again.
COLD_MODEL = "gemma-cold"
MODEL_TTL_SECONDS = 3.0
NUM_STREAMS = 8
WAVE_TOKENS = 24
# Gemma's <eos> and <end_of_turn>, banned so every full stream has exactly max_tokens tokens, and a
# finished request leaves exactly prompt + max_tokens - 1 positions cached.
NO_END = {"1": -100, "106": -100}

PROMPTS = {
    "ascii-harbour": "The old harbour master walked along the pier and told the children about",
    "ascii-recipe": "Here is my grandmother's recipe for apple pie. First, take",
    "ja-story": "昔々、ある山奥の小さな村に、",
    "ru-story": "Жили-были старик со старухой у самого синего моря. Однажды",  # noqa: RUF001
    "zh-poem": "床前明月光，疑是地上霜。举头望明月，",  # noqa: RUF001
    "fr-accents": "Le garçon était déjà très fâché quand l'élève arrivé à l'école lui dit « où",
    "emoji": "My favourite emoji are 🎉🚀🌊 and I use them when",
}
SEEDS = (11, 29)
# A prompt long enough that its prefill takes several steps; a nonce keeps prefix reuse away.
LONG_TEXT = " ".join(
    f"Entry {i}: the tide came in at dawn, the gulls circled the masts, and the nets were mended."
    for i in range(60)
)

# Far more than can be generated before a hang-up is noticed: an abandoned request with this many
# never finishes, so it can leave no cache behind.
LONG_MAX_TOKENS = 400
DISCONNECT_KINDS = ("before_first_byte", "during_prefill", "mid_stream", "mid_utf8", "during_load")
ACTION_WEIGHTS = {
    "complete": 16,
    "slow_reader": 7,
    "before_first_byte": 16,
    "during_prefill": 13,
    "mid_stream": 22,
    "mid_utf8": 18,
    "during_load": 8,
}


@dataclass(frozen=True)
class SoakRequest:
    name: str
    prompt: str
    seed: int
    max_tokens: int

    def body(self, model: str = MODEL) -> dict[str, Any]:
        return {
            "model": model,
            "prompt": self.prompt,
            "max_tokens": self.max_tokens,
            "temperature": 0.9,
            "seed": self.seed,
            "logit_bias": NO_END,
            "stream": True,
            "stream_options": {"include_usage": True},
        }


@dataclass(frozen=True)
class Outcome:
    """What a client saw of one stream."""

    text: str
    finish_reason: str | None
    prompt_tokens: int | None
    completion_tokens: int | None
    is_done: bool  # `data: [DONE]` arrived
    errors: tuple[str, ...] = ()


def soak_requests() -> list[SoakRequest]:
    return [
        SoakRequest(f"{name}/{seed}", prompt, seed, 32 + 8 * (index % 3))
        for index, (name, prompt) in enumerate(PROMPTS.items())
        for seed in SEEDS
    ]


def is_non_ascii(request: SoakRequest) -> bool:
    return not request.prompt.isascii()


# -- raw HTTP ----------------------------------------------------------------------------------------


class RawStream:
    """One POST on its own connection; the body read through chunked transfer-encoding by hand."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.status = 0
        self._chunk_left = 0
        self._is_eof = False
        self.body = bytearray()

    @classmethod
    async def open(cls, base_url: str, path: str, body: dict[str, Any]) -> RawStream:
        url = urlsplit(base_url)
        reader, writer = await asyncio.open_connection(url.hostname, url.port)
        payload = json.dumps(body).encode()
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {url.hostname}:{url.port}\r\nContent-Type: application/json\r\n"
            f"Accept: text/event-stream\r\nContent-Length: {len(payload)}\r\nConnection: close\r\n\r\n"
        )
        writer.write(head.encode() + payload)
        await writer.drain()
        return cls(reader, writer)

    async def read_head(self) -> None:
        head = await self.reader.readuntil(b"\r\n\r\n")
        self.status = int(head.split(b" ", 2)[1])
        if b"transfer-encoding: chunked" not in head.lower():
            raise AssertionError(f"expected a chunked stream, got {head!r}")

    async def read_body(self, limit: int) -> bytes:
        """Up to `limit` bytes of the body (fewer at a chunk's end); b"" at its end."""
        if self._is_eof:
            return b""
        if self._chunk_left == 0:
            size_line = await self.reader.readuntil(b"\r\n")
            self._chunk_left = int(size_line.split(b";")[0], 16)
            if self._chunk_left == 0:
                await self.reader.readuntil(b"\r\n")
                self._is_eof = True
                return b""
        data = await self.reader.read(min(limit, self._chunk_left))
        if not data:
            raise ConnectionError("connection closed inside a chunk")
        self._chunk_left -= len(data)
        if self._chunk_left == 0:
            await self.reader.readexactly(2)
        self.body.extend(data)
        return data

    async def read_all(self) -> bytes:
        while await self.read_body(65536):
            pass
        return bytes(self.body)

    @property
    def num_events(self) -> int:
        return len(complete_events(bytes(self.body)))

    def abort(self) -> None:
        """Hang up at once: RST, not a polite FIN after draining."""
        transport = self.writer.transport
        sock = transport.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()


def complete_events(body: bytes) -> list[bytes]:
    """The SSE events wholly received (blank-line terminated); a cut one is left out."""
    *events, _rest = body.split(b"\n\n")
    return [event for event in events if event.strip()]


def parse_outcome(body: bytes) -> Outcome:
    texts, errors = [], []
    finish_reason = prompt_tokens = completion_tokens = None
    is_done = False
    for event in complete_events(body):
        lines = event.decode("utf-8").split("\n")
        data = "\n".join(line[len("data: ") :] for line in lines if line.startswith("data: "))
        if not data:
            continue  # a keep-alive comment
        if any(line.startswith("event: error") for line in lines):
            errors.append(data)
            continue
        if data == "[DONE]":
            is_done = True
            continue
        chunk = json.loads(data)
        for choice in chunk.get("choices") or []:
            texts.append(choice.get("text") or "")
            finish_reason = choice.get("finish_reason") or finish_reason
        if chunk.get("usage"):
            prompt_tokens = chunk["usage"]["prompt_tokens"]
            completion_tokens = chunk["usage"]["completion_tokens"]
    return Outcome("".join(texts), finish_reason, prompt_tokens, completion_tokens, is_done, tuple(errors))


def ends_inside_utf8_character(data: bytes) -> bool:
    """Whether the last bytes are the start of a multi-byte character that is not complete yet."""
    for back in range(1, min(4, len(data)) + 1):
        byte = data[-back]
        if byte & 0xC0 == 0x80:
            continue  # a continuation byte: look further back for the lead
        if byte & 0xE0 == 0xC0:
            return back < 2
        if byte & 0xF0 == 0xE0:
            return back < 3
        if byte & 0xF8 == 0xF0:
            return back < 4
        return False
    return False


# -- the soak ----------------------------------------------------------------------------------------


@dataclass
class ProcessSample:
    rss_kib: int
    rss_anon_kib: int
    num_threads: int
    num_fds: int


def sample_process(pid: int) -> ProcessSample:
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.split()[0] if value.split() else ""
    return ProcessSample(
        int(fields["VmRSS"]),
        int(fields.get("RssAnon", 0)),
        int(fields["Threads"]),
        len(list(Path(f"/proc/{pid}/fd").iterdir())),
    )


@dataclass
class SoakReport:
    seconds: float = 0.0
    num_completed: int = 0
    num_slow_completed: int = 0
    num_tokens_checked: int = 0
    num_partial_checked: int = 0
    disconnects: Counter[str] = field(default_factory=Counter)
    # Requests whose hang-up came too late to count as the kind asked for (they finished first).
    num_finished_before_cut: int = 0
    mismatches: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    ttft_seconds: list[float] = field(default_factory=list)
    # (seconds into the soak, TTFT): whether the tail grows as the run goes on
    ttft_timeline: list[tuple[float, float]] = field(default_factory=list)
    samples: dict[str, ProcessSample] = field(default_factory=dict)
    kv_baseline: int = 0
    kv_after: int = 0
    kv_idle_end: int = 0
    kv_explained: bool = True
    leftover: dict[str, Any] = field(default_factory=dict)

    @property
    def num_disconnects(self) -> int:
        return sum(self.disconnects.values())

    def ttft_percentile(self, fraction: float, values: list[float] | None = None) -> float:
        ordered = sorted(self.ttft_seconds if values is None else values)
        if not ordered:
            return 0.0
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]

    def ttft_p99_by_third(self) -> list[float]:
        thirds: list[list[float]] = [[], [], []]
        for at, ttft in self.ttft_timeline:
            thirds[min(2, int(3 * at / max(self.seconds, 1e-9)))].append(ttft)
        return [self.ttft_percentile(0.99, third) for third in thirds]

    @property
    def rss_growth_kib(self) -> int:
        return self.samples["end"].rss_kib - self.samples["warm"].rss_kib

    @property
    def rss_anon_growth_kib(self) -> int:
        return self.samples["end"].rss_anon_kib - self.samples["warm"].rss_anon_kib

    @property
    def rss_growth_percent(self) -> float:
        return 100.0 * self.rss_growth_kib / max(self.samples["warm"].rss_kib, 1)

    @property
    def thread_growth(self) -> int:
        return self.samples["end"].num_threads - self.samples["warm"].num_threads

    @property
    def fd_growth(self) -> int:
        return self.samples["end"].num_fds - self.samples["warm"].num_fds

    def problems(
        self,
        *,
        thread_slack: int = 4,
        fd_slack: int = 8,
        max_rss_growth_mib: float = 200,
        max_rss_growth_percent: float | None = None,
    ) -> list[str]:
        found = [*self.mismatches, *self.errors]
        if self.leftover:
            found.append(f"sequences left behind: {self.leftover}")
        if self.kv_after != self.kv_baseline:
            found.append(f"KV after the soak {self.kv_after} != baseline {self.kv_baseline}")
        if not self.kv_explained:
            found.append(
                f"idle KV {self.kv_idle_end} is not what finished requests leave: a cancelled one leaked"
            )
        if self.thread_growth > thread_slack:
            found.append(f"threads grew by {self.thread_growth}")
        if self.fd_growth > fd_slack:
            found.append(f"file descriptors grew by {self.fd_growth}")
        if self.rss_growth_kib > max_rss_growth_mib * 1024:
            found.append(f"RSS grew by {self.rss_growth_kib / 1024:.0f} MiB")
        if max_rss_growth_percent is not None and self.rss_growth_percent > max_rss_growth_percent:
            found.append(f"RSS grew by {self.rss_growth_percent:.1f} % after the warm-up")
        return found

    def summary(self) -> str:
        s = self.samples
        mib = {key: f"{sample.rss_kib / 1024:.1f} MiB" for key, sample in s.items()}
        kinds = ", ".join(f"{kind}={self.disconnects[kind]}" for kind in DISCONNECT_KINDS)
        kv_state = "explained by finished requests" if self.kv_explained else "NOT explained"
        p50, p99 = self.ttft_percentile(0.5) * 1000, self.ttft_percentile(0.99) * 1000
        lines = [
            f"soak: {self.seconds:.0f}s, {NUM_STREAMS} concurrent streams",
            f"streams completed: {self.num_completed} ({self.num_slow_completed} by slow readers)",
            f"disconnects: {self.num_disconnects} ({kinds}); "
            f"finished before the planned cut: {self.num_finished_before_cut}",
            f"tokens checked: {self.num_tokens_checked} in full streams; "
            f"partial streams checked as prefixes: {self.num_partial_checked}",
            f"mismatches: {len(self.mismatches)}; errors: {len(self.errors)}",
            f"RSS start / after warm-up / end: {mib['start']} / {mib['warm']} / {mib['end']} "
            f"(growth {self.rss_growth_kib / 1024:+.1f} MiB, {self.rss_growth_percent:+.1f} %, "
            f"anonymous {self.rss_anon_growth_kib / 1024:+.1f} MiB)",
            f"threads start / after warm-up / end: {s['start'].num_threads} / {s['warm'].num_threads} / "
            f"{s['end'].num_threads}; open fds after warm-up / end: {s['warm'].num_fds} / {s['end'].num_fds}",
            f"TTFT p50 {p50:.0f} ms, p99 {p99:.0f} ms over {len(self.ttft_seconds)} streams; p99 by third "
            f"of the run: {' / '.join(f'{value * 1000:.0f}' for value in self.ttft_p99_by_third())} ms",
            f"KV tokens: baseline {self.kv_baseline}, after {self.kv_after}; "
            f"idle at the end {self.kv_idle_end} ({kv_state})",
        ]
        return "\n".join(lines)


def soak_catalog(model_path: Path) -> str:
    return (
        f"settings:\n  default_model: {MODEL}\nmodels:\n"
        f"  - name: {MODEL}\n    file: {model_path}\n"
        f"  - name: {COLD_MODEL}\n    file: {model_path}\n"
    )


def start_soak_server(workdir: Path, model_path: Path) -> RunningServer:
    return start_server(
        workdir,
        soak_catalog(model_path),
        {
            "LOCALCHAT_BATCH_INVARIANT": "true",
            "LOCALCHAT_DEFAULT_MODEL": MODEL,
            "LOCALCHAT_MODEL_TTL": str(MODEL_TTL_SECONDS),
            "LOCALCHAT_N_PARALLEL": str(NUM_STREAMS),
        },
    )


class Soak:
    def __init__(
        self, server: RunningServer, *, seconds: float, seed: int = 0, log: Callable[[str], None] = print
    ):
        self.server = server
        self.seconds = seconds
        self.random = random.Random(seed)
        self.log = log
        self.requests = soak_requests()
        self.references: dict[str, Outcome] = {}
        self.report = SoakReport()
        self._load_lock = asyncio.Lock()
        self._nonce = 0
        self._wave_sizes: set[int] = set()
        self._started = time.monotonic()

    # -- the model's state, as /v1/models/{id} reports it -----------------------------------------

    async def card(self, http: httpx.AsyncClient, model: str = MODEL) -> dict[str, Any]:
        response = await http.get(f"/v1/models/{model}")
        response.raise_for_status()
        return response.json()

    async def wait_for(self, what: str, condition: Callable[[], Any], timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while not await condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: not reached within {timeout}s")
            await asyncio.sleep(0.05)

    async def is_idle(self, http: httpx.AsyncClient, model: str) -> bool:
        card = await self.card(http, model)
        return not card["num_running"] and not card["num_waiting"]

    async def is_unloaded(self, http: httpx.AsyncClient, model: str) -> bool:
        # "unloading" still holds its memory: a sample then would count its weights.
        return (await self.card(http, model))["status"] == "unloaded"

    # -- single requests ---------------------------------------------------------------------------

    async def run_alone(self, request: SoakRequest, model: str = MODEL) -> Outcome:
        stream = await RawStream.open(self.server.base_url, "/v1/completions", request.body(model))
        try:
            await stream.read_head()
            return parse_outcome(await stream.read_all())
        finally:
            stream.writer.close()

    async def reset_wave(self) -> int:
        """Fill every slot with a request of known length at once; returns the KV tokens after.
        Each slot then holds exactly prompt + max_tokens - 1 positions, whatever it held before."""
        wave = [
            SoakRequest(f"wave/{i}", f"Wave {i}: a short note about the weather at sea.", i, WAVE_TOKENS)
            for i in range(NUM_STREAMS)
        ]
        outcomes = await asyncio.gather(*[self.run_alone(request) for request in wave])
        assert all(o.completion_tokens == WAVE_TOKENS for o in outcomes), outcomes
        self._wave_sizes = {(o.prompt_tokens or 0) + WAVE_TOKENS - 1 for o in outcomes}
        async with httpx.AsyncClient(base_url=self.server.base_url, timeout=30) as http:
            await self.wait_for("wave idle", lambda: self.is_idle(http, MODEL))
            return int((await self.card(http))["num_kv_tokens"])

    # -- one client --------------------------------------------------------------------------------

    async def client(self, started: float) -> None:
        while time.monotonic() - started < self.seconds:
            action = self.random.choices(list(ACTION_WEIGHTS), weights=list(ACTION_WEIGHTS.values()))[0]
            try:
                await getattr(self, f"_{action}")()
            except AssertionError as exc:
                self.report.mismatches.append(f"{action}: {exc}")
            except Exception as exc:  # a failed connection, a malformed event: recorded, not fatal
                self.report.errors.append(f"{action}: {exc!r}")

    def _pick(self, *, non_ascii: bool = False) -> SoakRequest:
        pool = [r for r in self.requests if is_non_ascii(r)] if non_ascii else self.requests
        return self.random.choice(pool)

    def _check_complete(self, request: SoakRequest, outcome: Outcome) -> None:
        reference = self.references[request.name]
        if outcome.errors or not outcome.is_done:
            raise AssertionError(f"{request.name}: stream incomplete: {outcome}")
        if outcome != reference:
            raise AssertionError(f"{request.name}: differs from the solo run:\n  {outcome}\n  {reference}")
        self.report.num_completed += 1
        self.report.num_tokens_checked += outcome.completion_tokens or 0

    def _check_partial(self, request: SoakRequest, body: bytes) -> None:
        outcome = parse_outcome(body)
        reference = self.references[request.name]
        if outcome.errors:
            raise AssertionError(f"{request.name}: error in a partial stream: {outcome.errors}")
        if not reference.text.startswith(outcome.text):
            raise AssertionError(
                f"{request.name}: partial text {outcome.text!r} is not a prefix of the solo run"
            )
        self.report.num_partial_checked += 1

    async def _open(self, request: SoakRequest, model: str = MODEL) -> tuple[RawStream, float]:
        sent = time.monotonic()
        return await RawStream.open(self.server.base_url, "/v1/completions", request.body(model)), sent

    def _note_ttft(self, stream: RawStream, sent: float, was_empty: bool) -> None:
        if was_empty and parse_outcome(bytes(stream.body)).text:
            now = time.monotonic()
            self.report.ttft_seconds.append(now - sent)
            self.report.ttft_timeline.append((now - self._started, now - sent))

    async def _read_checked(self, request: SoakRequest, *, pause: Callable[[], float] | None) -> None:
        stream, sent = await self._open(request)
        try:
            await stream.read_head()
            while True:
                was_empty = not parse_outcome(bytes(stream.body)).text
                data = await stream.read_body(self.random.randint(16, 512) if pause else 65536)
                self._note_ttft(stream, sent, was_empty)
                if not data:
                    break
                if pause is not None:
                    await asyncio.sleep(pause())
        finally:
            stream.writer.close()
        self._check_complete(request, parse_outcome(bytes(stream.body)))

    async def _complete(self) -> None:
        await self._read_checked(self._pick(), pause=None)

    async def _slow_reader(self) -> None:
        await self._read_checked(self._pick(), pause=lambda: self.random.uniform(0.02, 0.25))
        self.report.num_slow_completed += 1

    async def _before_first_byte(self) -> None:
        # Far more tokens than the soak's requests: one that generated for nobody instead of being
        # cancelled would leave a cache no finished request explains.
        picked = self._pick()
        stream, _ = await self._open(SoakRequest("unread", picked.prompt, picked.seed, LONG_MAX_TOKENS))
        stream.abort()
        self.report.disconnects["before_first_byte"] += 1

    async def _during_prefill(self) -> None:
        self._nonce += 1
        request = SoakRequest(
            "long", f"Log {self._nonce} {self.random.random()}: {LONG_TEXT}", 1, LONG_MAX_TOKENS
        )
        stream, _ = await self._open(request)
        # No headers yet means a busy server; the hang-up is then before the first byte as well.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stream.read_head(), timeout=self.random.uniform(0.05, 0.5))
        # Nothing of the body is read: the prompt (~1500 tokens) is at most partly prefilled by now.
        stream.abort()
        self.report.disconnects["during_prefill"] += 1

    async def _mid_stream(self) -> None:
        request = self._pick()
        stream, sent = await self._open(request)
        cut_after = self.random.randint(1, request.max_tokens - 2)
        try:
            await stream.read_head()
            while stream.num_events < cut_after:
                was_empty = not parse_outcome(bytes(stream.body)).text
                if not await stream.read_body(self.random.randint(1, 256)):
                    break
                self._note_ttft(stream, sent, was_empty)
        finally:
            stream.abort()
        self._check_partial(request, bytes(stream.body))
        if parse_outcome(bytes(stream.body)).is_done:
            self.report.num_finished_before_cut += 1
        else:
            self.report.disconnects["mid_stream"] += 1

    async def _mid_utf8(self) -> None:
        request = self._pick(non_ascii=True)
        stream, _ = await self._open(request)
        skip = self.random.randint(0, 20)  # how many multi-byte characters to let through first
        is_cut = False
        try:
            await stream.read_head()
            while await stream.read_body(1):
                if ends_inside_utf8_character(bytes(stream.body)):
                    if skip == 0:
                        is_cut = True
                        break
                    skip -= 1
        finally:
            stream.abort()
        self._check_partial(request, bytes(stream.body))
        if is_cut:
            self.report.disconnects["mid_utf8"] += 1
        else:
            self.report.num_finished_before_cut += 1

    async def _during_load(self) -> None:
        if self._load_lock.locked():
            await self._complete()
            return
        async with self._load_lock, httpx.AsyncClient(base_url=self.server.base_url, timeout=30) as http:
            if not await self.is_unloaded(http, COLD_MODEL):
                await self._complete()  # still resident from the last time: its TTL has not run out
                return
            stream, _ = await self._open(self._pick(), model=COLD_MODEL)
            try:
                await stream.read_head()
                await stream.read_body(64)
                first = bytes(stream.body)
            finally:
                stream.abort()
            # A stream whose model is not ready starts at once with a keep-alive comment.
            if not first.startswith(b": keep-alive"):
                raise AssertionError(f"expected a keep-alive while {COLD_MODEL} loads, got {first[:80]!r}")
            self.report.disconnects["during_load"] += 1

    # -- the whole run -----------------------------------------------------------------------------

    async def run(self, *, warm_up_seconds: float) -> SoakReport:
        pid = self.server.process.pid
        report = self.report
        report.samples["start"] = sample_process(pid)
        self.log(f"computing {len(self.requests)} solo references")
        for request in self.requests:
            self.references[request.name] = await self.run_alone(request)
            assert self.references[request.name].completion_tokens == request.max_tokens, self.references
        report.kv_baseline = await self.reset_wave()
        self.log(f"soaking for {self.seconds:.0f}s; KV baseline {report.kv_baseline}")
        started = self._started = time.monotonic()
        clients = [asyncio.create_task(self.client(started)) for _ in range(NUM_STREAMS)]
        await asyncio.sleep(warm_up_seconds)
        report.samples["warm"] = await self._quiet_sample(pid)
        self.log(f"after warm-up: {report.samples['warm']}")
        await asyncio.gather(*clients)
        report.seconds = time.monotonic() - started
        async with httpx.AsyncClient(base_url=self.server.base_url, timeout=30) as http:
            # Right away, while the model is still resident (the TTL applies to it too).
            for model in (MODEL, COLD_MODEL):
                with contextlib.suppress(AssertionError):
                    await self.wait_for(f"{model} idle", lambda m=model: self.is_idle(http, m), timeout=30)
                card = await self.card(http, model)
                if card["num_running"] or card["num_waiting"]:
                    report.leftover[model] = (card["num_running"], card["num_waiting"])
                if model == COLD_MODEL and card["num_kv_tokens"]:
                    report.leftover[f"{model} kv"] = card[
                        "num_kv_tokens"
                    ]  # only abandoned requests ran there
                if model == MODEL and card["num_kv_tokens"] is not None:
                    report.kv_idle_end = int(card["num_kv_tokens"])
                    report.kv_explained = self._is_explained(report.kv_idle_end)
            await self.wait_for(f"{COLD_MODEL} unloaded", lambda: self.is_unloaded(http, COLD_MODEL))
        report.kv_after = await self.reset_wave()
        report.samples["end"] = sample_process(pid)
        return report

    def _is_explained(self, num_kv_tokens: int) -> bool:
        """Whether the idle cache is a sum of at most n_parallel finished requests' leftovers
        (prompt + max_tokens - 1 each): a cancelled request that kept its cells adds another amount."""
        sizes = {0, *self._wave_sizes}
        sizes |= {(self.references[r.name].prompt_tokens or 0) + r.max_tokens - 1 for r in self.requests}
        reachable = {0}
        for _ in range(NUM_STREAMS):
            reachable = {
                total + size for total in reachable for size in sizes if total + size <= num_kv_tokens
            }
        return num_kv_tokens in reachable

    async def _quiet_sample(self, pid: int) -> ProcessSample:
        """A process sample with the cold model unloaded (its weights would count otherwise)."""
        async with self._load_lock, httpx.AsyncClient(base_url=self.server.base_url, timeout=30) as http:
            await self.wait_for(f"{COLD_MODEL} unloaded", lambda: self.is_unloaded(http, COLD_MODEL))
            return sample_process(pid)


async def run_soak(
    model_path: Path,
    workdir: Path,
    *,
    seconds: float,
    warm_up_seconds: float,
    seed: int = 0,
    log: Callable[[str], None] = print,
) -> tuple[SoakReport, RunningServer]:
    server = start_soak_server(workdir, model_path)
    try:
        report = await Soak(server, seconds=seconds, seed=seed, log=log).run(warm_up_seconds=warm_up_seconds)
    finally:
        stop(server)
    return report, server
