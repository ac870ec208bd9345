"""Wire shapes of the OpenAI API, in the order of its reference; localchat extensions are marked."""

from __future__ import annotations

import time
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_serializer, model_validator
from pydantic_core import PydanticCustomError

from server import __version__

SYSTEM_FINGERPRINT = f"fp_localchat_{__version__}"
MAX_STOPS = 4
MAX_STOP_CHARS = 512


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


class _TopLevelRequest(RequestModel):
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


MAX_TOOLS = 128


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
    # "schema" shadows a BaseModel attribute, hence the alias.
    schema_: dict[str, Any] = Field(alias="schema")
    strict: bool | None = None


class ResponseFormat(RequestModel):
    type: Literal["text", "json_object", "json_schema"] = "text"
    json_schema: JSONSchemaFormat | None = None


Stop = str | list[str] | None


class _SamplingRequest(_TopLevelRequest):
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
    top_k: int | None = Field(None, ge=0)
    min_p: float | None = Field(None, ge=0.0, le=1.0)
    # GBNF grammar (llama.cpp) that the output must match; llama.cpp reads it as a C string, so a NUL
    # would silently cut it short.
    grammar: str | None = Field(None, min_length=1, pattern=r"^[^\x00]*$")


class ChatCompletionRequest(_SamplingRequest):
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


class CompletionRequest(_SamplingRequest):
    prompt: str | list[str] | list[int] | list[list[int]]
    echo: bool = False
    logprobs: int | None = Field(None, ge=0, le=5)
    suffix: str | None = None
    best_of: int | None = Field(None, ge=1)


# -- responses -----------------------------------------------------------------------------------------


class PromptTokensDetails(BaseModel):
    cached_tokens: int = 0


class UsageInfo(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    prompt_tokens_details: PromptTokensDetails = Field(default_factory=PromptTokensDetails)


class TopLogprob(BaseModel):
    token: str
    logprob: float
    bytes: list[int]


class ChatTokenLogprob(TopLogprob):
    top_logprobs: list[TopLogprob]


class ChatLogprobs(BaseModel):
    content: list[ChatTokenLogprob]
    refusal: None = None


class FunctionCall(BaseModel):
    name: str
    arguments: str


class ToolCall(BaseModel):
    id: str
    type: Literal["function"] = "function"
    function: FunctionCall


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    # null when the answer is only tool calls
    content: str | None
    refusal: None = None
    tool_calls: list[ToolCall] | None = None
    # The model's thinking; both names are in use by clients.
    reasoning_content: str | None = None
    reasoning: str | None = None

    @model_serializer(mode="wrap")
    def _omit_absent(self, handler: Any) -> dict[str, Any]:
        data = handler(self)
        for key in ("tool_calls", "reasoning_content", "reasoning"):
            if data.get(key) is None:
                data.pop(key, None)
        return data


class ChatChoice(BaseModel):
    index: int = 0
    message: AssistantMessage
    logprobs: ChatLogprobs | None = None
    finish_reason: str


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:24]}"


class _Envelope(BaseModel):
    created: int = Field(default_factory=lambda: int(time.time()))
    model: str
    system_fingerprint: str = SYSTEM_FINGERPRINT


class ChatCompletion(_Envelope):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    choices: list[ChatChoice]
    usage: UsageInfo


class FunctionCallDelta(BaseModel):
    name: str | None = None
    arguments: str = ""

    @model_serializer
    def _present_fields_only(self) -> dict[str, str]:
        return (
            {"name": self.name, "arguments": self.arguments}
            if self.name is not None
            else {"arguments": self.arguments}
        )


class ToolCallChunk(BaseModel):
    index: int
    # id and type only in a call's first delta
    id: str | None = None
    type: Literal["function"] | None = None
    function: FunctionCallDelta

    @model_serializer(mode="wrap")
    def _omit_absent(self, handler: Any) -> dict[str, Any]:
        return {key: value for key, value in handler(self).items() if value is not None}


class ChunkDelta(BaseModel):
    role: Literal["assistant"] | None = None
    content: str | None = None
    reasoning_content: str | None = None
    reasoning: str | None = None
    tool_calls: list[ToolCallChunk] | None = None

    @model_serializer(mode="wrap")
    def _present_fields_only(self, handler: Any) -> dict[str, Any]:
        # OpenAI sends {"content": "..."} or {} in later deltas, never "role": null.
        return {key: value for key, value in handler(self).items() if value is not None}


class ChatChunkChoice(BaseModel):
    index: int = 0
    delta: ChunkDelta
    logprobs: ChatLogprobs | None = None
    finish_reason: str | None = None


class ChatCompletionChunk(_Envelope):
    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    choices: list[ChatChunkChoice]
    usage: UsageInfo | None = None


class CompletionLogprobs(BaseModel):
    tokens: list[str]
    token_logprobs: list[float | None]
    top_logprobs: list[dict[str, float] | None]
    text_offset: list[int]


class CompletionChoice(BaseModel):
    index: int = 0
    text: str
    logprobs: CompletionLogprobs | None = None
    finish_reason: str | None = None


class Completion(_Envelope):
    id: str
    object: Literal["text_completion"] = "text_completion"
    choices: list[CompletionChoice]
    usage: UsageInfo | None = None


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "localchat"
    # localchat extensions
    kind: str
    has_chat_template: bool
    # How tool calls and reasoning are read from this model's output (see README, Tools and reasoning).
    chat_format: str
    template_error: str | None = None
    metadata_error: str | None = None
    loaded: bool
    # "unloaded", "loading" (or downloading), "loaded", or "draining" (unloads once its requests end)
    status: str
    aliases: list[str]
    architecture: str | None = None
    size_label: str | None = None
    quantization: str | None = None
    context_length: int | None = None
    n_ctx: int | None = None
    # Layers on the GPU, the output layer counted as one: as loaded, or as it would load now.
    n_gpu_layers: int
    file_exists: bool
    size_bytes: int | None = None
    # Hugging Face repo the file is pulled from (`localchat pull`), if the entry names one.
    repo: str | None = None
    num_loads: int
    num_in_flight: int
    # Continuous batching, while loaded: n_ctx above is each sequence's context.
    n_parallel: int | None = None
    num_running: int | None = None
    num_waiting: int | None = None
    # Tokens held in the KV cache across all slots (finished turns stay cached for prefix reuse).
    num_kv_tokens: int | None = None


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class RenderSegment(BaseModel):
    text: str
    # A control token (<bos>, <start_of_turn>, ...) rather than text.
    special: bool


class RenderResponse(BaseModel):
    """localchat extension: the exact prompt a request would send to the model."""

    model: str
    prompt: str
    tokens: list[int]
    num_tokens: int
    uses_template: bool
    # Where the template came from ("tokenizer.chat_template", "models.yaml", ...); None: no template.
    template: str | None
    # The tool-call/reasoning family (chat only).
    chat_format: str | None
    stops: list[str]
    # The tokens as text, special tokens apart; together they are the prompt as the model reads it.
    segments: list[RenderSegment]
