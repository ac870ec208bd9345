"""What a GGUF file says about itself: architecture, size, quantization, context, kind, templates."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from gguf.constants import LlamaFileType

from server.models.gguf_header import GGUFHeader

ModelKind = Literal["base", "instruct", "chat"]
DEFAULT_TEMPLATE = "default"
_TEMPLATE_KEY = "tokenizer.chat_template"


@dataclass(frozen=True)
class ModelMetadata:
    architecture: str | None
    name: str | None
    size_label: str | None
    finetune: str | None
    quantization: str | None
    context_length: int | None
    bos_token: str
    eos_token: str
    # "default" for tokenizer.chat_template, other names for tokenizer.chat_template.<name>
    chat_templates: dict[str, str] = field(default_factory=dict)
    # Repeating blocks; llama.cpp counts the output layer as one more when offloading.
    num_layers: int | None = None

    @property
    def has_chat_template(self) -> bool:
        return DEFAULT_TEMPLATE in self.chat_templates

    @property
    def kind(self) -> ModelKind:
        """Chat-tuned and instruct-tuned models carry a template; names settle which of the two."""
        label = " ".join(part for part in (self.finetune, self.name) if part).lower()
        words = set(re.split(r"[^a-z0-9]+", label))
        if "chat" in words:
            return "chat"
        if self.has_chat_template or words & {"instruct", "it"}:
            return "instruct"
        return "base"


def _quantization(file_type: int | None) -> str | None:
    if file_type is None:
        return None
    try:
        return LlamaFileType(file_type).name.removeprefix("MOSTLY_")
    except ValueError:
        return f"type {file_type}"


def _token_text(header: GGUFHeader, id_key: str) -> str:
    token_id = header.get(id_key)
    if token_id is None:
        return ""
    text = header.array_item("tokenizer.ggml.tokens", int(token_id))
    return text if isinstance(text, str) else ""


def read_metadata(path: Path) -> ModelMetadata:
    with GGUFHeader(path) as header:
        architecture = header.get("general.architecture")
        templates = {
            (DEFAULT_TEMPLATE if key == _TEMPLATE_KEY else key.removeprefix(_TEMPLATE_KEY + ".")): value
            for key, value in header.values.items()
            if key.startswith(_TEMPLATE_KEY) and isinstance(value, str)
        }
        return ModelMetadata(
            architecture=architecture,
            name=header.get("general.name"),
            size_label=header.get("general.size_label"),
            finetune=header.get("general.finetune"),
            quantization=_quantization(header.get("general.file_type")),
            context_length=header.get(f"{architecture}.context_length") if architecture else None,
            num_layers=header.get(f"{architecture}.block_count") if architecture else None,
            bos_token=_token_text(header, "tokenizer.ggml.bos_token_id"),
            eos_token=_token_text(header, "tokenizer.ggml.eos_token_id"),
            chat_templates=templates,
        )
