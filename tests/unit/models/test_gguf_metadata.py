"""GGUFHeader and read_metadata on tiny metadata-only GGUF files written with gguf.GGUFWriter."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest
from gguf.constants import LlamaFileType

from server.models.gguf_header import GGUFFormatError, GGUFHeader, LargeArray
from server.models.metadata import ModelMetadata, read_metadata

GGUFFactory = Callable[..., Path]

# -- GGUFHeader --------------------------------------------------------------------------------------


def test_gguf_header_reads_scalar_values(make_gguf: GGUFFactory) -> None:
    path = make_gguf(arch="gemma3", name="Tiny", context_length=1024)
    with GGUFHeader(path) as header:
        assert header.get("general.architecture") == "gemma3"
        assert header.get("general.name") == "Tiny"
        assert header.get("gemma3.context_length") == 1024


def test_gguf_header_get_missing_key_returns_default(make_gguf: GGUFFactory) -> None:
    with GGUFHeader(make_gguf()) as header:
        assert header.get("general.nothing", "fallback") == "fallback"


def test_gguf_header_small_array_is_read_whole(make_gguf: GGUFFactory) -> None:
    with GGUFHeader(make_gguf(tokens=["a", "b", "c"])) as header:
        assert header.get("tokenizer.ggml.tokens") == ["a", "b", "c"]


def test_gguf_header_large_array_is_skipped_but_items_readable(make_gguf: GGUFFactory) -> None:
    tokens = [f"tok{i}" for i in range(200)]
    with GGUFHeader(make_gguf(tokens=tokens)) as header:
        assert isinstance(header.values["tokenizer.ggml.tokens"], LargeArray)
        assert header.get("tokenizer.ggml.tokens") is None
        assert header.array_item("tokenizer.ggml.tokens", 137) == "tok137"


def test_gguf_header_array_item_out_of_range_is_none(make_gguf: GGUFFactory) -> None:
    tokens = [f"tok{i}" for i in range(100)]
    with GGUFHeader(make_gguf(tokens=tokens)) as header:
        assert header.array_item("tokenizer.ggml.tokens", 100) is None
        assert header.array_item("tokenizer.ggml.tokens", -1) is None


def test_gguf_header_values_after_large_array_are_parsed(make_gguf: GGUFFactory) -> None:
    tokens = [f"tok{i}" for i in range(500)]
    with GGUFHeader(make_gguf(tokens=tokens, eos_token_id=499, chat_template="T")) as header:
        assert header.get("tokenizer.ggml.eos_token_id") == 499
        assert header.get("tokenizer.chat_template") == "T"


def test_gguf_header_non_gguf_file_raises_format_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.gguf"
    path.write_text("this is plainly not a GGUF file, just some text\n" * 4)
    with pytest.raises(GGUFFormatError, match="not a GGUF file"):
        GGUFHeader(path)


def test_gguf_header_empty_file_raises_format_error(tmp_path: Path) -> None:
    path = tmp_path / "empty.gguf"
    path.write_bytes(b"")
    with pytest.raises(GGUFFormatError, match="empty"):
        GGUFHeader(path)


def test_gguf_header_truncated_file_raises_format_error(make_gguf: GGUFFactory, tmp_path: Path) -> None:
    data = make_gguf(chat_template="x" * 100).read_bytes()
    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(data[:40])
    with pytest.raises(GGUFFormatError):
        GGUFHeader(truncated)


def test_gguf_header_tiny_file_raises_format_error(tmp_path: Path) -> None:
    path = tmp_path / "tiny.gguf"
    path.write_bytes(b"GG")
    with pytest.raises(GGUFFormatError):
        GGUFHeader(path)


def test_read_metadata_non_gguf_file_raises_format_error(tmp_path: Path) -> None:
    path = tmp_path / "model.gguf"
    path.write_bytes(b"PK\x03\x04" + b"\x00" * 64)
    with pytest.raises(GGUFFormatError):
        read_metadata(path)


# -- read_metadata -------------------------------------------------------------------------------------


def test_read_metadata_reads_general_fields(make_gguf: GGUFFactory) -> None:
    path = make_gguf(
        arch="gemma3", name="Gemma 3 Tiny", finetune="it", size_label="270M", context_length=32768
    )
    metadata = read_metadata(path)
    assert (metadata.architecture, metadata.name, metadata.finetune, metadata.size_label) == (
        "gemma3",
        "Gemma 3 Tiny",
        "it",
        "270M",
    )
    assert metadata.context_length == 32768


def test_read_metadata_quantization_from_file_type(make_gguf: GGUFFactory) -> None:
    assert read_metadata(make_gguf(file_type=LlamaFileType.MOSTLY_Q4_K_M)).quantization == "Q4_K_M"


def test_read_metadata_unknown_file_type_is_described(make_gguf: GGUFFactory) -> None:
    assert read_metadata(make_gguf(file_type=9999)).quantization == "type 9999"


def test_read_metadata_missing_file_type_is_none(make_gguf: GGUFFactory) -> None:
    assert read_metadata(make_gguf(file_type=None)).quantization is None


def test_read_metadata_context_length_absent_is_none(make_gguf: GGUFFactory) -> None:
    assert read_metadata(make_gguf(context_length=None)).context_length is None


def test_read_metadata_bos_and_eos_token_text(make_gguf: GGUFFactory) -> None:
    metadata = read_metadata(make_gguf(tokens=["<pad>", "<s>", "</s>"], bos_token_id=1, eos_token_id=2))
    assert (metadata.bos_token, metadata.eos_token) == ("<s>", "</s>")


def test_read_metadata_bos_and_eos_from_large_vocabulary(make_gguf: GGUFFactory) -> None:
    tokens = [f"t{i}" for i in range(300)]
    tokens[2], tokens[257] = "<bos>", "<end_of_turn>"
    metadata = read_metadata(make_gguf(tokens=tokens, bos_token_id=2, eos_token_id=257))
    assert (metadata.bos_token, metadata.eos_token) == ("<bos>", "<end_of_turn>")


def test_read_metadata_missing_token_ids_give_empty_strings(make_gguf: GGUFFactory) -> None:
    metadata = read_metadata(make_gguf(bos_token_id=None, eos_token_id=None))
    assert (metadata.bos_token, metadata.eos_token) == ("", "")


def test_read_metadata_token_id_outside_vocabulary_gives_empty_string(make_gguf: GGUFFactory) -> None:
    metadata = read_metadata(make_gguf(tokens=["a", "b"], bos_token_id=50))
    assert metadata.bos_token == ""


def test_read_metadata_without_chat_template(make_gguf: GGUFFactory) -> None:
    metadata = read_metadata(make_gguf())
    assert metadata.chat_templates == {}
    assert metadata.has_chat_template is False


def test_read_metadata_default_chat_template(make_gguf: GGUFFactory) -> None:
    metadata = read_metadata(make_gguf(chat_template="{{ messages }}"))
    assert metadata.chat_templates == {"default": "{{ messages }}"}
    assert metadata.has_chat_template is True


def test_read_metadata_named_chat_template(make_gguf: GGUFFactory) -> None:
    path = make_gguf(chat_template="DEFAULT", named_templates={"tool_use": "TOOLS"})
    assert read_metadata(path).chat_templates == {"default": "DEFAULT", "tool_use": "TOOLS"}


def test_read_metadata_only_named_template_is_not_a_default(make_gguf: GGUFFactory) -> None:
    metadata = read_metadata(make_gguf(named_templates={"rag": "RAG"}))
    assert metadata.chat_templates == {"rag": "RAG"}
    assert metadata.has_chat_template is False


# -- kind inference -------------------------------------------------------------------------------------


def _metadata(name: str | None = None, finetune: str | None = None, template: bool = False) -> ModelMetadata:
    return ModelMetadata(
        architecture="llama",
        name=name,
        size_label=None,
        finetune=finetune,
        quantization=None,
        context_length=None,
        bos_token="",
        eos_token="",
        chat_templates={"default": "T"} if template else {},
    )


def test_model_metadata_kind_base_without_template_or_hint() -> None:
    assert _metadata(name="Gemma 3 270m").kind == "base"


def test_model_metadata_kind_instruct_with_template() -> None:
    assert _metadata(name="Some Model", template=True).kind == "instruct"


def test_model_metadata_kind_instruct_from_finetune_name() -> None:
    assert _metadata(name="Llama 3.2 1B", finetune="Instruct").kind == "instruct"


def test_model_metadata_kind_instruct_from_it_suffix() -> None:
    assert _metadata(name="gemma-3-1b-it").kind == "instruct"


def test_model_metadata_kind_chat_from_name_even_with_template() -> None:
    assert _metadata(name="Llama 2 7B Chat", template=True).kind == "chat"


def test_model_metadata_kind_chat_from_finetune() -> None:
    assert _metadata(name="Qwen", finetune="chat").kind == "chat"


@pytest.mark.parametrize(
    ("architecture", "pooling_type", "kind"),
    [("llama", 1, "embedding"), ("qwen3", 3, "embedding"), ("bert", None, "embedding"), ("llama", 0, "base")],
)
def test_model_metadata_kind_embedding_from_pooling_or_encoder(
    architecture: str, pooling_type: int | None, kind: str
) -> None:
    metadata = dataclasses.replace(_metadata(name="E5"), architecture=architecture, pooling_type=pooling_type)
    assert metadata.kind == kind


def test_read_metadata_kind_from_file_with_template(make_gguf: GGUFFactory) -> None:
    assert read_metadata(make_gguf(name="Tiny", chat_template="{{ messages }}")).kind == "instruct"


def test_read_metadata_kind_from_file_without_template(make_gguf: GGUFFactory) -> None:
    assert read_metadata(make_gguf(name="Tiny")).kind == "base"


@pytest.mark.parametrize("name", ["Llama 3 8B Italian", "Chatterbox Base", "bert-italian-base"])
def test_model_metadata_kind_matches_whole_words_only(name: str) -> None:
    assert _metadata(name=name).kind == "base"


def test_read_metadata_num_layers_from_block_count(make_gguf: GGUFFactory) -> None:
    assert read_metadata(make_gguf(arch="qwen2", block_count=24)).num_layers == 24


def test_read_metadata_num_layers_absent_is_none(make_gguf: GGUFFactory) -> None:
    assert read_metadata(make_gguf()).num_layers is None
