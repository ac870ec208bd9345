"""JSON grammars for response_format (pure text; llama.cpp parses them at request time)."""

from __future__ import annotations

import re

import pytest

from server.engine.grammar import GrammarError, json_object_grammar, json_schema_grammar
from server.engine.sampling import SamplingParams


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
