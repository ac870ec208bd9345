"""What a GGUF file says about itself: architecture, size, quantization, context, kind, templates."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from gguf.constants import GGUFValueType, LlamaFileType

from server.models.gguf_header import GGUFFormatError, GGUFHeader

ModelKind = Literal["base", "instruct", "chat", "embedding"]
# llama.cpp's pooling types that make one vector of a whole input (mean, CLS, last token).
SENTENCE_POOLING = frozenset({1, 2, 3})
# Encoder-only architectures: they embed and cannot generate, whatever the metadata says.
ENCODER_ARCHITECTURES = frozenset(
    {"bert", "nomic-bert", "nomic-bert-moe", "jina-bert-v2", "modern-bert", "neo-bert", "t5encoder"}
)
DEFAULT_TEMPLATE = "default"
# A multimodal projector's architecture (llama.cpp's mmproj files): not a model of its own.
PROJECTOR_ARCHITECTURE = "clip"
_TEMPLATE_KEY = "tokenizer.chat_template"
_TOKENS_KEY = "tokenizer.ggml.tokens"
# Fill-in-the-middle tokens: the keys llama.cpp reads (and their older names), and the pieces it
# recognises in a vocabulary that names none (src/llama-vocab.cpp).
_FIM_KEYS = (
    ("tokenizer.ggml.fim_pre_token_id", "tokenizer.ggml.prefix_token_id"),
    ("tokenizer.ggml.fim_suf_token_id", "tokenizer.ggml.suffix_token_id"),
    ("tokenizer.ggml.fim_mid_token_id", "tokenizer.ggml.middle_token_id"),
)
_FIM_PIECES = (
    ("<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<\uff5cfim\u2581begin\uff5c>", "<PRE>", "\u2581<PRE>",
     "<|code_prefix|>", "<|prefix|>"),
    ("<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<\uff5cfim\u2581hole\uff5c>", "<SUF>", "\u2581<SUF>",
     "<|code_suffix|>", "<|suffix|>"),
    ("<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<\uff5cfim\u2581end\uff5c>", "<MID>", "\u2581<MID>",
     "<|code_middle|>", "<|middle|>"),
)


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
    # `<architecture>.pooling_type`: set by embedding models (1 mean, 2 CLS, 3 last).
    pooling_type: int | None = None
    # The vocabulary has fill-in-the-middle prefix, suffix and middle tokens.
    has_fim: bool = False

    @property
    def has_chat_template(self) -> bool:
        return DEFAULT_TEMPLATE in self.chat_templates

    @property
    def kind(self) -> ModelKind:
        """Embedding models declare how they pool, or are encoders; chat-tuned and instruct-tuned
        models carry a template, and names settle which of the two."""
        if self.pooling_type in SENTENCE_POOLING or self.architecture in ENCODER_ARCHITECTURES:
            return "embedding"
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


# A value of the wrong type is refused rather than ignored: llama.cpp would refuse the file too (or
# read something else), and the catalog row should say why the file is unusable.
def _wrong_type(header: GGUFHeader, key: str, expected: str) -> GGUFFormatError:
    found = header.type_name(key)
    return GGUFFormatError(f"{header.path.name}: {key[:80]!r} should be {expected}, not {found}")


def _string(header: GGUFHeader, key: str) -> str | None:
    if key not in header.values:
        return None
    value = header.values[key]
    if not isinstance(value, str):
        raise _wrong_type(header, key, "a string")
    return value


def _count(header: GGUFHeader, key: str) -> int | None:
    if key not in header.values:
        return None
    value = header.values[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise _wrong_type(header, key, "a non-negative integer")
    return value


def _token_text(header: GGUFHeader, id_key: str) -> str:
    token_id = _count(header, id_key)
    if token_id is None or _TOKENS_KEY not in header.values:
        return ""
    if header.item_type(_TOKENS_KEY) is not GGUFValueType.STRING:
        raise _wrong_type(header, _TOKENS_KEY, "an ARRAY of STRING")
    text = header.array_item(_TOKENS_KEY, token_id)
    return text if isinstance(text, str) else ""


def _templates(header: GGUFHeader) -> dict[str, str]:
    templates: dict[str, str] = {}
    for key, source in header.values.items():
        # Not a bare prefix match: "tokenizer.chat_templates" (the list of names) is no template.
        if key != _TEMPLATE_KEY and not key.startswith(_TEMPLATE_KEY + "."):
            continue
        if not isinstance(source, str):
            raise _wrong_type(header, key, "a string")
        name = DEFAULT_TEMPLATE if key == _TEMPLATE_KEY else key.removeprefix(_TEMPLATE_KEY + ".")
        templates[name] = source
    return templates


def _has_fim(header: GGUFHeader) -> bool:
    """As llama.cpp decides it: each of the three by its key, or else by a piece it knows."""
    return all(
        any(key in header.values for key in keys) or header.has_string_item(_TOKENS_KEY, pieces)
        for keys, pieces in zip(_FIM_KEYS, _FIM_PIECES, strict=True)
    )


def read_metadata(path: Path) -> ModelMetadata:
    """Raises GGUFFormatError for a malformed file or a value of the wrong type."""
    with GGUFHeader(path) as header:
        architecture = _string(header, "general.architecture")
        return ModelMetadata(
            architecture=architecture,
            name=_string(header, "general.name"),
            size_label=_string(header, "general.size_label"),
            finetune=_string(header, "general.finetune"),
            quantization=_quantization(_count(header, "general.file_type")),
            context_length=_count(header, f"{architecture}.context_length") if architecture else None,
            num_layers=_count(header, f"{architecture}.block_count") if architecture else None,
            pooling_type=_count(header, f"{architecture}.pooling_type") if architecture else None,
            bos_token=_token_text(header, "tokenizer.ggml.bos_token_id"),
            eos_token=_token_text(header, "tokenizer.ggml.eos_token_id"),
            chat_templates=_templates(header),
            has_fim=_has_fim(header),
        )


@dataclass(frozen=True)
class ProjectorMetadata:
    """What a multimodal projector (an mmproj GGUF, read by libmtmd) says about itself."""

    projector_type: str | None
    has_vision: bool
    has_audio: bool
    # The width of the embeddings it hands the text model: must equal the model's n_embd.
    output_width: int | None


def _flag(header: GGUFHeader, key: str) -> bool:
    value = header.values.get(key, False)
    if not isinstance(value, bool):
        raise _wrong_type(header, key, "a boolean")
    return value


def read_projector(path: Path) -> ProjectorMetadata:
    """Raises GGUFFormatError for a malformed file, or one that is not a projector."""
    with GGUFHeader(path) as header:
        architecture = _string(header, "general.architecture")
        if architecture != PROJECTOR_ARCHITECTURE:
            raise GGUFFormatError(
                f"{path.name} is not a multimodal projector (its architecture is {architecture!r}, "
                f"not {PROJECTOR_ARCHITECTURE!r})"
            )
        has_vision = _flag(header, "clip.has_vision_encoder")
        has_audio = _flag(header, "clip.has_audio_encoder")
        width_key = "clip.vision.projection_dim" if has_vision else "clip.audio.projection_dim"
        return ProjectorMetadata(
            projector_type=_string(header, "clip.projector_type"),
            has_vision=has_vision,
            has_audio=has_audio,
            output_width=_count(header, width_key),
        )


def is_projector_file(path: Path) -> bool:
    """Whether a GGUF file is a multimodal projector (named mmproj*, or of architecture "clip")."""
    if path.name.lower().startswith("mmproj"):
        return True
    try:
        with GGUFHeader(path) as header:
            return header.values.get("general.architecture") == PROJECTOR_ARCHITECTURE
    except (GGUFFormatError, OSError):
        return False
