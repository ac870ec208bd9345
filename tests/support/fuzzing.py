"""Property-based fuzzing of a running server from its own OpenAPI schema (Schemathesis), shared by
tests/integration/test_fuzz.py and scripts/fuzz.py.

Every operation in GET /openapi.json gets requests generated from its schema: valid ones ("positive")
and ones that break it ("negative": wrong types, missing fields, values out of range). Each response
is judged on its own: no 5xx, and every 4xx in its protocol's error envelope (OpenAI's by default,
Anthropic's on its Messages routes, Ollama's `{"error": "..."}` under /api).
"""

from __future__ import annotations

import contextlib
import json
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import hypothesis
import requests
import schemathesis
from hypothesis import HealthCheck, Phase
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.openapi import from_url

from server.protocols.anthropic.errors import is_anthropic_path
from server.protocols.ollama.wire import is_ollama_path

KEYLESS_PATHS = frozenset({"/health", "/api/version"})
ENVELOPE_KEYS = frozenset({"message", "type", "param", "code"})
ANTHROPIC_KEYS = frozenset({"message", "type"})
MODES = (GenerationMode.POSITIVE, GenerationMode.NEGATIVE)
REQUEST_SECONDS = 120


def envelope_problem(status: int, content_type: str, body: bytes, path: str = "") -> str | None:
    """Why this response breaks the contract; None if it keeps it. Anthropic's routes answer in
    Anthropic's envelope, Ollama's in Ollama's, the rest in OpenAI's."""
    if status >= 500:
        return f"server error {status}"
    if status < 400:
        return None
    if "application/json" not in content_type:
        return f"{status} with Content-Type {content_type!r}, not the JSON error envelope"
    try:
        data = json.loads(body)
    except ValueError:
        return f"{status} whose body is not JSON"
    error = data.get("error") if isinstance(data, dict) else None
    if is_ollama_path(path):
        if not isinstance(data, dict) or set(data) != {"error"} or not isinstance(error, str):
            return f"{status} without Ollama's envelope {{'error': message}}"
        return None
    if is_anthropic_path(path):
        if data.get("type") != "error" or not isinstance(error, dict) or set(error) != ANTHROPIC_KEYS:
            return f"{status} without Anthropic's envelope {{'type': 'error', 'error': {{type, message}}}}"
    elif not isinstance(error, dict) or set(error) != ENVELOPE_KEYS:
        return f"{status} without the envelope {{'error': {{message, type, param, code}}}}"
    if not isinstance(error["message"], str) or not isinstance(error["type"], str):
        return f"{status} whose error message or type is not a string"
    return None


@dataclass(frozen=True)
class Failure:
    request: str
    status: int
    response: str
    problem: str

    def __str__(self) -> str:
        return f"{self.problem}\n  request:  {self.request}\n  response: {self.response}"


@dataclass
class FuzzReport:
    status_counts: Counter[int] = field(default_factory=Counter)
    failures: list[Failure] = field(default_factory=list)

    @property
    def num_requests(self) -> int:
        return sum(self.status_counts.values())


# Judges one response: the problem with it, or None. `envelope_problem` unless a run expects more.
Judge = Callable[[str, str, int, str, bytes], str | None]


def default_judge(method: str, path: str, status: int, content_type: str, body: bytes) -> str | None:
    return envelope_problem(status, content_type, body, path)


def _describe(case: schemathesis.Case) -> str:
    body = "" if case.body is schemathesis.core.NOT_SET else f" body={case.body!r}"
    parts = [f"{case.method.upper()} {case.formatted_path}"]
    if case.query:
        parts.append(f"query={case.query!r}")
    if case.headers:
        parts.append(f"headers={case.headers!r}")
    return " ".join(parts) + body[:2000]


def _aimed(case: schemathesis.Case, model: str, is_aimed: bool) -> schemathesis.Case:
    """Half the cases name the served model, so valid ones get past the model lookup (a random model
    name is a 404 before any of the body's handling runs)."""
    if is_aimed:
        if case.query and "model" in case.query:
            case.query = {key: value for key, value in case.query.items() if key != "model"}
        if isinstance(case.body, dict) and "model" in case.body:
            case.body = {**case.body, "model": model}
        if case.path_parameters and "model_id" in case.path_parameters:
            case.path_parameters = {**case.path_parameters, "model_id": model}
    return case


def fuzz(
    base_url: str,
    *,
    examples: Callable[[str, str, GenerationMode], int],
    model: str,
    seed: int = 0,
    headers: dict[str, str] | None = None,
    schema_headers: dict[str, str] | None = None,
    judge: Judge = default_judge,
    report: FuzzReport | None = None,
    on_failure: Callable[[Failure], None] | None = None,
    limit: int | None = None,
) -> FuzzReport:
    """Send `examples(method, path, mode)` generated requests to each operation of the server's schema.
    `headers` go with every request; `schema_headers` only with the schema's (an API key, say).
    Nothing more is sent once `report` counts `limit` requests."""
    report = report if report is not None else FuzzReport()
    schema = from_url(f"{base_url}/openapi.json", headers=schema_headers or {})
    session = requests.Session()
    for result in schema.get_all_operations():
        operation = result.ok()
        for mode in MODES:
            count = examples(operation.method, operation.path, mode)
            if count <= 0:
                continue
            strategy = st.tuples(operation.as_strategy(generation_mode=mode), st.booleans()).map(
                lambda pair: _aimed(pair[0], model, pair[1])
            )
            _run_operation(
                strategy, count, seed, base_url, session, headers, judge, report, on_failure, limit
            )
    return report


def _run_operation(
    strategy: st.SearchStrategy[schemathesis.Case],
    count: int,
    seed: int,
    base_url: str,
    session: requests.Session,
    headers: dict[str, str] | None,
    judge: Judge,
    report: FuzzReport,
    on_failure: Callable[[Failure], None] | None,
    limit: int | None,
) -> None:
    @hypothesis.seed(seed)
    @hypothesis.settings(
        max_examples=count,
        deadline=None,
        database=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
        print_blob=False,
    )
    @hypothesis.given(case=strategy)
    def send(case: schemathesis.Case) -> None:
        if limit is not None and report.num_requests >= limit:
            return
        response = case.call(base_url=base_url, session=session, headers=headers, timeout=REQUEST_SECONDS)
        status = response.status_code
        report.status_counts[status] += 1
        content_type = response.headers.get("content-type", [""])
        content_type = content_type[0] if isinstance(content_type, list) else content_type
        problem = judge(case.method.upper(), case.formatted_path, status, content_type, response.content)
        if problem is not None:
            failure = Failure(
                _describe(case), status, response.content[:2000].decode(errors="replace"), problem
            )
            report.failures.append(failure)
            if on_failure is not None:
                on_failure(failure)

    # Unsatisfiable: nothing to negate, as GET /health has no parameters to break.
    with contextlib.suppress(hypothesis.errors.Unsatisfiable):
        send()


def status_summary(counts: Iterable[tuple[int, int]]) -> str:
    return ", ".join(f"{status}: {num}" for status, num in sorted(counts))


def auth_judge(method: str, path: str, status: int, content_type: str, body: bytes) -> str | None:
    """For a server with API keys, fuzzed without one: only /health and Ollama's version check (which
    clients make before they send a key) may answer; the rest get 401."""
    problem = envelope_problem(status, content_type, body, path)
    if problem is not None:
        return problem
    if path in KEYLESS_PATHS:
        return None if status in (200, 405) else f"{path} answered {status}"
    return None if status == 401 else f"expected 401 without an API key, got {status}"


def metric_total(metrics_text: str, name: str) -> float:
    """The sum of a Prometheus counter over all its label sets."""
    total = 0.0
    for line in metrics_text.splitlines():
        if line.startswith(name) and line[len(name) : len(name) + 1] in ("{", " "):
            total += float(line.rsplit(" ", 1)[1])
    return total


def server_error_count(metrics_text: str) -> float:
    """5xx answers counted by the server, less /health's 503 while the model loaded."""
    total = 0.0
    for line in metrics_text.splitlines():
        if line.startswith("localchat_requests_total{") and 'status="5' in line and "/health" not in line:
            total += float(line.rsplit(" ", 1)[1])
    return total
