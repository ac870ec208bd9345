"""Pydantic's validation errors told as one OpenAI-style 400: which field, in the body's own terms, and
what was wrong with it ("expected an integer, but got a string instead")."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

# Pydantic error types that mean "not of this JSON type", and how OpenAI names the type expected.
_EXPECTED_TYPE = {
    "string_type": "a string",
    "int_type": "an integer",
    "float_type": "a number",
    "bool_type": "a boolean",
    "list_type": "an array",
    "dict_type": "an object",
    "model_type": "an object",
    "model_attributes_type": "an object",
}


class Problem(NamedTuple):
    """What a 400 says: its message, the field it names, and OpenAI's code for the kind of problem."""

    message: str
    param: str | None
    code: str


@dataclass(frozen=True)
class _Located:
    param: str | None
    error: Mapping[str, Any]

    @property
    def depth(self) -> int:
        return 0 if self.param is None else self.param.count(".") + 1

    @property
    def field(self) -> str | None:
        return None if self.param is None else self.param.split(".", 1)[0]


def json_type_name(value: Any) -> str:
    """The JSON type of a decoded value, as OpenAI's errors name it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a decimal number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return "a value"


# Where FastAPI found a value other than the body; such a location is a plain name, not a body path.
_OTHER_SOURCES = ("query", "path", "header", "cookie")


def _holds(value: Any, step: Any) -> bool:
    if isinstance(value, dict):
        return isinstance(step, str) and step in value
    return isinstance(value, list) and isinstance(step, int) and 0 <= step < len(value)


def _locate(error: Mapping[str, Any], body: Any) -> _Located:
    """Follow the error's location through the body. Steps that are no place in it are the names
    pydantic gives a union's members ("str", "list[int]", "NamedToolChoice") and are left out, so
    `stop: 5` is "stop" and not "stop.str"."""
    location = tuple(error.get("loc", ()))
    if location and location[0] in _OTHER_SOURCES:
        return _Located(".".join(str(step) for step in location[1:]) or None, error)
    if location and location[0] == "body":
        location = location[1:]
    parts: list[str] = []
    value = body
    for index, step in enumerate(location):
        if _holds(value, step):
            value = value[step]
        elif not (error.get("type") == "missing" and index == len(location) - 1):
            continue  # a union member's name; the last step of a "missing" is the absent key itself
        parts.append(str(step))
    return _Located(".".join(parts) or None, error)


def _one_of(names: Sequence[str]) -> str:
    if len(names) == 1:
        return names[0]
    return f"one of {', '.join(names[:-1])} or {names[-1]}"


def _quoted(param: str | None) -> str:
    return f"'{param}'" if param else "the request body"


def describe_validation_errors(
    errors: Sequence[Mapping[str, Any]], body: Any, renamed: Mapping[str, str] | None = None
) -> Problem:
    """One 400 for a failed validation of `body`. Of the first field with problems, the deepest place
    is reported: a union's members each fail at their own depth, and the deepest one is where the
    value itself went wrong (`prompt: [1, "a"]` is about "prompt.1", not "prompt"). `renamed` maps a
    top-level field back to the name the client used, for requests translated from another API."""
    if not errors:
        return Problem("Invalid request.", None, "invalid_value")
    located = [_locate(error, body) for error in errors]
    first_field = located[0].field
    in_field = [item for item in located if item.field == first_field]
    deepest = max(in_field, key=lambda item: item.depth)
    at_place = [item for item in in_field if item.param == deepest.param]

    param = deepest.param
    if param is not None and renamed:
        head, dot, rest = param.partition(".")
        param = renamed.get(head, head) + dot + rest
    other_fields = len({item.field for item in located} - {first_field})
    plural = "s" if other_fields > 1 else ""
    more = f" (and {other_fields} more invalid field{plural})" if other_fields else ""

    kinds = [str(item.error.get("type")) for item in at_place]
    if kinds[0] == "missing":
        return Problem(
            f"Missing required parameter: {_quoted(param)}{more}.", param, "missing_required_parameter"
        )
    if all(kind in _EXPECTED_TYPE for kind in kinds):
        expected = list(dict.fromkeys(_EXPECTED_TYPE[kind] for kind in kinds))
        return Problem(
            f"Invalid type for {_quoted(param)}: expected {_one_of(expected)}, "
            f"but got {json_type_name(deepest.error.get('input'))} instead{more}.",
            param,
            "invalid_type",
        )
    # A value of the right type that breaks a rule (a range, a pattern, a choice): the rule's words.
    rule = next(item for item in at_place if str(item.error.get("type")) not in _EXPECTED_TYPE)
    message = str(rule.error.get("msg", "invalid value"))
    return Problem(f"Invalid value for {_quoted(param)}: {message}{more}.", param, "invalid_value")
