"""Pure API helpers: the error envelope, stop parsing, model selection."""

from __future__ import annotations

import json

import pytest

from server.api.errors import APIError, invalid_request
from server.api.generation import model_name, model_not_found, parse_stops
from server.api.protocol import MAX_STOP_CHARS, MAX_STOPS
from server.config import Settings
from server.models.catalog import ModelNotFound

# -- APIError ------------------------------------------------------------------------------------------


def test_api_error_to_dict_has_openai_envelope_shape() -> None:
    error = APIError(400, "Bad stop.", param="stop", code="invalid_value")
    assert error.to_dict() == {
        "error": {
            "message": "Bad stop.",
            "type": "invalid_request_error",
            "param": "stop",
            "code": "invalid_value",
        }
    }


def test_api_error_to_dict_keeps_null_param_and_code() -> None:
    assert APIError(400, "x").to_dict()["error"] == {
        "message": "x",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }


@pytest.mark.parametrize(
    ("status", "error_type"),
    [
        (401, "authentication_error"),
        (404, "invalid_request_error"),
        (429, "rate_limit_exceeded"),
        (500, "server_error"),
        (502, "server_error"),
        (503, "server_unavailable"),
        (499, "invalid_request_error"),
    ],
)
def test_api_error_type_follows_status(status: int, error_type: str) -> None:
    assert APIError(status, "m").type == error_type


def test_api_error_to_response_carries_status_headers_and_body() -> None:
    response = APIError(429, "slow down", headers={"Retry-After": "1"}).to_response()
    assert response.status_code == 429
    assert response.headers["retry-after"] == "1"
    assert json.loads(response.body)["error"]["message"] == "slow down"


def test_invalid_request_is_400_with_param() -> None:
    error = invalid_request("nope", param="n", code="unsupported_value")
    assert (error.status, error.param, error.code) == (400, "n", "unsupported_value")


def test_model_not_found_lists_available_models() -> None:
    error = model_not_found(ModelNotFound("gpt-4", ["alpha", "beta"]))
    assert error.status == 404
    assert error.to_dict()["error"] == {
        "message": "The model 'gpt-4' does not exist. Available models: alpha, beta.",
        "type": "invalid_request_error",
        "param": "model",
        "code": "model_not_found",
    }


def test_model_not_found_with_empty_catalog_says_none() -> None:
    assert "Available models: none." in model_not_found(ModelNotFound("x", [])).message


# -- parse_stops -------------------------------------------------------------------------------------------


def test_parse_stops_none_is_empty() -> None:
    assert parse_stops(None) == ()


def test_parse_stops_single_string_becomes_tuple() -> None:
    assert parse_stops("\n\n") == ("\n\n",)


def test_parse_stops_list_keeps_order() -> None:
    assert parse_stops(["b", "a", "c"]) == ("b", "a", "c")


def test_parse_stops_max_count_is_accepted() -> None:
    assert len(parse_stops([str(i) for i in range(MAX_STOPS)])) == MAX_STOPS


def test_parse_stops_more_than_max_raises_400_on_stop() -> None:
    with pytest.raises(APIError) as caught:
        parse_stops(["a", "b", "c", "d", "e"])
    assert (caught.value.status, caught.value.param) == (400, "stop")
    assert "at most 4" in caught.value.message


def test_parse_stops_empty_string_raises_400_on_stop() -> None:
    with pytest.raises(APIError) as caught:
        parse_stops([""])
    assert (caught.value.status, caught.value.param) == (400, "stop")


def test_parse_stops_too_long_sequence_raises_400() -> None:
    with pytest.raises(APIError) as caught:
        parse_stops("x" * (MAX_STOP_CHARS + 1))
    assert caught.value.param == "stop"


# -- model_name ----------------------------------------------------------------------------------------------


@pytest.fixture
def settings() -> Settings:
    return Settings(default_model="the-default")


def test_model_name_query_wins_over_body(settings: Settings) -> None:
    assert model_name("from-query", "from-body", settings) == "from-query"


def test_model_name_body_wins_over_default(settings: Settings) -> None:
    assert model_name(None, "from-body", settings) == "from-body"


def test_model_name_falls_back_to_default(settings: Settings) -> None:
    assert model_name(None, None, settings) == "the-default"


def test_model_name_empty_query_falls_through_to_body(settings: Settings) -> None:
    assert model_name("", "from-body", settings) == "from-body"
