"""Constrained decoding: GBNF grammars for llama.cpp's grammar sampler, and the JSON ones that
OpenAI's response_format asks for (built with llama-cpp-python's own JSON-schema converter)."""

from __future__ import annotations

import ctypes
import json
from typing import Any

import llama_cpp
from llama_cpp.llama_grammar import JSON_GBNF, json_schema_to_gbnf

from server.engine.llama import LlamaRuntime
from server.formats.gbnf import strict_json_strings

GRAMMAR_ROOT = b"root"
MAX_GRAMMAR_CHARS = 65536


class GrammarError(ValueError):
    pass


def json_object_grammar() -> str:
    return JSON_GBNF


def json_schema_grammar(schema: dict[str, Any]) -> str:
    try:
        return strict_json_strings(json_schema_to_gbnf(json.dumps(schema)))
    except (ValueError, KeyError, TypeError, AssertionError, RecursionError) as exc:  # the converter asserts
        raise GrammarError(f"cannot turn this JSON schema into a grammar: {exc}") from exc


def new_grammar_sampler(
    runtime: LlamaRuntime, grammar: str, triggers: tuple[str, ...] = ()
) -> llama_cpp.llama_sampler_p:
    """A grammar sampler, or GrammarError when llama.cpp cannot parse the grammar.

    With trigger regexes the grammar is lazy: output is free until one matches, and from the match
    (its first group, if any) on it must follow the grammar, as tool calls in tool_choice "auto" do."""
    if len(grammar) > MAX_GRAMMAR_CHARS:
        raise GrammarError(f"grammar is longer than {MAX_GRAMMAR_CHARS} characters")
    if triggers:
        patterns = (ctypes.c_char_p * len(triggers))(*(pattern.encode("utf-8") for pattern in triggers))
        sampler = llama_cpp.llama_sampler_init_grammar_lazy_patterns(
            runtime.vocab, grammar.encode("utf-8"), GRAMMAR_ROOT, patterns, len(triggers), None, 0
        )
    else:
        sampler = llama_cpp.llama_sampler_init_grammar(runtime.vocab, grammar.encode("utf-8"), GRAMMAR_ROOT)
    if not sampler:
        raise GrammarError("llama.cpp could not parse the grammar (GBNF, with a 'root' rule)")
    return sampler


def check_grammar(runtime: LlamaRuntime, grammar: str, triggers: tuple[str, ...] = ()) -> None:
    """Parse now, so a bad grammar is a 400 before generation starts."""
    llama_cpp.llama_sampler_free(new_grammar_sampler(runtime, grammar, triggers))
