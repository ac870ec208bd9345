"""The internal chat request: what the one chat pipeline renders, samples and parses. It is OpenAI's
chat completion request, on purpose: the richest of the dialects, so every other maps onto it field by
field (and an error can still name the field as its own client spelled it)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from server.pipeline.wire import MAX_TOOLS, Grammar, JSONSchema, MinP, RequestModel, TopK, TopLevelRequest


class StreamOptions(RequestModel):
    include_usage: bool = False


class ContentPart(RequestModel):
    type: str
    text: str | None = None


class FunctionCallMessage(RequestModel):
    name: str = Field(min_length=1)
    # OpenAI sends a JSON string; a JSON object is taken too.
    arguments: str | dict[str, Any] = "{}"


class ToolCallMessage(RequestModel):
    id: str | None = None
    type: Literal["function"] = "function"
    function: FunctionCallMessage


class ChatMessage(RequestModel):
    role: Literal["system", "developer", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None
    name: str | None = None
    tool_calls: list[ToolCallMessage] | None = None
    tool_call_id: str | None = None
    # Earlier reasoning sent back by clients; templates that show past thinking read it.
    reasoning_content: str | None = None


class FunctionDefinition(RequestModel):
    name: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class ToolDefinition(RequestModel):
    type: Literal["function"]
    function: FunctionDefinition


class NamedFunction(RequestModel):
    name: str = Field(min_length=1)


class NamedToolChoice(RequestModel):
    type: Literal["function"]
    function: NamedFunction


ToolChoice = Literal["none", "auto", "required"] | NamedToolChoice


class JSONSchemaFormat(RequestModel):
    name: str | None = None
    schema_: JSONSchema
    strict: bool | None = None


class ResponseFormat(RequestModel):
    type: Literal["text", "json_object", "json_schema"] = "text"
    json_schema: JSONSchemaFormat | None = None


Stop = str | list[str] | None


class SamplingRequest(TopLevelRequest):
    model: str | None = None
    max_tokens: int | None = Field(None, ge=1)
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    top_p: float | None = Field(None, ge=0.0, le=1.0)
    n: int | None = Field(None, ge=1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    stop: Stop = None
    presence_penalty: float | None = Field(None, ge=-2.0, le=2.0)
    frequency_penalty: float | None = Field(None, ge=-2.0, le=2.0)
    logit_bias: dict[str, float] | None = None
    seed: int | None = None
    user: str | None = None
    # localchat extensions (llama.cpp samplers)
    top_k: TopK | None = None
    min_p: MinP | None = None
    grammar: Grammar | None = None
    # llama.cpp's repeat penalty and its window over the answer (0: no penalties; -1: the whole
    # answer), as llama-server names them.
    repeat_penalty: float | None = Field(None, gt=0.0, le=10.0)
    repeat_last_n: int | None = Field(None, ge=-1)


class ChatCompletionRequest(SamplingRequest):
    messages: list[ChatMessage] = Field(min_length=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    logprobs: bool = False
    top_logprobs: int | None = Field(None, ge=0, le=20)
    response_format: ResponseFormat | None = None
    tools: list[ToolDefinition] | None = Field(None, max_length=MAX_TOOLS)
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool = True
    # Extensions shared with llama-server and vLLM: "none" keeps reasoning inline in content.
    reasoning_format: Literal["auto", "none", "deepseek", "parsed"] = "auto"
    reasoning_effort: Literal["none", "minimal", "low", "medium", "high"] | None = None
    # Extra variables for the chat template, e.g. {"enable_thinking": false}.
    chat_template_kwargs: dict[str, Any] | None = None
