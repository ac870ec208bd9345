"""Ollama's native wire shapes (its docs/api.md and api/types.go): requests as its clients send them,
responses with the fields they read, and its error envelope, `{"error": "message"}`, on every path
under /api. Response fields left None are left out, as Ollama's omitempty does; a message's
`content` is always there."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from server.pipeline.wire import Grammar, MinP, RequestModel, TopK, TopLevelRequest
from server.service.errors import APIError

API_PREFIX = "/api"
VERSION_PATH = f"{API_PREFIX}/version"


def is_ollama_path(path: str) -> bool:
    return path == API_PREFIX or path.startswith(API_PREFIX + "/")


def ollama_error_body(exc: APIError) -> dict[str, Any]:
    return {"error": exc.message}


def model_not_found(name: str) -> APIError:
    # Ollama's own wording; its clients key on the 404.
    return APIError(404, f"model '{name}' not found", param="model", code="model_not_found")


def does_not_support(name: str, what: str, *, param: str) -> APIError:
    return APIError(400, f'"{name}" does not support {what}', param=param, code="unsupported_capability")


# keep_alive: seconds, or a Go duration string.
KeepAlive = float | str | None
# think: on/off, or an effort level.
Think = bool | Literal["low", "medium", "high", "max"] | None
# format: "json", or a JSON schema.
Format = Literal["", "json"] | dict[str, Any] | None


def timestamp(moment: datetime | None = None) -> str:
    """RFC 3339 in UTC with a Z, as Ollama writes `created_at`."""
    return (moment or datetime.now(UTC)).isoformat().replace("+00:00", "Z")


class Options(RequestModel):
    """The options Ollama's runner reads. Load-time options (num_ctx, num_gpu, num_thread, ...) and
    ones llama.cpp no longer has (mirostat, tfs_z, ...) are accepted and left alone; a null value is
    the default, as clients send them (LlamaIndex sends `temperature: null`)."""

    temperature: float | None = None
    top_p: float | None = None
    top_k: TopK | None = None
    min_p: MinP | None = None
    seed: int | None = None
    num_predict: int | None = None
    stop: list[str] | str | None = None
    repeat_penalty: float | None = None
    repeat_last_n: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    num_ctx: int | None = None
    # localchat extensions: a GBNF grammar, and OpenAI's tool_choice ("auto", "none", "required", or
    # a function's name), which Ollama's API has no field for.
    grammar: Grammar | None = None
    tool_choice: str | None = None


class ToolFunction(RequestModel):
    name: str = Field(min_length=1)
    # An object, as Ollama sends it; a JSON string (OpenAI's habit) is taken too.
    arguments: dict[str, Any] | str = Field(default_factory=dict)


class ToolCall(RequestModel):
    id: str | None = None
    function: ToolFunction


class Message(RequestModel):
    role: Literal["system", "user", "assistant", "tool"]
    content: str | None = None
    thinking: str | None = None
    images: list[str] | None = None
    tool_calls: list[ToolCall] | None = None
    # The tool a tool message answers.
    tool_name: str | None = None
    tool_call_id: str | None = None


class GenerationFields(TopLevelRequest):
    model: str | None = None
    format: Format = None
    options: Options | None = None
    keep_alive: KeepAlive = None
    think: Think = None
    # Ollama streams unless told not to.
    stream: bool | None = True
    logprobs: bool = False
    top_logprobs: int | None = Field(None, ge=0, le=20)


class ChatRequest(GenerationFields):
    messages: list[Message] | None = None
    # OpenAI's function-tool shape, as Ollama takes it.
    tools: list[dict[str, Any]] | None = None


class GenerateRequest(GenerationFields):
    prompt: str | None = None
    suffix: str | None = None
    system: str | None = None
    template: str | None = None
    context: list[int] | None = None
    raw: bool = False
    images: list[str] | None = None


class EmbedRequest(TopLevelRequest):
    model: str | None = None
    input: str | list[str] = Field(default_factory=list)
    truncate: bool = True
    dimensions: int | None = Field(None, ge=1)
    keep_alive: KeepAlive = None
    options: Options | None = None


class EmbeddingsRequest(TopLevelRequest):
    model: str | None = None
    prompt: str = ""
    keep_alive: KeepAlive = None
    options: Options | None = None


class NamedModelRequest(TopLevelRequest):
    """show, delete and pull: `model`, or the older `name` (ollama-js and Continue still send it)."""

    model: str | None = None
    name: str | None = None

    @property
    def model_name(self) -> str | None:
        return self.model or self.name


class ShowRequest(NamedModelRequest):
    verbose: bool = False


class PullRequest(NamedModelRequest):
    insecure: bool = False
    stream: bool | None = True


class CopyRequest(TopLevelRequest):
    source: str = Field(min_length=1)
    destination: str = Field(min_length=1)


# -- responses --------------------------------------------------------------------------------------


class OllamaResponse(BaseModel):
    """Dumped without its None fields."""


class VersionResponse(OllamaResponse):
    version: str


class ModelDetails(OllamaResponse):
    parent_model: str = ""
    format: str = "gguf"
    family: str = ""
    families: list[str] | None = None
    parameter_size: str = ""
    quantization_level: str = ""


class ListedModel(OllamaResponse):
    name: str
    model: str
    modified_at: str
    size: int
    digest: str
    details: ModelDetails
    capabilities: list[str] | None = None


class ModelList(OllamaResponse):
    models: list[ListedModel]


class RunningModel(OllamaResponse):
    name: str
    model: str
    size: int
    digest: str
    details: ModelDetails
    expires_at: str
    size_vram: int
    context_length: int


class RunningModels(OllamaResponse):
    models: list[RunningModel]


class ShowResponse(OllamaResponse):
    modelfile: str
    parameters: str
    template: str
    details: ModelDetails
    # Always present, if only {}: ollama-python requires the key.
    model_info: dict[str, Any]
    capabilities: list[str]
    modified_at: str
    license: str | None = None
    system: str | None = None


class TokenLogprob(OllamaResponse):
    token: str
    logprob: float
    bytes: list[int] | None = None


class Logprob(TokenLogprob):
    top_logprobs: list[TokenLogprob] | None = None


class ToolCallFunctionOut(OllamaResponse):
    index: int
    name: str
    arguments: dict[str, Any]


class ToolCallOut(OllamaResponse):
    id: str
    function: ToolCallFunctionOut


class MessageOut(OllamaResponse):
    role: Literal["assistant"] = "assistant"
    content: str = ""
    thinking: str | None = None
    tool_calls: list[ToolCallOut] | None = None


class Metrics(OllamaResponse):
    """The final chunk's counts, and its durations in nanoseconds."""

    total_duration: int | None = None
    load_duration: int | None = None
    prompt_eval_count: int | None = None
    prompt_eval_duration: int | None = None
    eval_count: int | None = None
    eval_duration: int | None = None


class ChatChunk(Metrics):
    model: str
    created_at: str
    message: MessageOut
    done: bool
    done_reason: str | None = None
    logprobs: list[Logprob] | None = None


class GenerateChunk(Metrics):
    model: str
    created_at: str
    response: str
    thinking: str | None = None
    done: bool
    done_reason: str | None = None
    logprobs: list[Logprob] | None = None


class EmbedResponse(OllamaResponse):
    model: str
    embeddings: list[list[float]]
    total_duration: int | None = None
    load_duration: int | None = None
    prompt_eval_count: int | None = None


class EmbeddingResponse(OllamaResponse):
    embedding: list[float]


class ProgressResponse(OllamaResponse):
    status: str
    digest: str | None = None
    total: int | None = None
    completed: int | None = None
