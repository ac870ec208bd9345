"""The tokenizer in pieces gives exactly the tokens of the whole text, on the real vocabulary: random
texts built from the shapes that make llama.cpp's tokenizer slow (whitespace runs, many lines, one
huge line, tabs, emoji, combining marks, control-token text) and a few large worst shapes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.engine.llama import LlamaRuntime, RuntimeConfig
from server.engine.text_chunks import PIECE_CHARS

PARTS = (
    " ",
    "  ",
    "   ",
    "\n",
    "\n\n",
    "\t",
    "\r\n",
    "a",
    "word",
    "x = 1",
    "é",
    "\u0301",
    "🎉",
    "\u00a0",
    "<b>",
)
SPECIAL_PARTS = (*PARTS, "<start_of_turn>", "<end_of_turn>")
WORST_SHAPES = {
    "whitespace lines": " \n" * 20_000,
    "indented code": "    if x:\n        return y\n" * 1_500,
    "spaced words": "word  " * 8_000,
    "tabs": "\t\n" * 20_000,
    "newline runs": "\n\n\n x" * 8_000,
    "mixed runs": ("  \n \t\n\n   a" * 4_000),
}


@pytest.fixture(scope="module")
def runtime(base_model_path: Path) -> Iterator[LlamaRuntime]:
    config = RuntimeConfig(
        path=base_model_path, n_ctx=256, n_batch=64, n_seq_max=1, n_threads=1, n_gpu_layers=0
    )
    loaded = LlamaRuntime(config)
    yield loaded
    loaded.close()


def _texts(parts: tuple[str, ...]) -> st.SearchStrategy[str]:
    return st.lists(st.sampled_from(parts), min_size=PIECE_CHARS // 2, max_size=3_000).map("".join)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=_texts(PARTS))
def test_pieces_tokenize_as_the_whole_text(runtime: LlamaRuntime, text: str) -> None:
    whole = runtime._tokenize(text, add_bos=True, parse_special=False)
    assert runtime.tokenize(text, add_bos=True, parse_special=False) == whole


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=_texts(SPECIAL_PARTS))
def test_pieces_tokenize_as_the_whole_text_with_special_tokens(runtime: LlamaRuntime, text: str) -> None:
    whole = runtime._tokenize(text, add_bos=False, parse_special=True)
    assert runtime.tokenize(text, add_bos=False, parse_special=True) == whole


@pytest.mark.parametrize("shape", sorted(WORST_SHAPES))
def test_worst_shapes_tokenize_as_the_whole_text(runtime: LlamaRuntime, shape: str) -> None:
    text = WORST_SHAPES[shape]
    assert runtime.tokenize(text, add_bos=True, parse_special=True) == runtime._tokenize(
        text, add_bos=True, parse_special=True
    )


def test_vocabulary_facts_bound_the_tokens_of_any_text(runtime: LlamaRuntime) -> None:
    facts = runtime.vocabulary_facts
    assert set(facts.run_cuts.lengths) >= {"\n", " "}  # Gemma splits newline and space runs out
    for text in (*WORST_SHAPES.values(), "<start_of_turn>" * 500, "🎉" * 3_000, "a" * 10_000):
        assert facts.min_tokens(text) <= len(runtime.tokenize(text, add_bos=False, parse_special=True))
