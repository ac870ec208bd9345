"""Copies of a GGUF file with changed metadata: a chat template written in (the same weights served as
an instruct model), or any key set, such as a pooling type (gguf's own gguf_new_metadata writes)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import gguf
from gguf.scripts.gguf_new_metadata import MetadataDetails, copy_with_new_metadata


def copy_with_template(base: Path, template_file: Path, target: Path) -> Path:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "gguf.scripts.gguf_new_metadata",
            str(base),
            str(target),
            "--chat-template-file",
            str(template_file),
            "--force",
        ],
        check=True,
        capture_output=True,
    )
    return target


def copy_with_values(base: Path, target: Path, values: dict[str, tuple[gguf.GGUFValueType, object]]) -> Path:
    """`base` with each key of `values` set to its (type, value)."""
    reader = gguf.GGUFReader(base, "r")
    architecture = reader.get_field(gguf.Keys.General.ARCHITECTURE).contents()
    writer = gguf.GGUFWriter(target, arch=architecture, endianess=reader.endianess)
    metadata = {key: MetadataDetails(kind, value) for key, (kind, value) in values.items()}
    copy_with_new_metadata(reader, writer, metadata, [])
    return target
