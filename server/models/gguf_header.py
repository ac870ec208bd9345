"""Read a GGUF file's key/value metadata without loading weights or parsing big arrays.

gguf.GGUFReader parses every array (262k vocabulary strings for Gemma) and takes ~8 s per file
here; a catalog only needs the scalars, so this walks the header with the gguf package's type codes
and records arrays by position, reading single elements (e.g. the BOS token's text) on demand.

GGUF files come from strangers, so every length and count is checked against the bytes the file
actually has before anything is read or allocated: a hostile header fails fast with GGUFFormatError
naming the key and the problem, never with another exception, a huge allocation or a long loop.
Keys must be valid UTF-8 and unique, so the key set is unambiguous; string values are decoded with
U+FFFD for bad bytes, which can only garble that one value's text.
"""

from __future__ import annotations

import mmap
import os
import stat
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gguf.constants import GGUF_MAGIC, GGUFValueType

_SCALAR_FORMATS: dict[GGUFValueType, str] = {
    GGUFValueType.UINT8: "<B",
    GGUFValueType.INT8: "<b",
    GGUFValueType.UINT16: "<H",
    GGUFValueType.INT16: "<h",
    GGUFValueType.UINT32: "<I",
    GGUFValueType.INT32: "<i",
    GGUFValueType.FLOAT32: "<f",
    GGUFValueType.BOOL: "<?",
    GGUFValueType.UINT64: "<Q",
    GGUFValueType.INT64: "<q",
    GGUFValueType.FLOAT64: "<d",
}
# Arrays up to this length are read whole (tags, chat template names); longer ones are skipped.
_SMALL_ARRAY = 64
_SUPPORTED_VERSIONS = (2, 3)
_HEADER_BYTES = 24  # magic, version, tensor count, key/value count
# The fewest bytes one entry can take, which bounds how many a file of a given size can hold.
_MIN_KV_BYTES = 8 + 4 + 1  # key length (empty key), value type, one-byte value
_MIN_TENSOR_BYTES = 8 + 4 + 4 + 8  # name length (empty name), no dimensions, type, offset
_MIN_ITEM_BYTES = {GGUFValueType.STRING: 8, GGUFValueType.ARRAY: 12} | {
    value_type: struct.calcsize(fmt) for value_type, fmt in _SCALAR_FORMATS.items()
}
# Real files nest no arrays at all; the cap keeps recursion shallow whatever a file claims.
_MAX_ARRAY_DEPTH = 4
# Larger than any real chat template or name; beyond it a string is an attack, not metadata.
_MAX_STRING_BYTES = 16 * 1024 * 1024


class GGUFFormatError(ValueError):
    pass


@dataclass(frozen=True)
class LargeArray:
    """Where a skipped array lives, so single elements can be read later."""

    item_type: GGUFValueType
    length: int
    offset: int
    # Where the array's bytes end.
    end: int = 0


def _size_text(num_bytes: int) -> str:
    if num_bytes < 1000:
        return f"{num_bytes} bytes"
    size = num_bytes / 1000
    for unit in ("KB", "MB"):
        if size < 1000:
            return f"{size:.0f} {unit}"
        size /= 1000
    return f"{size:.1f} GB"


def _open_regular_file(path: Path) -> mmap.mmap:
    # O_NONBLOCK: opening a FIFO named *.gguf must not wait for a writer that never comes.
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise GGUFFormatError(f"{path.name}: not a regular file")
        if info.st_size == 0:
            raise GGUFFormatError(f"{path.name}: empty file")
        return mmap.mmap(fd, 0, access=mmap.ACCESS_READ)
    finally:
        os.close(fd)


class GGUFHeader:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.values: dict[str, Any] = {}
        # The GGUF type of each value, and of its items for arrays, so callers can say what they found.
        self._types: dict[str, tuple[GGUFValueType, GGUFValueType | None]] = {}
        self._where = "header"
        self._data = _open_regular_file(path)
        try:
            self._parse()
        except GGUFFormatError:
            self._data.close()
            raise
        except (struct.error, ValueError, IndexError, OverflowError, RecursionError) as exc:
            # Every read is bounds-checked first; this is a net for a check that was missed.
            self._data.close()
            raise GGUFFormatError(f"{path.name}: {self._where}: not a readable GGUF file ({exc})") from exc

    def close(self) -> None:
        self._data.close()

    def __enter__(self) -> GGUFHeader:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    @property
    def num_bytes(self) -> int:
        return len(self._data)

    def get(self, key: str, default: Any = None) -> Any:
        value = self.values.get(key, default)
        return default if isinstance(value, LargeArray) else value

    def type_name(self, key: str) -> str:
        """The GGUF type of a value as the file declares it, e.g. "UINT32" or "ARRAY of INT32"."""
        value_type, item_type = self._types[key]
        return value_type.name if item_type is None else f"{value_type.name} of {item_type.name}"

    def item_type(self, key: str) -> GGUFValueType | None:
        return self._types[key][1] if key in self._types else None

    def array_item(self, key: str, index: int) -> Any:
        array = self.values.get(key)
        if not isinstance(array, LargeArray | list):
            return None
        if isinstance(array, list):
            return array[index] if 0 <= index < len(array) else None
        if not 0 <= index < array.length:
            return None
        self._where = f"{key!r}[{index}]"
        offset = array.offset
        for _ in range(index):
            offset = self._skip(array.item_type, offset, depth=1)
        return self._read_value(array.item_type, offset, depth=1)[0]

    def has_string_item(self, key: str, texts: Sequence[str]) -> bool:
        """Whether a string array holds one of `texts` as an item: found in its bytes, each as GGUF
        writes a string (its length, then its UTF-8), without reading the array item by item."""
        array = self.values.get(key)
        if isinstance(array, list):
            return any(text in array for text in texts)
        if not isinstance(array, LargeArray) or array.item_type is not GGUFValueType.STRING:
            return False
        for text in texts:
            encoded = text.encode("utf-8")
            if self._data.find(struct.pack("<Q", len(encoded)) + encoded, array.offset, array.end) >= 0:
                return True
        return False

    # -- parsing -------------------------------------------------------------------------------------

    def _fail(self, problem: str) -> GGUFFormatError:
        return GGUFFormatError(f"{self.path.name}: {self._where}: {problem}")

    def _need(self, offset: int, num_bytes: int, what: str) -> None:
        if offset + num_bytes > self.num_bytes:
            raise self._fail(
                f"{what} at offset {offset} runs past the end of the file ({_size_text(self.num_bytes)})"
            )

    def _unpack(self, fmt: str, offset: int, what: str) -> tuple[Any, ...]:
        self._need(offset, struct.calcsize(fmt), what)
        return struct.unpack_from(fmt, self._data, offset)

    def _value_type(self, code: int) -> GGUFValueType:
        try:
            return GGUFValueType(code)
        except ValueError:
            raise self._fail(f"unknown value type code {code}") from None

    def _parse(self) -> None:
        (magic,) = self._unpack("<I", 0, "magic")
        if magic != GGUF_MAGIC:
            raise self._fail("not a GGUF file (bad magic)")
        (version,) = self._unpack("<I", 4, "version")
        if version not in _SUPPORTED_VERSIONS:
            swapped = int.from_bytes(version.to_bytes(4, "little"), "big")
            detail = " (a big-endian file?)" if swapped in _SUPPORTED_VERSIONS else ""
            raise self._fail(f"unsupported GGUF version {version}{detail}; this reads versions 2 and 3")
        num_tensors, num_kv = self._unpack("<QQ", 8, "tensor and key/value counts")
        room = self.num_bytes - _HEADER_BYTES
        if num_kv * _MIN_KV_BYTES > room:
            raise self._fail(f"{num_kv} key/value pairs cannot fit in a file of {_size_text(self.num_bytes)}")
        if num_tensors * _MIN_TENSOR_BYTES > room - num_kv * _MIN_KV_BYTES:
            raise self._fail(f"{num_tensors} tensors cannot fit in a file of {_size_text(self.num_bytes)}")
        offset = _HEADER_BYTES
        for index in range(num_kv):
            self._where = f"key {index}"
            key, offset = self._read_string(offset, "key", strict=True)
            self._where = f"key {index} ({key[:80]!r})"
            if key in self.values:
                raise self._fail("duplicate key; which copy wins would be ambiguous")
            (type_code,) = self._unpack("<I", offset, "value type")
            value_type = self._value_type(type_code)
            value, end = self._read_value(value_type, offset + 4, depth=0)
            item_type = None
            if value_type is GGUFValueType.ARRAY:  # its header was checked by _read_value
                item_type = GGUFValueType(struct.unpack_from("<I", self._data, offset + 4)[0])
            self.values[key] = value
            self._types[key] = (value_type, item_type)
            offset = end

    def _read_string(self, offset: int, what: str, strict: bool = False) -> tuple[str, int]:
        (length,) = self._unpack("<Q", offset, f"{what} length")
        start = offset + 8
        if length > self.num_bytes - start:
            raise self._fail(
                f"{what} length {length} runs past the end of the file ({_size_text(self.num_bytes)})"
            )
        if length > _MAX_STRING_BYTES:
            raise self._fail(f"{what} length {length} is over the {_MAX_STRING_BYTES}-byte limit")
        raw = self._data[start : start + length]
        try:
            text = raw.decode("utf-8", errors="strict" if strict else "replace")
        except UnicodeDecodeError as exc:
            raise self._fail(f"{what} is not valid UTF-8 ({exc.reason} at byte {exc.start})") from None
        return text, start + length

    def _read_value(self, value_type: GGUFValueType, offset: int, depth: int) -> tuple[Any, int]:
        if value_type is GGUFValueType.STRING:
            return self._read_string(offset, "string")
        if value_type is GGUFValueType.ARRAY:
            return self._read_array(offset, depth)
        fmt = _SCALAR_FORMATS[value_type]
        (value,) = self._unpack(fmt, offset, f"{value_type.name} value")
        return value, offset + struct.calcsize(fmt)

    def _array_head(self, offset: int, depth: int) -> tuple[GGUFValueType, int, int]:
        if depth >= _MAX_ARRAY_DEPTH:
            raise self._fail(f"arrays nested more than {_MAX_ARRAY_DEPTH} deep")
        item_code, length = self._unpack("<IQ", offset, "array header")
        item_type = self._value_type(item_code)
        start = offset + 12
        if length * _MIN_ITEM_BYTES[item_type] > self.num_bytes - start:
            raise self._fail(
                f"array length {length} of {item_type.name} runs past the end of the file "
                f"({_size_text(self.num_bytes)})"
            )
        return item_type, length, start

    def _read_array(self, offset: int, depth: int) -> tuple[list[Any] | LargeArray, int]:
        item_type, length, start = self._array_head(offset, depth)
        if length > _SMALL_ARRAY:
            end = self._skip_items(item_type, length, start, depth)
            return LargeArray(item_type, length, start, end), end
        items = []
        end = start
        for _ in range(length):
            item, end = self._read_value(item_type, end, depth + 1)
            items.append(item)
        return items, end

    def _skip_items(self, item_type: GGUFValueType, length: int, start: int, depth: int) -> int:
        if item_type in _SCALAR_FORMATS:
            return start + length * _MIN_ITEM_BYTES[item_type]  # bounds checked by _array_head
        end = start
        for _ in range(length):
            end = self._skip(item_type, end, depth + 1)
        return end

    def _skip(self, value_type: GGUFValueType, offset: int, depth: int) -> int:
        if value_type is GGUFValueType.STRING:
            (length,) = self._unpack("<Q", offset, "string length")
            if length > self.num_bytes - offset - 8:
                raise self._fail(
                    f"string length {length} runs past the end of the file ({_size_text(self.num_bytes)})"
                )
            return offset + 8 + length
        if value_type is GGUFValueType.ARRAY:
            item_type, length, start = self._array_head(offset, depth)
            return self._skip_items(item_type, length, start, depth)
        self._need(offset, _MIN_ITEM_BYTES[value_type], f"{value_type.name} value")
        return offset + _MIN_ITEM_BYTES[value_type]
