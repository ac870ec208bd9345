"""Read a GGUF file's key/value metadata without loading weights or parsing big arrays.

gguf.GGUFReader parses every array (262k vocabulary strings for Gemma) and takes ~8 s per file
here; a catalog only needs the scalars, so this walks the header with the gguf package's type codes
and records arrays by position, reading single elements (e.g. the BOS token's text) on demand.
"""

from __future__ import annotations

import mmap
import struct
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


class GGUFFormatError(ValueError):
    pass


@dataclass(frozen=True)
class LargeArray:
    """Where a skipped array lives, so single elements can be read later."""

    item_type: GGUFValueType
    length: int
    offset: int


class GGUFHeader:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.values: dict[str, Any] = {}
        with path.open("rb") as handle:
            try:
                self._data = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
            except ValueError as exc:  # empty file
                raise GGUFFormatError(f"{path.name}: empty file") from exc
        try:
            self._parse()
        except (struct.error, IndexError, ValueError, UnicodeDecodeError) as exc:
            self._data.close()
            raise GGUFFormatError(f"{path.name}: not a readable GGUF file ({exc})") from exc

    def close(self) -> None:
        self._data.close()

    def __enter__(self) -> GGUFHeader:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def get(self, key: str, default: Any = None) -> Any:
        value = self.values.get(key, default)
        return default if isinstance(value, LargeArray) else value

    def array_item(self, key: str, index: int) -> Any:
        array = self.values.get(key)
        if not isinstance(array, LargeArray | list):
            return None
        if isinstance(array, list):
            return array[index] if 0 <= index < len(array) else None
        if not 0 <= index < array.length:
            return None
        offset = array.offset
        for _ in range(index):
            offset = self._skip(array.item_type, offset)
        return self._read_value(array.item_type, offset)[0]

    # -- parsing -------------------------------------------------------------------------------------

    def _parse(self) -> None:
        (magic,) = struct.unpack_from("<I", self._data, 0)
        if magic != GGUF_MAGIC:
            raise GGUFFormatError(f"{self.path.name}: not a GGUF file (bad magic)")
        version, _num_tensors, num_kv = struct.unpack_from("<IQQ", self._data, 4)
        if version < 2:
            raise GGUFFormatError(f"{self.path.name}: GGUF version {version} is too old")
        offset = 24
        for _ in range(num_kv):
            key, offset = self._read_string(offset)
            (type_code,) = struct.unpack_from("<I", self._data, offset)
            value, offset = self._read_value(GGUFValueType(type_code), offset + 4, keep_large=False)
            self.values[key] = value

    def _read_string(self, offset: int) -> tuple[str, int]:
        (length,) = struct.unpack_from("<Q", self._data, offset)
        start = offset + 8
        return self._data[start : start + length].decode("utf-8"), start + length

    def _read_value(self, value_type: GGUFValueType, offset: int, keep_large: bool = True) -> tuple[Any, int]:
        if value_type is GGUFValueType.STRING:
            return self._read_string(offset)
        if value_type is GGUFValueType.ARRAY:
            item_code, length = struct.unpack_from("<IQ", self._data, offset)
            item_type = GGUFValueType(item_code)
            start = offset + 12
            if length > _SMALL_ARRAY and not keep_large:
                end = start
                if item_type in _SCALAR_FORMATS:
                    end += length * struct.calcsize(_SCALAR_FORMATS[item_type])
                else:
                    for _ in range(length):
                        end = self._skip(item_type, end)
                return LargeArray(item_type, length, start), end
            items = []
            for _ in range(length):
                item, start = self._read_value(item_type, start)
                items.append(item)
            return items, start
        fmt = _SCALAR_FORMATS[value_type]
        (value,) = struct.unpack_from(fmt, self._data, offset)
        return value, offset + struct.calcsize(fmt)

    def _skip(self, value_type: GGUFValueType, offset: int) -> int:
        if value_type is GGUFValueType.STRING:
            (length,) = struct.unpack_from("<Q", self._data, offset)
            return offset + 8 + length
        return self._read_value(value_type, offset)[1]
