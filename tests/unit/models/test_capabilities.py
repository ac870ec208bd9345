"""The one capabilities list: what each kind of model claims, from its own files only."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from server.models.capabilities import capabilities
from server.models.catalog import ModelEntry, describe

GGUFFactory = Callable[..., Path]

CHATML = (
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
HERMES = (
    "{% if tools %}<tools>{{ tools | tojson }}</tools> reply in <tool_call></tool_call>{% endif %}" + CHATML
)
THINKING_HERMES = HERMES + "{% if enable_thinking is false %}<think>\n\n</think>{% endif %}"


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        (None, ["completion"]),  # a base model: tools only through a described prompt, so not claimed
        (CHATML, ["completion"]),  # a template that renders no tools
        (HERMES, ["completion", "tools"]),
        (THINKING_HERMES, ["completion", "tools", "thinking"]),
    ],
)
def test_capabilities_of_generative_models(
    make_gguf: GGUFFactory, template: str | None, expected: list[str]
) -> None:
    path = make_gguf("model.gguf", chat_template=template)
    assert capabilities(describe(ModelEntry(name="m", path=path))) == expected


def test_an_embedding_model_only_embeds(make_gguf: GGUFFactory) -> None:
    path = make_gguf("embed.gguf", arch="bert", chat_template=HERMES)
    assert capabilities(describe(ModelEntry(name="e", path=path))) == ["embedding"]


def test_a_missing_file_claims_only_completion(tmp_path: Path) -> None:
    info = describe(ModelEntry(name="gone", path=tmp_path / "gone.gguf"))
    assert capabilities(info) == ["completion"]


FIM_PIECES = ["<|fim_prefix|>", "<|fim_suffix|>", "<|fim_middle|>"]


@pytest.mark.parametrize("num_padding", [0, 200])  # a short vocabulary is read whole, a long one searched
def test_fim_pieces_in_the_vocabulary_mean_insert(make_gguf: GGUFFactory, num_padding: int) -> None:
    tokens = ["<pad>", "<s>", "</s>", *(f"tok{index}" for index in range(num_padding)), *FIM_PIECES]
    path = make_gguf("coder.gguf", tokens=tokens)
    assert capabilities(describe(ModelEntry(name="c", path=path))) == ["completion", "insert"]
    two_of_three = make_gguf("half.gguf", tokens=[*tokens[:-1], "<|fim_end|>"])
    assert capabilities(describe(ModelEntry(name="h", path=two_of_three))) == ["completion"]
