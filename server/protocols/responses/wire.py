"""Wire shapes of OpenAI's Responses API (POST /v1/responses and its stored objects)."""

from __future__ import annotations

import time
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_serializer

from server.ids import random_id
from server.pipeline.wire import Grammar, MinP, OptionalJSONSchema, RequestModel, TopK, TopLevelRequest

MAX_METADATA_KEYS = 16


def item_id(prefix: str) -> str:
    # OpenAI's ids are a prefix and 48 hex digits: resp_…, msg_…, fc_…, rs_….
    return random_id(prefix, num_hex=48)


class TextFormat(RequestModel):
    model_config = ConfigDict(populate_by_name=True)  # merged with RequestModel's

    type: Literal["text", "json_object", "json_schema"] = "text"
    name: str | None = None
    description: str | None = None
    schema_: OptionalJSONSchema = None
    strict: bool | None = None

    @model_serializer(mode="wrap")
    def _as_sent(self, handler: Any) -> dict[str, Any]:
        # Echoed as clients spell it ("schema"), without the fields a format does not have.
        data = handler(self)
        if "schema_" in data:
            data["schema"] = data.pop("schema_")
        return {key: value for key, value in data.items() if value is not None}


class TextConfig(RequestModel):
    format: TextFormat = Field(default_factory=TextFormat)
    verbosity: str | None = None


class ReasoningConfig(RequestModel):
    effort: Literal["none", "minimal", "low", "medium", "high"] | None = None
    summary: str | None = None


class ResponseRequest(TopLevelRequest):
    model: str | None = None
    # A string is one user message; a list holds input items (messages, function calls and outputs,
    # reasoning), checked one by one in input.py so each error can name its item.
    input: str | list[dict[str, Any]] = Field(min_length=1)
    instructions: str | None = None
    previous_response_id: str | None = None
    # Function tools are honoured; hosted ones (web_search, file_search, custom...) are dropped with a
    # warning in the log, since clients such as Codex send them whatever the server.
    tools: list[dict[str, Any]] | None = None
    tool_choice: str | dict[str, Any] | None = None
    parallel_tool_calls: bool = True
    max_output_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    top_p: float | None = Field(None, ge=0.0, le=1.0)
    text: TextConfig | None = None
    reasoning: ReasoningConfig | None = None
    metadata: dict[str, str] | None = Field(None, max_length=MAX_METADATA_KEYS)
    store: bool = True
    stream: bool = False
    background: bool = False
    user: str | None = None
    # localchat extensions, as on chat completions
    seed: int | None = None
    top_k: TopK | None = None
    min_p: MinP | None = None
    grammar: Grammar | None = None


class OutputText(BaseModel):
    type: Literal["output_text"] = "output_text"
    text: str
    annotations: list[Any] = Field(default_factory=list)
    logprobs: list[Any] = Field(default_factory=list)


class ReasoningText(BaseModel):
    type: Literal["reasoning_text"] = "reasoning_text"
    text: str


ItemStatus = Literal["in_progress", "completed", "incomplete"]


class MessageItem(BaseModel):
    type: Literal["message"] = "message"
    id: str
    status: ItemStatus
    role: Literal["assistant"] = "assistant"
    content: list[OutputText]


class FunctionCallItem(BaseModel):
    type: Literal["function_call"] = "function_call"
    id: str
    call_id: str
    name: str
    arguments: str
    status: ItemStatus


class ReasoningItem(BaseModel):
    type: Literal["reasoning"] = "reasoning"
    id: str
    summary: list[Any] = Field(default_factory=list)
    # The thinking itself, as open-weight servers return it (OpenAI's own models keep it hidden).
    content: list[ReasoningText]
    status: ItemStatus


OutputItem = MessageItem | FunctionCallItem | ReasoningItem


class InputTokensDetails(BaseModel):
    cached_tokens: int = 0


class OutputTokensDetails(BaseModel):
    reasoning_tokens: int = 0


class ResponseUsage(BaseModel):
    input_tokens: int
    input_tokens_details: InputTokensDetails
    output_tokens: int
    output_tokens_details: OutputTokensDetails = Field(default_factory=OutputTokensDetails)
    total_tokens: int


class IncompleteDetails(BaseModel):
    reason: Literal["max_output_tokens"]


class ResponseErrorInfo(BaseModel):
    code: str
    message: str


ResponseStatus = Literal["in_progress", "completed", "incomplete", "failed"]


class ResponseObject(BaseModel):
    id: str
    object: Literal["response"] = "response"
    created_at: int = Field(default_factory=lambda: int(time.time()))
    status: ResponseStatus
    error: ResponseErrorInfo | None = None
    incomplete_details: IncompleteDetails | None = None
    instructions: str | None = None
    max_output_tokens: int | None = None
    model: str
    output: list[OutputItem] = Field(default_factory=list)
    parallel_tool_calls: bool
    previous_response_id: str | None = None
    reasoning: ReasoningConfig = Field(default_factory=ReasoningConfig)
    store: bool
    temperature: float
    text: TextConfig
    tool_choice: str | dict[str, Any]
    tools: list[dict[str, Any]]
    top_p: float
    truncation: Literal["disabled"] = "disabled"
    usage: ResponseUsage | None = None
    user: str | None = None
    metadata: dict[str, str] = Field(default_factory=dict)


class StreamEvent(BaseModel):
    """One event of a streamed response; its fields beyond these depend on its type."""

    model_config = ConfigDict(extra="allow")

    type: str
    sequence_number: int


class DeletedResponse(BaseModel):
    id: str
    object: Literal["response"] = "response"
    deleted: bool = True


class InputItemList(BaseModel):
    object: Literal["list"] = "list"
    data: list[dict[str, Any]]
    first_id: str | None
    last_id: str | None
    has_more: bool
