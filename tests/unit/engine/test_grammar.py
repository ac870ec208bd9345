"""JSON grammars for response_format (pure text; llama.cpp parses them at request time)."""

from __future__ import annotations

import re

import pytest

from server.engine.sampling import SamplingParams
from server.engine.sampling.grammar import (
    GrammarError,
    check_grammar,
    json_object_grammar,
    json_schema_grammar,
)
from server.formats.chat_format import ToolSpec
from server.formats.gbnf import GrammarBuilder
from tests.unit.formats.stream_check import NO_VOCAB


def test_json_object_grammar_has_a_root_rule() -> None:
    assert re.search(r"^root\s+::=", json_object_grammar(), re.MULTILINE)


def test_json_schema_grammar_spells_out_enum_values() -> None:
    grammar = json_schema_grammar({"type": "object", "properties": {"answer": {"enum": ["yes", "no"]}}})
    assert re.search(r"^root\s+::=", grammar, re.MULTILINE)
    assert "yes" in grammar and "no" in grammar and "answer" in grammar


def test_json_schema_grammar_rejects_an_unresolvable_reference() -> None:
    with pytest.raises(GrammarError):
        json_schema_grammar({"$ref": "#/definitions/missing"})


def test_sampling_params_have_no_grammar_by_default() -> None:
    assert SamplingParams().grammar is None


@pytest.mark.parametrize(
    "schema",
    [
        {"type": "object", "properties": {"city": {"type": "string", "maxLength": 12}}},
        {"type": "object", "properties": {"note": {"type": "string"}}},
        {"type": "array", "items": {"type": "object"}},
    ],
)
def test_json_schema_strings_exclude_control_characters(schema: dict[str, object]) -> None:
    # A raw newline or tab inside a JSON string makes the output unparseable (it happened in CI).
    grammar = json_schema_grammar(schema)
    char_rules = [line for line in grammar.splitlines() if line.startswith("char ::=")]
    assert char_rules and all(rule.startswith('char ::= [^"\\\\\\x7F\\x00-\\x1F] |') for rule in char_rules)
    check_grammar(NO_VOCAB, grammar)


def test_tool_call_grammars_exclude_control_characters_too() -> None:
    builder = GrammarBuilder()
    rule = builder.arguments(
        ToolSpec(name="note", parameters={"type": "object", "properties": {"text": {"type": "string"}}})
    )
    grammar = builder.build(rule)
    assert 'char ::= [^"\\\\\\x7F\\x00-\\x1F] |' in grammar
    check_grammar(NO_VOCAB, grammar)
