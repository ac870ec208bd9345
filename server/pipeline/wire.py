"""What every dialect's request models share: strict parsing, no lone surrogates, the limits on stops
and tools, field types several dialects declare (llama.cpp's sampler extensions, a JSON schema), and
the check of a value a dialect translates by hand."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from server.service.errors import invalid_request

MAX_STOPS = 4
MAX_STOP_CHARS = 512
MAX_TOOLS = 128

# localchat extensions that several dialects take (llama.cpp's samplers):
TopK = Annotated[int, Field(ge=0)]
MinP = Annotated[float, Field(ge=0.0, le=1.0)]
# A GBNF grammar the output must match; llama.cpp reads it as a C string, so a NUL would silently cut
# it short.
Grammar = Annotated[str, Field(min_length=1, pattern=r"^[^\x00]*$")]
# A JSON schema sent as "schema", which would shadow a BaseModel attribute as a field name: declare it
# as `schema_: JSONSchema` (or `OptionalJSONSchema = None`).
JSONSchema = Annotated[dict[str, Any], Field(alias="schema")]
OptionalJSONSchema = Annotated[dict[str, Any] | None, Field(alias="schema")]


class RequestModel(BaseModel):
    """A request body or a part of one. Clients send fields we do not use (parallel_tool_calls,
    metadata, store...): ignored, not failed. Types are strict, as OpenAI's are: "5" is no integer and
    1 no boolean, so a client's mistake is a 400 that names it rather than a guess (an integer is
    still a number)."""

    model_config = ConfigDict(extra="ignore", strict=True)


def _has_lone_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def lone_surrogate_path(data: Any) -> str | None:
    """Where in a JSON value a string (or key) holds a lone surrogate ("\\ud800"), as "a.0.b"; None if
    nowhere. JSON can spell one, but no UTF-8 text can carry it to the tokenizer, a stop matcher or a
    log line. Walked without recursion: the body may be nested as deep as the JSON parser allows."""
    stack: list[tuple[str, Any]] = [("", data)]
    while stack:
        path, value = stack.pop()
        if isinstance(value, str):
            if _has_lone_surrogate(value):
                return path
        elif isinstance(value, dict):
            for key, item in value.items():
                where = f"{path}.{key}" if path else str(key)
                if isinstance(key, str) and _has_lone_surrogate(key):
                    return path or "(key)"
                stack.append((where, item))
        elif isinstance(value, list):
            prefix = f"{path}." if path else ""
            stack.extend((f"{prefix}{index}", item) for index, item in enumerate(value))
    return None


class TopLevelRequest(RequestModel):
    """A whole request body: refuses lone surrogates anywhere in it, field or not, with a 400."""

    @model_validator(mode="before")
    @classmethod
    def _no_lone_surrogates(cls, data: Any) -> Any:
        path = lone_surrogate_path(data)
        if path is not None:
            raise PydanticCustomError(
                "invalid_unicode",
                "text with a lone surrogate (such as \\ud800), which is not valid Unicode",
                {"param": path},
            )
        return data


def require_string(value: Any, where: str, *, code: str | None = None) -> str:
    """A value of a request part that a dialect checks by hand (content blocks, input items): a 400
    naming its place unless it is a string."""
    if not isinstance(value, str):
        raise invalid_request(f"'{where}' must be a string.", param=where, code=code)
    return value
