"""Wire shapes of the OpenAI API, in the order of its reference; localchat extensions are marked. The
chat request itself is the pipeline's internal one (server/pipeline/chat_request.py)."""

from __future__ import annotations

import time
from typing import Any, Literal

from pydantic import BaseModel, Field, model_serializer

from server import __version__
from server.ids import random_id
from server.pipeline.chat_request import SamplingRequest

SYSTEM_FINGERPRINT = f"fp_localchat_{__version__}"


class CompletionRequest(SamplingRequest):
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
    return random_id(prefix, separator="-")


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
    # What the model can do (server/models/capabilities.py): completion, embedding, tools, thinking.
    capabilities: list[str]
    has_chat_template: bool
    # How tool calls and reasoning are read from this model's output (see README, Tools and reasoning).
    chat_format: str
    template_error: str | None = None
    metadata_error: str | None = None
    # The multimodal projector (catalog key mmproj), and why it cannot be used if it cannot.
    mmproj: str | None = None
    projector_error: str | None = None
    loaded: bool
    # "unloaded", "loading" (or downloading), "loaded", "draining" (unloads once its requests end), or
    # "unloading" (its engine is being closed and its memory given back)
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
