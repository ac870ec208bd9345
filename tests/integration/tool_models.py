"""Copies of the bundled model with real chat templates (from llama.cpp's vendored set) written into
their GGUF metadata, so each tool-call family runs end to end on real weights."""

from __future__ import annotations

from pathlib import Path

from tests.support.gguf_copies import copy_with_template

# catalog name -> vendored template file stem
TOOL_MODELS = {
    "qwen-tools": "Qwen-Qwen2.5-7B-Instruct",
    "llama3-tools": "meta-llama-Llama-3.1-8B-Instruct",
    "qwen3-tools": "Qwen-Qwen3-0.6B",
    "glm-tools": "GLM-4.6",
    "kimi-tools": "Kimi-K2-Instruct",
}


def gguf_with_template(base: Path, template_stem: str, target: Path) -> Path:
    from tests.support.vendored_templates import vendored_template  # downloads the sdist once

    template_file = target.with_suffix(".jinja")
    template_file.write_text(vendored_template(template_stem), encoding="utf-8")
    return copy_with_template(base, template_file, target)
