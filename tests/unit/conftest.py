"""Shared helpers for the unit tests: fixture files, a clean environment, and tiny GGUF files."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

import gguf
import pytest

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"

# A vocabulary small enough to be read whole by the header parser (<= 64 items).
SMALL_VOCAB = ["<pad>", "<bos>", "<eos>", "<unk>", "hello", "world"]


@pytest.fixture(autouse=True)
def _clean_localchat_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """No test may see LOCALCHAT_* variables from the shell that runs pytest."""
    for key in list(os.environ):
        if key.upper().startswith("LOCALCHAT_"):
            monkeypatch.delenv(key)


@pytest.fixture
def template_source() -> Callable[[str], str]:
    def load(name: str) -> str:
        return (FIXTURES / "templates" / f"{name}.jinja").read_text(encoding="utf-8")

    return load


GGUFFactory = Callable[..., Path]


@pytest.fixture
def make_gguf(tmp_path: Path) -> GGUFFactory:
    """Write a metadata-only GGUF file (no tensors) and return its path."""

    def write(
        path: Path | str = "model.gguf",
        *,
        arch: str = "llama",
        name: str | None = "Tiny Test",
        finetune: str | None = None,
        size_label: str | None = None,
        file_type: int | None = None,
        context_length: int | None = None,
        block_count: int | None = None,
        tokens: list[str] | None = None,
        bos_token_id: int | None = 1,
        eos_token_id: int | None = 2,
        chat_template: str | None = None,
        named_templates: Mapping[str, str] | None = None,
    ) -> Path:
        target = Path(path)
        if not target.is_absolute():
            target = tmp_path / target
        target.parent.mkdir(parents=True, exist_ok=True)
        writer = gguf.GGUFWriter(str(target), arch)
        if name is not None:
            writer.add_name(name)
        if finetune is not None:
            writer.add_finetune(finetune)
        if size_label is not None:
            writer.add_size_label(size_label)
        if file_type is not None:
            writer.add_file_type(file_type)
        if context_length is not None:
            writer.add_context_length(context_length)
        if block_count is not None:
            writer.add_block_count(block_count)
        writer.add_token_list(SMALL_VOCAB if tokens is None else tokens)
        if bos_token_id is not None:
            writer.add_bos_token_id(bos_token_id)
        if eos_token_id is not None:
            writer.add_eos_token_id(eos_token_id)
        choices = [{"name": key, "template": value} for key, value in (named_templates or {}).items()]
        if chat_template is not None:
            choices.append({"name": "default", "template": chat_template})
        if choices:
            writer.add_chat_template(choices)
        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        return target

    return write
