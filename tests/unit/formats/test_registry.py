"""Family detection on the real templates llama.cpp ships."""

from __future__ import annotations

import pytest

from server.formats.registry import FORMATS, UnknownFormat, detect_format, format_named
from tests.support.vendored_templates import vendored_template

EXPECTED = {
    "Qwen-Qwen2.5-7B-Instruct": "hermes",
    "Qwen-Qwen3-0.6B": "hermes",
    "Qwen-QwQ-32B": "hermes",
    "NousResearch-Hermes-3-Llama-3.1-8B-tool_use": "hermes",
    "ibm-granite-granite-4.0": "hermes",
    "meta-llama-Llama-3.1-8B-Instruct": "llama3",
    "meta-llama-Llama-3.3-70B-Instruct": "llama3",
    "mistralai-Mistral-Nemo-Instruct-2407": "mistral_nemo",
    "Mistral-Small-3.2-24B-Instruct-2506": "mistral",
    "mistralai-Ministral-3-14B-Reasoning-2512": "mistral",
    "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B": "deepseek_r1",
    "deepseek-ai-DeepSeek-V3.1": "deepseek_v3",
    "deepseek-ai-DeepSeek-V3.2": "deepseek_v3_2",
    "meetkai-functionary-medium-v3.1": "functionary_v3_1",
    "meetkai-functionary-medium-v3.2": "functionary_v3_2",
    "CohereForAI-c4ai-command-r7b-12-2024-tool_use": "command_r",
    "ibm-granite-granite-3.3-2B-Instruct": "granite",
    "openai-gpt-oss-120b": "gpt_oss",
    "Qwen3-Coder": "qwen3_coder",
    "GLM-4.6": "glm",
    "inclusionai-ling-3.0-flash": "glm",
    "poolside-Laguna-XS-2.1": "glm",
    "GLM-4.7-Flash": "glm_4_7",
    "Spark2.5": "glm_4_7",
    "poolside-Laguna-S-2.1": "glm_4_7",
    "Kimi-K2-Instruct": "kimi_k2",
    "Kimi-K2-Thinking": "kimi_k2",
    "moonshotai-Kimi-K2": "kimi_k2",
    "MiniMax-M2": "minimax_m2",
    "google-gemma-2-2b-it": "generic",
}


@pytest.mark.parametrize(("template", "family"), EXPECTED.items())
def test_family_is_read_from_the_template(template: str, family: str) -> None:
    assert detect_format(vendored_template(template)).name == family


def test_thinking_markers_only_for_models_whose_template_has_them() -> None:
    assert detect_format(vendored_template("Qwen-Qwen3-0.6B")).reasoning_markers == ("<think>", "</think>")
    assert detect_format(vendored_template("Qwen-Qwen2.5-7B-Instruct")).reasoning_markers is None


def test_a_template_without_tools_gets_the_tool_prompt() -> None:
    assert detect_format(vendored_template("google-gemma-2-2b-it")).needs_tool_prompt
    assert not detect_format(vendored_template("Qwen-Qwen2.5-7B-Instruct")).needs_tool_prompt


def test_base_models_use_the_generic_format_with_a_tool_prompt() -> None:
    fmt = detect_format(None)
    assert fmt.name == "generic" and fmt.needs_tool_prompt


def test_every_family_can_be_named_and_unknown_names_are_refused() -> None:
    assert all(format_named(name).name == name for name in FORMATS)
    with pytest.raises(UnknownFormat):
        format_named("no-such-family")
