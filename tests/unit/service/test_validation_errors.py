"""Request models are strict, and a failed validation is told as one 400 naming the field as sent."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from server.pipeline.chat_request import ChatCompletionRequest
from server.protocols.anthropic.wire import MessagesRequest
from server.protocols.openai.embeddings import EmbeddingRequest
from server.protocols.openai.wire import CompletionRequest
from server.protocols.responses.wire import ResponseRequest
from server.service.validation_errors import Problem, describe_validation_errors, json_type_name

HELLO = [{"role": "user", "content": "hi"}]


def _problem(model: type, body: Any, renamed: dict[str, str] | None = None) -> Problem:
    with pytest.raises(ValidationError) as caught:
        model.model_validate(body)
    return describe_validation_errors(caught.value.errors(), body, renamed)


@pytest.mark.parametrize(
    ("change", "param", "expected", "got"),
    [
        ({"max_tokens": "5"}, "max_tokens", "an integer", "a string"),
        ({"max_tokens": 5.0}, "max_tokens", "an integer", "a decimal number"),
        ({"max_tokens": True}, "max_tokens", "an integer", "a boolean"),
        ({"stream": "true"}, "stream", "a boolean", "a string"),
        ({"stream": 1}, "stream", "a boolean", "an integer"),
        ({"temperature": "0.5"}, "temperature", "a number", "a string"),
        ({"stop": 5}, "stop", "one of a string or an array", "an integer"),
        ({"stop": ["a", 5]}, "stop.1", "a string", "an integer"),
        ({"messages": "hi"}, "messages", "an array", "a string"),
        (
            {"messages": [{"role": "user", "content": 5}]},
            "messages.0.content",
            "one of a string or an array",
            "an integer",
        ),
        (
            {
                "messages": [
                    {"role": "user", "content": [{"type": "text", "text": None}, {"type": "text", "text": 5}]}
                ]
            },
            "messages.0.content.1.text",
            "a string",
            "an integer",
        ),
        ({"logit_bias": {"5": "high"}}, "logit_bias.5", "a number", "a string"),
        ({"stream_options": []}, "stream_options", "an object", "an array"),
    ],
)
def test_a_wrong_type_names_the_place_and_both_types(
    change: dict[str, Any], param: str, expected: str, got: str
) -> None:
    problem = _problem(ChatCompletionRequest, {"messages": HELLO, **change})
    assert problem.param == param
    assert problem.code == "invalid_type"
    assert problem.message == f"Invalid type for '{param}': expected {expected}, but got {got} instead."


def test_numbers_stay_numbers_and_integers_count_as_numbers() -> None:
    body = ChatCompletionRequest.model_validate(
        {"messages": HELLO, "temperature": 1, "max_tokens": 5, "logit_bias": {"5": -100}, "stream": False}
    )
    assert body.temperature == 1.0 and isinstance(body.temperature, float)
    assert body.max_tokens == 5 and body.logit_bias == {"5": -100.0}


def test_the_deepest_failing_place_of_a_union_is_reported() -> None:
    problem = _problem(CompletionRequest, {"prompt": [[1, 2], [3, "x"]]})
    assert problem.param == "prompt.1.1"
    assert problem.message == "Invalid type for 'prompt.1.1': expected an integer, but got a string instead."


def test_a_missing_field_is_missing_required_parameter() -> None:
    problem = _problem(ChatCompletionRequest, {"messages": [{"content": "hi"}]})
    assert problem == Problem(
        "Missing required parameter: 'messages.0.role'.", "messages.0.role", "missing_required_parameter"
    )
    inside_a_union = _problem(ChatCompletionRequest, {"messages": HELLO, "tool_choice": {"type": "function"}})
    assert inside_a_union.param == "tool_choice.function"
    assert inside_a_union.code == "missing_required_parameter"


def test_a_broken_rule_keeps_its_own_words() -> None:
    problem = _problem(ChatCompletionRequest, {"messages": HELLO, "temperature": 7})
    assert problem.code == "invalid_value" and problem.param == "temperature"
    assert problem.message.startswith(
        "Invalid value for 'temperature': Input should be less than or equal to 2"
    )
    choice = _problem(ChatCompletionRequest, {"messages": HELLO, "tool_choice": "bogus"})
    assert choice.param == "tool_choice" and "'none', 'auto' or 'required'" in choice.message


def test_other_invalid_fields_are_counted() -> None:
    problem = _problem(ChatCompletionRequest, {"messages": HELLO, "max_tokens": "5", "n": "1", "top_p": "x"})
    assert problem.param == "max_tokens"
    assert problem.message.endswith("(and 2 more invalid fields).")


def test_a_body_that_is_no_object() -> None:
    problem = _problem(EmbeddingRequest, [1, 2])
    assert problem == Problem(
        "Invalid type for the request body: expected an object, but got an array instead.",
        None,
        "invalid_type",
    )


def test_a_translated_request_names_the_field_as_the_client_spelled_it() -> None:
    body = {"messages": HELLO, "max_completion_tokens": "7"}
    problem = _problem(ChatCompletionRequest, body, renamed={"max_completion_tokens": "max_output_tokens"})
    assert problem.param == "max_output_tokens"
    assert problem.message.startswith("Invalid type for 'max_output_tokens': expected an integer")


@pytest.mark.parametrize(
    ("model", "body", "param"),
    [
        (ResponseRequest, {"input": "hi", "max_output_tokens": "5"}, "max_output_tokens"),
        (
            ResponseRequest,
            {"input": "hi", "text": {"format": {"type": "json_object", "strict": "yes"}}},
            "text.format.strict",
        ),
        (MessagesRequest, {"max_tokens": 5, "messages": HELLO, "top_k": 2.5}, "top_k"),
        (
            MessagesRequest,
            {"max_tokens": 5, "messages": HELLO, "thinking": {"type": "enabled", "budget_tokens": "9"}},
            "thinking.budget_tokens",
        ),
        (EmbeddingRequest, {"input": "hi", "dimensions": "8"}, "dimensions"),
    ],
)
def test_every_protocol_is_strict(model: type, body: dict[str, Any], param: str) -> None:
    problem = _problem(model, body)
    assert (problem.param, problem.code) == (param, "invalid_type")


def test_query_errors_name_the_parameter() -> None:
    error = {
        "type": "int_parsing",
        "loc": ("query", "limit"),
        "msg": "Input should be a valid integer",
        "input": "x",
    }
    problem = describe_validation_errors([error], None)
    assert problem.param == "limit" and problem.code == "invalid_value"


@pytest.mark.parametrize(
    ("value", "name"),
    [
        (None, "null"),
        (True, "a boolean"),
        (3, "an integer"),
        (3.5, "a decimal number"),
        ("x", "a string"),
        ([], "an array"),
        ({}, "an object"),
    ],
)
def test_json_type_names(value: Any, name: str) -> None:
    assert json_type_name(value) == name
