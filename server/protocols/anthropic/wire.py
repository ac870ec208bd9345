"""Wire shapes of Anthropic's Messages API (POST /v1/messages and /v1/messages/count_tokens)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from server.pipeline.wire import (
    MAX_STOPS,
    MAX_TOOLS,
    Grammar,
    JSONSchema,
    RequestModel,
    TopK,
    TopLevelRequest,
)


class MessageParam(RequestModel):
    role: Literal["user", "assistant"]
    # A string, or content blocks (text, tool_use, tool_result, thinking), checked in input.py
    # so each error can name its block.
    content: str | list[dict[str, Any]]


class ToolChoiceParam(RequestModel):
    type: Literal["auto", "any", "tool", "none"]
    name: str | None = None
    disable_parallel_tool_use: bool = False


class ThinkingParam(RequestModel):
    # "enabled", "adaptive", "between_tools" or "disabled"; new kinds are taken as "think if you can".
    type: str
    budget_tokens: int | None = None


class OutputFormatParam(RequestModel):
    model_config = ConfigDict(populate_by_name=True)  # merged with RequestModel's

    type: Literal["json_schema"]
    schema_: JSONSchema


class OutputConfigParam(RequestModel):
    effort: str | None = None
    format: OutputFormatParam | None = None


class _MessagesInput(TopLevelRequest):
    model: str | None = None
    messages: list[MessageParam] = Field(min_length=1)
    system: str | list[dict[str, Any]] | None = None
    # Client tools ({name, description, input_schema}) are honoured; Anthropic's server tools
    # (web_search_…, bash_…, text_editor_…) are dropped with a warning in the log.
    tools: list[dict[str, Any]] | None = Field(None, max_length=MAX_TOOLS)
    tool_choice: ToolChoiceParam | None = None
    thinking: ThinkingParam | None = None
    output_config: OutputConfigParam | None = None


class CountTokensRequest(_MessagesInput):
    pass


class MessagesRequest(_MessagesInput):
    max_tokens: int = Field(ge=1)
    stop_sequences: list[str] | None = Field(None, max_length=MAX_STOPS)
    temperature: float | None = Field(None, ge=0.0, le=1.0)
    top_p: float | None = Field(None, ge=0.0, le=1.0)
    top_k: TopK | None = None
    stream: bool = False
    metadata: dict[str, Any] | None = None
    # localchat extension, as on chat completions: a GBNF grammar the output must match.
    grammar: Grammar | None = None


class TextBlock(BaseModel):
    type: Literal["text"] = "text"
    text: str


class ThinkingBlock(BaseModel):
    type: Literal["thinking"] = "thinking"
    thinking: str
    # Anthropic signs thinking so it can be sent back unchanged; a local model has nothing to sign.
    signature: str = ""


class ToolUseBlock(BaseModel):
    type: Literal["tool_use"] = "tool_use"
    id: str
    name: str
    input: dict[str, Any]


ContentBlock = TextBlock | ThinkingBlock | ToolUseBlock
StopReason = Literal["end_turn", "max_tokens", "stop_sequence", "tool_use"]


class MessageUsage(BaseModel):
    input_tokens: int
    output_tokens: int
    cache_creation_input_tokens: int = 0
    cache_read_input_tokens: int = 0


class MessageObject(BaseModel):
    id: str
    type: Literal["message"] = "message"
    role: Literal["assistant"] = "assistant"
    model: str
    content: list[ContentBlock]
    stop_reason: StopReason | None
    stop_sequence: str | None
    usage: MessageUsage


class StreamEvent(BaseModel):
    """One event of a streamed message; its fields beyond `type` depend on the type."""

    model_config = ConfigDict(extra="allow")

    type: str


class TokenCount(BaseModel):
    input_tokens: int
