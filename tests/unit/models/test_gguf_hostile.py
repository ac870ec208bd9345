"""GGUFHeader and read_metadata on malformed and hostile GGUF files, mostly written byte by byte.

Each must fail with GGUFFormatError naming the problem: no other exception, no allocation or loop
sized by a length the file claims but cannot hold.
"""

from __future__ import annotations

import os
import re
import struct
from pathlib import Path

import gguf
import pytest
from gguf.constants import GGUF_MAGIC, GGUFValueType

from server.models.catalog import ModelEntry, describe
from server.models.gguf_header import GGUFFormatError, GGUFHeader, LargeArray
from server.models.metadata import read_metadata
from tests.unit.conftest import GGUFFactory

STRING = GGUFValueType.STRING
ARRAY = GGUFValueType.ARRAY
UINT8 = GGUFValueType.UINT8
UINT32 = GGUFValueType.UINT32
PAST_END = "runs past the end of the file"
NOT_COUNT = "should be a non-negative integer"


# -- writing GGUF bytes by hand -------------------------------------------------------------------------


def _str(text: str | bytes) -> bytes:
    raw = text.encode() if isinstance(text, str) else text
    return struct.pack("<Q", len(raw)) + raw


def _kv(key: str | bytes, value_type: int, payload: bytes) -> bytes:
    return _str(key) + struct.pack("<I", value_type) + payload


def _array(item_type: int, items: list[bytes], length: int | None = None) -> bytes:
    return struct.pack("<IQ", item_type, len(items) if length is None else length) + b"".join(items)


def _gguf(*kvs: bytes, num_kv: int | None = None, num_tensors: int = 0, version: int = 3) -> bytes:
    count = len(kvs) if num_kv is None else num_kv
    return struct.pack("<IIQQ", GGUF_MAGIC, version, num_tensors, count) + b"".join(kvs)


def _write(tmp_path: Path, data: bytes, name: str = "hostile.gguf") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _refused(path: Path, match: str) -> str:
    with pytest.raises(GGUFFormatError, match=match) as caught:
        GGUFHeader(path).close()
    return str(caught.value)


# A well-formed file with one of each kind of entry; the truncation tests cut it everywhere.
_GOOD_KVS = [
    _kv("general.architecture", STRING, _str("llama")),
    _kv("llama.context_length", UINT32, struct.pack("<I", 2048)),
    _kv("general.tags", ARRAY, _array(STRING, [_str("a"), _str("b")])),
    _kv("tokenizer.ggml.tokens", ARRAY, _array(STRING, [_str(f"tok{i}") for i in range(100)])),
    _kv("tokenizer.ggml.scores", ARRAY, _array(GGUFValueType.FLOAT32, [struct.pack("<f", 0.5)] * 100)),
    _kv("tokenizer.ggml.bos_token_id", UINT32, struct.pack("<I", 7)),
    _kv("tokenizer.chat_template", STRING, _str("{{ messages }}")),
]
GOOD_FILE = _gguf(*_GOOD_KVS)


def _boundaries() -> list[int]:
    """Cut points at and around every field boundary of GOOD_FILE, and inside each field."""
    points = {1, 2, 3, 4, 6, 8, 12, 16, 20, 24}
    offset = 24
    for kv in _GOOD_KVS:
        points |= {
            offset + 1,
            offset + 4,
            offset + 8,
            offset + 9,
            offset + len(kv) // 2,
            offset + len(kv) - 1,
        }
        offset += len(kv)
    return sorted(point for point in points if 0 < point < len(GOOD_FILE))


def test_good_hand_written_file_is_read(tmp_path: Path) -> None:
    with GGUFHeader(_write(tmp_path, GOOD_FILE)) as header:
        assert header.get("general.architecture") == "llama"
        assert header.get("general.tags") == ["a", "b"]
        assert isinstance(header.values["tokenizer.ggml.tokens"], LargeArray)
        assert header.array_item("tokenizer.ggml.tokens", 7) == "tok7"
        assert header.type_name("tokenizer.ggml.scores") == "ARRAY of FLOAT32"
    assert read_metadata(_write(tmp_path, GOOD_FILE)).bos_token == "tok7"


# -- truncation ----------------------------------------------------------------------------------------


def test_empty_file_is_refused(tmp_path: Path) -> None:
    _refused(_write(tmp_path, b""), "empty file")


@pytest.mark.parametrize("cut", _boundaries())
def test_truncated_file_is_refused(tmp_path: Path, cut: int) -> None:
    _refused(_write(tmp_path, GOOD_FILE[:cut]), f"{PAST_END}|cannot fit in a file of")


def test_every_truncation_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "cut.gguf"
    for cut in range(1, len(GOOD_FILE)):
        path.write_bytes(GOOD_FILE[:cut])
        with pytest.raises(GGUFFormatError):
            GGUFHeader(path).close()


@pytest.mark.parametrize("fraction", [0.01, 0.1, 0.3, 0.5, 0.7, 0.9, 0.99])
def test_truncated_writer_file_is_refused(make_gguf: GGUFFactory, tmp_path: Path, fraction: float) -> None:
    data = make_gguf(tokens=[f"t{i}" for i in range(300)], chat_template="x" * 200).read_bytes()
    _refused(
        _write(tmp_path, data[: int(len(data) * fraction)], "cut.gguf"), f"{PAST_END}|cannot fit in a file of"
    )


def test_truncation_names_the_key(tmp_path: Path) -> None:
    data = _gguf(*_GOOD_KVS[:2])
    cut = 24 + len(_GOOD_KVS[0]) + 10  # inside the second key's name
    message = _refused(_write(tmp_path, data[:cut]), PAST_END)
    assert "key 1:" in message and "hostile.gguf" in message


# -- header fields -------------------------------------------------------------------------------------


def test_wrong_magic_is_refused(tmp_path: Path) -> None:
    _refused(_write(tmp_path, b"GGML" + GOOD_FILE[4:]), "not a GGUF file")


@pytest.mark.parametrize("version", [0, 1, 4, 2**31])
def test_unsupported_version_is_refused(tmp_path: Path, version: int) -> None:
    _refused(_write(tmp_path, _gguf(*_GOOD_KVS, version=version)), f"unsupported GGUF version {version}")


def test_big_endian_file_is_named(tmp_path: Path) -> None:
    _refused(_write(tmp_path, _gguf(*_GOOD_KVS, version=3 << 24)), "big-endian")


@pytest.mark.parametrize("num_kv", [len(_GOOD_KVS) + 1000, 2**63, 2**64 - 1])
def test_absurd_key_value_count_is_refused(tmp_path: Path, num_kv: int) -> None:
    message = _refused(
        _write(tmp_path, _gguf(*_GOOD_KVS, num_kv=num_kv)), f"{PAST_END}|cannot fit in a file of"
    )
    if num_kv >= 2**63:
        assert f"{num_kv} key/value pairs cannot fit" in message


@pytest.mark.parametrize("num_tensors", [2**40, 2**63, 2**64 - 1])
def test_absurd_tensor_count_is_refused(tmp_path: Path, num_tensors: int) -> None:
    _refused(
        _write(tmp_path, _gguf(*_GOOD_KVS, num_tensors=num_tensors)), f"{num_tensors} tensors cannot fit"
    )


# -- lengths past the end ------------------------------------------------------------------------------


@pytest.mark.parametrize("length", [2**32 - 1, 2**63, 2**64 - 1])
def test_key_length_past_end_is_refused(tmp_path: Path, length: int) -> None:
    data = _gguf(struct.pack("<Q", length) + b"general.name")
    _refused(_write(tmp_path, data), f"key 0: key length {length} {PAST_END}")


@pytest.mark.parametrize("length", [40, 2**32 - 1, 2**64 - 1])
def test_string_value_length_past_end_is_refused(tmp_path: Path, length: int) -> None:
    data = _gguf(_GOOD_KVS[0], _kv("general.name", STRING, struct.pack("<Q", length) + b"short"))
    _refused(_write(tmp_path, data), rf"key 1 \('general.name'\): string length {length} {PAST_END}")


@pytest.mark.parametrize("item_type", [UINT8, GGUFValueType.UINT64, STRING, ARRAY])
@pytest.mark.parametrize("length", [65, 2**31, 2**63, 2**64 - 1])
def test_array_length_past_end_is_refused(tmp_path: Path, item_type: GGUFValueType, length: int) -> None:
    data = _gguf(_kv("tokenizer.ggml.tokens", ARRAY, _array(item_type, [], length=length) + b"\0" * 16))
    _refused(_write(tmp_path, data), f"array length {length} of {item_type.name} {PAST_END}")


def test_string_in_large_array_past_end_is_refused(tmp_path: Path) -> None:
    items = [_str("ok")] * 99 + [struct.pack("<Q", 2**62)]
    data = _gguf(_kv("tokenizer.ggml.tokens", ARRAY, _array(STRING, items)))
    _refused(_write(tmp_path, data), f"string length {2**62} {PAST_END}")


def test_string_over_size_cap_is_refused(tmp_path: Path) -> None:
    # A sparse file: 20 MB of zeros that really are there, claimed as one string.
    path = _write(tmp_path, _gguf(_kv("tokenizer.chat_template", STRING, struct.pack("<Q", 20_000_000))))
    with path.open("r+b") as handle:
        handle.truncate(21_000_000)
    _refused(path, "string length 20000000 is over the")


# -- types and nesting ---------------------------------------------------------------------------------


@pytest.mark.parametrize("code", [13, 99, 2**32 - 1])
def test_unknown_value_type_is_refused(tmp_path: Path, code: int) -> None:
    data = _gguf(_GOOD_KVS[0], _kv("general.name", code, b"\0" * 16))
    _refused(_write(tmp_path, data), rf"key 1 \('general.name'\): unknown value type code {code}")


def test_unknown_array_item_type_is_refused(tmp_path: Path) -> None:
    data = _gguf(_kv("general.tags", ARRAY, _array(42, [b"\0" * 8])))
    _refused(_write(tmp_path, data), "unknown value type code 42")


def _nested(depth: int) -> bytes:
    payload = _array(UINT8, [b"\1"])
    for _ in range(depth - 1):
        payload = _array(ARRAY, [payload])
    return payload


def test_shallow_nested_arrays_are_read(tmp_path: Path) -> None:
    with GGUFHeader(_write(tmp_path, _gguf(_kv("x.nested", ARRAY, _nested(2))))) as header:
        assert header.get("x.nested") == [[1]]


@pytest.mark.parametrize("depth", [5, 100, 5000])
def test_deeply_nested_arrays_are_refused(tmp_path: Path, depth: int) -> None:
    _refused(_write(tmp_path, _gguf(_kv("x.nested", ARRAY, _nested(depth)))), "arrays nested more than")


def test_deeply_nested_large_arrays_are_refused(tmp_path: Path) -> None:
    payload = _array(UINT8, [b"\1"] * 100)
    for _ in range(10):
        payload = _array(ARRAY, [payload] + [_array(UINT8, [])] * 99)
    _refused(_write(tmp_path, _gguf(_kv("x.nested", ARRAY, payload))), "arrays nested more than")


# -- keys and text ---------------------------------------------------------------------------------------


def test_key_that_is_not_utf8_is_refused(tmp_path: Path) -> None:
    data = _gguf(_GOOD_KVS[0], _kv(b"general.\xffname", STRING, _str("x")))
    _refused(_write(tmp_path, data), "key 1: key is not valid UTF-8")


def test_string_value_that_is_not_utf8_is_replaced(tmp_path: Path) -> None:
    data = _gguf(_GOOD_KVS[0], _kv("general.name", STRING, _str(b"Tiny \xff\xfe model")))
    assert read_metadata(_write(tmp_path, data)).name == "Tiny \ufffd\ufffd model"


def test_duplicate_key_is_refused(tmp_path: Path) -> None:
    second = _kv("tokenizer.chat_template", STRING, _str("{{ smuggled }}"))
    message = _refused(_write(tmp_path, _gguf(*_GOOD_KVS, second)), "duplicate key")
    assert f"key {len(_GOOD_KVS)} ('tokenizer.chat_template')" in message


# -- not a regular file ----------------------------------------------------------------------------------


def test_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "dir.gguf").mkdir()
    _refused(tmp_path / "dir.gguf", "not a regular file")


def test_fifo_is_refused_without_waiting(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.gguf")
    _refused(tmp_path / "pipe.gguf", "not a regular file")


# -- metadata values of the wrong type -------------------------------------------------------------------


def _with_values(tmp_path: Path, values: dict[str, tuple[object, GGUFValueType]]) -> Path:
    path = tmp_path / "typed.gguf"
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_token_list(["<pad>", "<bos>", "<eos>"])
    for key, (value, value_type) in values.items():
        sub_type = GGUFValueType.INT32 if value_type is ARRAY else None
        writer.add_key_value(key, value, value_type, sub_type=sub_type)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return path


@pytest.mark.parametrize(
    ("key", "value", "value_type", "expected"),
    [
        ("tokenizer.chat_template", 5, UINT32, "'tokenizer.chat_template' should be a string, not UINT32"),
        ("tokenizer.chat_template.tool_use", [1, 2], ARRAY, "should be a string, not ARRAY of INT32"),
        ("llama.context_length", "2048", STRING, f"'llama.context_length' {NOT_COUNT}"),
        ("llama.context_length", 2048.0, GGUFValueType.FLOAT32, NOT_COUNT),
        (
            "llama.block_count",
            -3,
            GGUFValueType.INT32,
            f"'llama.block_count' {NOT_COUNT}",
        ),
        ("general.name", 7, UINT32, "'general.name' should be a string, not UINT32"),
        ("general.file_type", "Q4_K_M", STRING, f"'general.file_type' {NOT_COUNT}"),
        (
            "tokenizer.ggml.bos_token_id",
            "1",
            STRING,
            f"'tokenizer.ggml.bos_token_id' {NOT_COUNT}",
        ),
        (
            "tokenizer.ggml.eos_token_id",
            True,
            GGUFValueType.BOOL,
            f"{NOT_COUNT}, not BOOL",
        ),
    ],
)
def test_metadata_value_of_wrong_type_is_refused(
    tmp_path: Path, key: str, value: object, value_type: GGUFValueType, expected: str
) -> None:
    with pytest.raises(GGUFFormatError, match=re.escape(expected)):
        read_metadata(_with_values(tmp_path, {key: (value, value_type)}))


def test_architecture_of_wrong_type_is_refused(tmp_path: Path) -> None:
    data = _gguf(_kv("general.architecture", ARRAY, _array(UINT8, [b"\1"] * 70)))
    wanted = "'general.architecture' should be a string, not ARRAY of UINT8"
    with pytest.raises(GGUFFormatError, match=re.escape(wanted)):
        read_metadata(_write(tmp_path, data))


def test_token_list_of_ints_is_refused(tmp_path: Path) -> None:
    data = _gguf(
        _kv("tokenizer.ggml.tokens", ARRAY, _array(UINT32, [struct.pack("<I", 5)] * 3)),
        _kv("tokenizer.ggml.bos_token_id", UINT32, struct.pack("<I", 1)),
    )
    with pytest.raises(GGUFFormatError, match=r"'tokenizer\.ggml\.tokens' should be an ARRAY of STRING"):
        read_metadata(_write(tmp_path, data))


def test_chat_template_name_list_is_not_a_template(make_gguf: GGUFFactory) -> None:
    # GGUFWriter stores the names under "tokenizer.chat_templates", which shares the template key's prefix.
    metadata = read_metadata(make_gguf(named_templates={"rag": "RAG"}, chat_template="T"))
    assert metadata.chat_templates == {"rag": "RAG", "default": "T"}


# -- the catalog keeps serving ---------------------------------------------------------------------------


def test_catalog_describe_marks_hostile_file(tmp_path: Path) -> None:
    path = _write(tmp_path, _gguf(*_GOOD_KVS, num_kv=2**63))
    info = describe(ModelEntry(name="hostile", path=path))
    assert info.metadata is None and info.metadata_error is not None
    assert "key/value pairs cannot fit" in info.metadata_error
