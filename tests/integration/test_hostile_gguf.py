"""A catalog holding the bundled model and hostile GGUF files: the broken entries are listed with
`metadata_error`, refused with a 4xx, printed as unreadable by `localchat models`, and the good
model keeps serving."""

from __future__ import annotations

import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest
from gguf.constants import GGUF_MAGIC, GGUFValueType

from .conftest import BASE_MODEL, REPO_ROOT
from .model_servers import RunningServer, start_server, stop

HELLO = [{"role": "user", "content": "Hi"}]
# File stem (the catalog name) -> what its metadata_error must say.
HOSTILE = {
    "truncated-download": "runs past the end of the file",
    "duplicate-template": "duplicate key",
    "absurd-length": "string length 4294967295 runs past the end of the file",
}


def _str(text: bytes) -> bytes:
    return struct.pack("<Q", len(text)) + text


def _gguf(*kvs: bytes) -> bytes:
    return struct.pack("<IIQQ", GGUF_MAGIC, 3, 0, len(kvs)) + b"".join(kvs)


def _template_kv(source: bytes) -> bytes:
    return _str(b"tokenizer.chat_template") + struct.pack("<I", GGUFValueType.STRING) + _str(source)


def _write_hostile_files(folder: Path, base_model_path: Path) -> None:
    with base_model_path.open("rb") as handle:
        head = handle.read(200_000)  # inside the vocabulary array: a download cut short
    (folder / "truncated-download.gguf").write_bytes(head)
    (folder / "duplicate-template.gguf").write_bytes(
        _gguf(_template_kv(b"{{ messages }}"), _template_kv(b"{{ smuggled }}"))
    )
    name_kv = _str(b"general.name") + struct.pack("<IQ", GGUFValueType.STRING, 2**32 - 1) + b"tiny"
    (folder / "absurd-length.gguf").write_bytes(_gguf(name_kv))


@pytest.fixture(scope="module")
def models_dir(base_model_path: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("hostile")
    _write_hostile_files(folder, base_model_path)
    catalog = f"settings:\n  default_model: {BASE_MODEL}\n"
    catalog += f"models:\n  - name: {BASE_MODEL}\n    file: {base_model_path}\n"
    (folder / "models.yaml").write_text(catalog, encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def hostile_server(models_dir: Path) -> Iterator[RunningServer]:
    running = start_server(models_dir, (models_dir / "models.yaml").read_text(encoding="utf-8"), {})
    yield running
    stop(running)


@pytest.fixture
def hostile_http(hostile_server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=hostile_server.base_url, timeout=120) as session:
        yield session


def _assert_openai_error(response: httpx.Response) -> dict[str, object]:
    assert 400 <= response.status_code < 500, response.text
    error = response.json()["error"]
    assert set(error) >= {"message", "type", "param", "code"}
    return error


def test_models_lists_hostile_entries_with_metadata_error(hostile_http: httpx.Client) -> None:
    cards = {card["id"]: card for card in hostile_http.get("/v1/models").json()["data"]}
    assert set(cards) == {BASE_MODEL, *HOSTILE}
    assert cards[BASE_MODEL]["metadata_error"] is None
    for name, problem in HOSTILE.items():
        assert cards[name]["file_exists"] is True
        assert problem in cards[name]["metadata_error"], cards[name]


def test_chat_on_good_model_still_works(hostile_server: RunningServer) -> None:
    response = hostile_server.client().chat.completions.create(model=BASE_MODEL, messages=HELLO, max_tokens=3)
    assert response.model == BASE_MODEL and response.choices[0].message.content is not None


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_chat_naming_hostile_model_is_a_client_error(hostile_http: httpx.Client, name: str) -> None:
    response = hostile_http.post(
        "/v1/chat/completions", json={"model": name, "messages": HELLO, "max_tokens": 2}
    )
    error = _assert_openai_error(response)
    assert "unreadable" in str(error["message"]) and error["param"] == "model"


def test_streamed_chat_naming_hostile_model_is_a_client_error(hostile_http: httpx.Client) -> None:
    body = {"model": "absurd-length", "messages": HELLO, "max_tokens": 2, "stream": True}
    _assert_openai_error(hostile_http.post("/v1/chat/completions", json=body))


def test_openai_client_sees_hostile_model_refused(hostile_server: RunningServer) -> None:
    with pytest.raises(openai.APIStatusError) as caught:
        hostile_server.client().chat.completions.create(
            model="duplicate-template", messages=HELLO, max_tokens=2
        )
    assert 400 <= caught.value.status_code < 500


def test_localchat_models_prints_hostile_entries_as_unreadable(models_dir: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "server", "models", "--models-dir", str(models_dir)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    rows = {line.split()[0]: line for line in result.stdout.splitlines()[1:] if line.strip()}
    assert set(rows) == {BASE_MODEL, *HOSTILE}
    for name in HOSTILE:
        assert "unreadable" in rows[name].split()
    assert "unreadable" not in rows[BASE_MODEL].split()
