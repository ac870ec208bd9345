from __future__ import annotations

from server.formats.chat_format import ToolSpec
from server.formats.constrain import call_constraint
from server.formats.families.generic import GENERIC
from server.formats.families.hermes import HERMES

TOOLS = [ToolSpec("get_weather", {"type": "object", "properties": {"city": {"type": "string"}}})]


def test_auto_makes_a_lazy_grammar_triggered_by_the_opener() -> None:
    constraint = call_constraint(HERMES, TOOLS, is_parallel=True, is_forced=False, is_reasoning_open=False)
    assert constraint is not None
    assert constraint.triggers == ("<tool_call>$",)
    assert '"<tool_call>\\n"' in constraint.grammar and "get-weather-args" in constraint.grammar


def test_forced_grammar_applies_from_the_first_token() -> None:
    constraint = call_constraint(GENERIC, TOOLS, is_parallel=False, is_forced=True, is_reasoning_open=False)
    assert constraint is not None and constraint.triggers == ()
    assert constraint.grammar.count("root ::=") == 1


def test_forced_grammar_lets_a_thinking_model_think_first() -> None:
    constraint = call_constraint(HERMES, TOOLS, is_parallel=False, is_forced=True, is_reasoning_open=False)
    assert constraint is not None
    assert 'root ::= ( "<think>" thought-body "</think>"' in constraint.grammar


def test_forced_grammar_closes_a_thought_the_prompt_opened() -> None:
    constraint = call_constraint(HERMES, TOOLS, is_parallel=False, is_forced=True, is_reasoning_open=True)
    assert constraint is not None
    assert 'root ::= thought-body "</think>"' in constraint.grammar


def test_no_tools_no_constraint() -> None:
    assert call_constraint(HERMES, [], is_parallel=True, is_forced=True, is_reasoning_open=False) is None
