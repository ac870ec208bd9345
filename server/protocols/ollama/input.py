"""An Ollama chat or generate request in the internal chat shape: options become sampling fields
(with Ollama's defaults where a client sends none), `format` a response format, `think` the template's
switch, messages chat messages (tool calls given ids where clients send none, so templates can pair
each result with its call)."""

from __future__ import annotations

import json
from typing import Any

from server.models.capabilities import capabilities
from server.models.catalog import ModelInfo
from server.pipeline.chat_pipeline import internal_chat_request
from server.pipeline.chat_request import ChatCompletionRequest
from server.protocols.ollama.wire import (
    ChatRequest,
    Format,
    GenerateRequest,
    Message,
    Options,
    Think,
    does_not_support,
)
from server.service.errors import invalid_request

# Ollama's defaults (api/types.go DefaultOptions) for what a client leaves out.
DEFAULT_SAMPLING = {"temperature": 0.8, "top_k": 40, "top_p": 0.9}
# Where a chat field came from in an Ollama request, for error messages.
PARAM_NAMES = {
    "temperature": "options.temperature",
    "top_p": "options.top_p",
    "top_k": "options.top_k",
    "min_p": "options.min_p",
    "seed": "options.seed",
    "max_tokens": "options.num_predict",
    "stop": "options.stop",
    "repeat_penalty": "options.repeat_penalty",
    "repeat_last_n": "options.repeat_last_n",
    "presence_penalty": "options.presence_penalty",
    "frequency_penalty": "options.frequency_penalty",
    "grammar": "options.grammar",
    "tool_choice": "options.tool_choice",
    "response_format": "format",
}
_TOOL_CHOICES = frozenset({"auto", "none", "required"})


def sampling_fields(options: Options | None) -> dict[str, Any]:
    """Chat fields for the options Ollama's sampler reads. num_predict -1 (or -2, or 0) is no limit
    but the context; num_ctx is the catalog's to set, per model, and is not changed per request."""
    given = options.model_dump(exclude_none=True) if options is not None else {}
    fields: dict[str, Any] = {**DEFAULT_SAMPLING}
    for name in ("temperature", "top_p", "top_k", "min_p", "stop", "grammar"):
        if name in given:
            fields[name] = given[name]
    for name in ("repeat_penalty", "repeat_last_n", "presence_penalty", "frequency_penalty"):
        if name in given:
            fields[name] = given[name]
    seed = given.get("seed")
    if seed is not None and seed >= 0:  # -1: a random seed
        fields["seed"] = seed
    num_predict = given.get("num_predict")
    if num_predict is not None and num_predict > 0:
        fields["max_tokens"] = num_predict
    choice = given.get("tool_choice")
    if choice is not None:
        fields["tool_choice"] = (
            choice if choice in _TOOL_CHOICES else {"type": "function", "function": {"name": choice}}
        )
    return fields


def response_format(value: Format) -> dict[str, Any] | None:
    if value is None or value == "":
        return None
    if value == "json":
        return {"type": "json_object"}
    return {"type": "json_schema", "json_schema": {"schema": value}}


def think_fields(think: Think, info: ModelInfo, requested_name: str) -> dict[str, Any]:
    """`think` as the template's switch (Qwen3's enable_thinking) and an effort level. A model that
    cannot think refuses think: true, as Ollama does; left out, a model thinks as its template does."""
    if think is None:
        return {}
    if think is False:
        return {"chat_template_kwargs": {"enable_thinking": False}, "reasoning_effort": None}
    if "thinking" not in capabilities(info):
        raise does_not_support(requested_name, "thinking", param="think")
    fields: dict[str, Any] = {"chat_template_kwargs": {"enable_thinking": True}}
    if isinstance(think, str):
        fields["reasoning_effort"] = "high" if think == "max" else think
    return fields


def _arguments(arguments: dict[str, Any] | str) -> str:
    return arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False)


def chat_messages(messages: list[Message]) -> list[dict[str, Any]]:
    """Ollama messages as chat messages. Tool calls without ids get ids, and each tool result the id
    of the earliest unanswered call of its tool (or simply the earliest unanswered call)."""
    out: list[dict[str, Any]] = []
    unanswered: list[tuple[str, str]] = []  # (call id, tool name)
    for position, message in enumerate(messages):
        if message.images:
            raise invalid_request(
                "Images are not supported yet.",
                param=f"messages.{position}.images",
                code="unsupported_content",
            )
        turn: dict[str, Any] = {"role": message.role, "content": message.content or ""}
        if message.role == "assistant" and message.thinking:
            turn["reasoning_content"] = message.thinking
        if message.role == "assistant" and message.tool_calls:
            calls = []
            for index, call in enumerate(message.tool_calls):
                call_id = call.id or f"call_{position}_{index}"
                unanswered.append((call_id, call.function.name))
                calls.append(
                    {
                        "id": call_id,
                        "type": "function",
                        "function": {
                            "name": call.function.name,
                            "arguments": _arguments(call.function.arguments),
                        },
                    }
                )
            turn["tool_calls"] = calls
        if message.role == "tool":
            call_id = message.tool_call_id or _answered_call(unanswered, message.tool_name)
            if call_id is not None:
                turn["tool_call_id"] = call_id
            if message.tool_name:
                turn["name"] = message.tool_name
        out.append(turn)
    return out


def _answered_call(unanswered: list[tuple[str, str]], tool_name: str | None) -> str | None:
    for index, (call_id, name) in enumerate(unanswered):
        if tool_name is None or name == tool_name:
            del unanswered[index]
            return call_id
    return None


def _common_fields(body: ChatRequest | GenerateRequest, info: ModelInfo, name: str) -> dict[str, Any]:
    data = sampling_fields(body.options)
    data["response_format"] = response_format(body.format)
    data.update(think_fields(body.think, info, name))
    if body.logprobs:
        data["logprobs"] = True
        data["top_logprobs"] = body.top_logprobs or 0
    return data


def chat_request(body: ChatRequest, info: ModelInfo, name: str) -> ChatCompletionRequest:
    data = _common_fields(body, info, name)
    data["messages"] = chat_messages(body.messages or [])
    data["tools"] = body.tools or None
    if not body.tools:
        data.pop("tool_choice", None)
    return internal_chat_request(data, PARAM_NAMES)


def generate_chat_request(body: GenerateRequest, info: ModelInfo, name: str) -> ChatCompletionRequest:
    """A templated /api/generate: its system and prompt as one conversation turn."""
    data = _common_fields(body, info, name)
    messages = [{"role": "system", "content": body.system}] if body.system else []
    data["messages"] = [*messages, {"role": "user", "content": body.prompt or ""}]
    data.pop("tool_choice", None)
    return internal_chat_request(data, PARAM_NAMES)
