"""ModelInfo.template_origin: where the template a model renders with comes from, as render reports it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from server.config import Settings
from server.models.catalog import Catalog, ModelInfo

GGUFFactory = Callable[..., Path]
TEMPLATE = "DEFAULT {{ messages[-1]['content'] }}"


def _info(models_dir: Path, entry_yaml: str = "") -> ModelInfo:
    text = f"models:\n  - name: alpha\n    file: a.gguf\n{entry_yaml}"
    (models_dir / "models.yaml").write_text(text, encoding="utf-8")
    return Catalog.from_settings(Settings(models_dir=models_dir)).info("alpha")


def test_template_origin_default_gguf_template(tmp_path: Path, make_gguf: GGUFFactory) -> None:
    make_gguf(tmp_path / "a.gguf", chat_template=TEMPLATE)
    assert _info(tmp_path).template_origin == "tokenizer.chat_template"


def test_template_origin_default_named_explicitly(tmp_path: Path, make_gguf: GGUFFactory) -> None:
    make_gguf(tmp_path / "a.gguf", chat_template=TEMPLATE)
    assert _info(tmp_path, "    chat_template_name: default\n").template_origin == "tokenizer.chat_template"


def test_template_origin_named_gguf_template(tmp_path: Path, make_gguf: GGUFFactory) -> None:
    make_gguf(
        tmp_path / "a.gguf",
        chat_template=TEMPLATE,
        named_templates={"tool_use": "TOOLS {{ messages[-1]['content'] }}"},
    )
    info = _info(tmp_path, "    chat_template_name: tool_use\n")
    assert info.template_origin == "tokenizer.chat_template.tool_use"


def test_template_origin_yaml_override_wins(tmp_path: Path, make_gguf: GGUFFactory) -> None:
    make_gguf(tmp_path / "a.gguf", chat_template=TEMPLATE)
    info = _info(tmp_path, "    chat_template: \"YAML {{ messages[-1]['content'] }}\"\n")
    assert info.template_origin == "models.yaml"


def test_template_origin_yaml_override_wins_over_a_named_template(
    tmp_path: Path, make_gguf: GGUFFactory
) -> None:
    make_gguf(tmp_path / "a.gguf", named_templates={"tool_use": "TOOLS {{ messages[-1]['content'] }}"})
    text = "    chat_template_name: tool_use\n    chat_template: \"YAML {{ messages[-1]['content'] }}\"\n"
    assert _info(tmp_path, text).template_origin == "models.yaml"


def test_template_origin_none_without_a_template(tmp_path: Path, make_gguf: GGUFFactory) -> None:
    make_gguf(tmp_path / "a.gguf")
    assert _info(tmp_path).template_origin is None


def test_template_origin_none_for_an_unknown_template_name(tmp_path: Path, make_gguf: GGUFFactory) -> None:
    make_gguf(tmp_path / "a.gguf", chat_template=TEMPLATE)
    assert _info(tmp_path, "    chat_template_name: rag\n").template_origin is None


def test_template_origin_none_for_a_broken_template(tmp_path: Path, make_gguf: GGUFFactory) -> None:
    make_gguf(tmp_path / "a.gguf", chat_template="{% for m in messages %}")
    assert _info(tmp_path).template_origin is None
