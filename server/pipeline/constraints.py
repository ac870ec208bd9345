"""The grammar a request constrains its output with: its own GBNF, its response_format's JSON schema,
or its tool calls'; JSON schemas are checked first, since the converter that turns them into grammars
was not written for hostile ones."""

from __future__ import annotations

import re
from typing import Any

from server.engine.sampling.grammar import (
    GrammarError,
    check_grammar,
    json_object_grammar,
    json_schema_grammar,
)
from server.formats.constrain import CallConstraint
from server.models.pool import LoadedModel
from server.pipeline.chat_request import ResponseFormat, SamplingRequest
from server.service.errors import invalid_request


def request_grammar(
    body: SamplingRequest,
    model: LoadedModel,
    response_format: ResponseFormat | None,
    calls: CallConstraint | None = None,
) -> tuple[str | None, tuple[str, ...]]:
    """The grammar a request constrains its output with (its own `grammar`, response_format's, or
    its tool calls'), and the triggers that make it lazy."""
    grammar, param = body.grammar, "grammar"
    has_format = response_format is not None and response_format.type != "text"
    if calls is not None and (grammar is not None or has_format):
        if not calls.triggers:
            raise invalid_request(
                "A forced tool_choice cannot be combined with grammar or response_format.",
                param="tool_choice",
            )
        calls = None  # "auto": the request's own format wins; calls are still parsed
    if calls is not None:
        try:
            check_grammar(model.runtime, calls.grammar, calls.triggers)
        except GrammarError as exc:
            raise invalid_request(
                f"Cannot build a grammar for these tools: {exc}", param="tools", code="invalid_grammar"
            ) from exc
        return calls.grammar, calls.triggers
    try:
        if response_format is not None and response_format.type != "text":
            if grammar is not None:
                raise invalid_request("Give either grammar or response_format, not both.", param="grammar")
            param = "response_format"
            if response_format.type == "json_object":
                grammar = json_object_grammar()
            elif response_format.json_schema is None:
                raise invalid_request("response_format json_schema needs a json_schema.", param=param)
            else:
                grammar = schema_grammar(response_format.json_schema.schema_, param)
        if grammar is not None:
            check_grammar(model.runtime, grammar)
    except GrammarError as exc:
        raise invalid_request(str(exc), param=param, code="invalid_grammar") from exc
    return grammar, ()


# JSON-schema counts that llama-cpp-python's converter spells out one repetition at a time: minLength
# 10**8 builds a string of half a gigabyte before any length check, and 2**63 overflows. No grammar
# longer than the engine's limit (64 KiB) can be used anyway, so larger counts can only do harm.
MAX_SCHEMA_REPEAT = 8192
_REPEAT_KEYS = frozenset({"minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties"})
# Regex quantifiers in a "pattern": a{100000000} is the same hazard spelled differently.
_QUANTIFIER_COUNTS = re.compile(r"\{\s*(\d+)\s*(?:,\s*(\d*)\s*)?\}")


def _is_too_large(count: str) -> bool:
    # Compare digits before int(): Python refuses to parse integers of more than 4300 digits.
    return len(count) > len(str(MAX_SCHEMA_REPEAT)) or int(count) > MAX_SCHEMA_REPEAT


def check_schema_size(schema: Any, param: str) -> None:
    """A 400 for a JSON schema whose grammar would be too large to build; walked without recursion."""
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
        if not isinstance(node, dict):
            continue
        for key, value in node.items():
            count_too_large = (
                key in _REPEAT_KEYS
                and isinstance(value, int | float)
                and not isinstance(value, bool)
                and not -MAX_SCHEMA_REPEAT <= value <= MAX_SCHEMA_REPEAT
            )
            pattern_too_large = (
                key == "pattern"
                and isinstance(value, str)
                and any(
                    _is_too_large(count)
                    for match in _QUANTIFIER_COUNTS.finditer(value)
                    for count in match.groups()
                    if count
                )
            )
            if count_too_large or pattern_too_large:
                raise invalid_request(
                    f"The JSON schema's '{key}' asks for more than {MAX_SCHEMA_REPEAT} repetitions.",
                    param=param,
                    code="invalid_grammar",
                )
            stack.append(value)


def schema_grammar(schema: dict[str, Any], param: str) -> str:
    check_schema_size(schema, param)
    try:
        return json_schema_grammar(schema)
    except GrammarError:
        raise
    except Exception as exc:
        # The converter is not ours and not written for hostile schemas: whatever else it raises
        # (OverflowError, IndexError, AttributeError on odd shapes...) is a bad schema, not a crash.
        raise GrammarError(f"cannot turn this JSON schema into a grammar: {type(exc).__name__}") from exc
