"""The error type and its envelopes: the default (OpenAI's) shape, types by status, and the response."""

from __future__ import annotations

import json

import pytest

from server.service.errors import APIError, ErrorEnvelopes, invalid_request

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
    response = ErrorEnvelopes().response(APIError(429, "slow down", headers={"Retry-After": "1"}), "/v1/x")
    assert response.status_code == 429
    assert response.headers["retry-after"] == "1"
    assert json.loads(response.body)["error"]["message"] == "slow down"


def test_invalid_request_is_400_with_param() -> None:
    error = invalid_request("nope", param="n", code="unsupported_value")
    assert (error.status, error.param, error.code) == (400, "n", "unsupported_value")


# -- ErrorEnvelopes ------------------------------------------------------------------------------------


def _tagged(tag: str):  # type: ignore[no-untyped-def]
    return lambda exc: {"tag": tag, "message": exc.message}


def test_envelopes_unclaimed_path_gets_the_default_envelope() -> None:
    envelopes = ErrorEnvelopes()
    envelopes.register("/api", _tagged("api"))
    assert envelopes.body_for("/v1/chat/completions")(APIError(400, "x")) == APIError(400, "x").to_dict()


def test_envelopes_prefix_owns_itself_and_paths_below_only() -> None:
    envelopes = ErrorEnvelopes()
    envelopes.register("/api", _tagged("api"))
    error = APIError(404, "gone")
    assert envelopes.body_for("/api")(error)["tag"] == "api"
    assert envelopes.body_for("/api/chat")(error)["tag"] == "api"
    assert "tag" not in envelopes.body_for("/apis")(error)


def test_envelopes_longest_prefix_wins() -> None:
    envelopes = ErrorEnvelopes()
    envelopes.register("/v1", _tagged("outer"))
    envelopes.register("/v1/messages", _tagged("inner"))
    assert envelopes.body_for("/v1/messages/count_tokens")(APIError(400, "x"))["tag"] == "inner"
    assert envelopes.body_for("/v1/models")(APIError(400, "x"))["tag"] == "outer"


def test_envelopes_refuse_a_prefix_registered_twice() -> None:
    envelopes = ErrorEnvelopes()
    envelopes.register("/api", _tagged("a"))
    with pytest.raises(ValueError, match="twice"):
        envelopes.register("/api", _tagged("b"))


def test_envelopes_response_uses_the_owner_status_and_headers() -> None:
    envelopes = ErrorEnvelopes()
    envelopes.register("/api", _tagged("api"))
    response = envelopes.response(APIError(503, "busy", headers={"Retry-After": "5"}), "/api/tags")
    assert response.status_code == 503 and response.headers["retry-after"] == "5"
    assert json.loads(response.body) == {"tag": "api", "message": "busy"}
