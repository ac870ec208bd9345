"""An Anthropic Messages request in the internal chat shape: content blocks become chat messages
(tool_result blocks tool messages, tool_use blocks tool calls, thinking blocks reasoning), client
tools chat tools. Everything checked here fails as a 400 naming its block."""

from __future__ import annotations

import json
import logging
from typing import Any

from server.pipeline.chat_pipeline import internal_chat_request
from server.pipeline.chat_request import ChatCompletionRequest
from server.pipeline.wire import require_string
from server.protocols.anthropic.wire import CountTokensRequest, MessagesRequest
from server.service.errors import invalid_request

log = logging.getLogger("localchat.api")

# Blocks a local model has no use for, replayed by clients from turns with Anthropic's own tools.
SKIPPED_BLOCKS = frozenset(
    {
        "redacted_thinking",
        "server_tool_use",
        "web_search_tool_result",
        "web_fetch_tool_result",
        "container_upload",
    }
)


def _block_text(content: Any, where: str) -> str:
    """Text of a string or of a list of text blocks (a system prompt, a tool result)."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise invalid_request(f"'{where}' must be a string or a list of text blocks.", param=where)
    texts = []
    for index, block in enumerate(content):
        kind = block.get("type") if isinstance(block, dict) else None
        if kind != "text":
            raise invalid_request(
                f"Blocks of type '{kind}' are not supported here; only text.",
                param=f"{where}.{index}",
                code="unsupported_content",
            )
        texts.append(require_string(block.get("text"), f"{where}.{index}.text"))
    return "\n".join(texts)


def _tool_call(block: dict[str, Any], where: str) -> dict[str, Any]:
    arguments = block.get("input", {})
    if not isinstance(arguments, dict):
        raise invalid_request(f"'{where}.input' must be an object.", param=f"{where}.input")
    return {
        "id": require_string(block.get("id"), f"{where}.id"),
        "type": "function",
        "function": {
            "name": require_string(block.get("name"), f"{where}.name"),
            "arguments": json.dumps(arguments),
        },
    }


def _turn(
    role: str, content: str | list[dict[str, Any]], where: str, names: dict[str, str]
) -> list[dict[str, Any]]:
    """One Anthropic message as chat messages: tool results first (each its own tool message), then
    the text, thinking and tool calls of the turn."""
    if isinstance(content, str):
        return [{"role": role, "content": content}]
    messages: list[dict[str, Any]] = []
    texts: list[str] = []
    thinking: list[str] = []
    calls: list[dict[str, Any]] = []
    for index, block in enumerate(content):
        block_where = f"{where}.content.{index}"
        kind = block.get("type")
        kind = kind if isinstance(kind, str) else repr(kind)  # a set lookup needs it hashable
        if kind == "text":
            texts.append(require_string(block.get("text"), f"{block_where}.text"))
        elif kind == "thinking" and role == "assistant":
            thinking.append(require_string(block.get("thinking"), f"{block_where}.thinking"))
        elif kind == "tool_use" and role == "assistant":
            call = _tool_call(block, block_where)
            names[call["id"]] = call["function"]["name"]
            calls.append(call)
        elif kind == "tool_result" and role == "user":
            call_id = require_string(block.get("tool_use_id"), f"{block_where}.tool_use_id")
            result = _block_text(block.get("content", ""), f"{block_where}.content")
            if block.get("is_error"):
                result = f"Error: {result}"
            message = {"role": "tool", "tool_call_id": call_id, "content": result}
            if call_id in names:
                message["name"] = names[call_id]
            messages.append(message)
        elif kind in SKIPPED_BLOCKS:
            log.warning("messages: content block of type '%s' ignored (%s)", kind, block_where)
        else:
            raise invalid_request(
                f"Content blocks of type '{kind}' are not supported in a {role} message.",
                param=f"{block_where}.type",
                code="unsupported_content",
            )
    if texts or thinking or calls or not messages:
        turn: dict[str, Any] = {"role": role, "content": "".join(texts)}
        if thinking:
            turn["reasoning_content"] = "".join(thinking)
        if calls:
            turn["tool_calls"] = calls
        messages.append(turn)
    return messages


def chat_messages(body: CountTokensRequest | MessagesRequest) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = []
    if body.system:
        messages.append({"role": "system", "content": _block_text(body.system, "system")})
    names: dict[str, str] = {}
    for position, message in enumerate(body.messages):
        messages.extend(_turn(message.role, message.content, f"messages.{position}", names))
    return messages


def client_tools(body: CountTokensRequest | MessagesRequest) -> list[dict[str, Any]]:
    """Client tools as chat function tools; Anthropic's server tools are dropped."""
    tools = []
    for index, tool in enumerate(body.tools or []):
        kind = tool.get("type", "custom")
        if kind != "custom":
            log.warning(
                "messages: tool of type '%s' ignored (tools.%d): only client tools run here", kind, index
            )
            continue
        function = {"name": tool.get("name"), "parameters": tool.get("input_schema")}
        if tool.get("description") is not None:
            function["description"] = tool["description"]
        tools.append({"type": "function", "function": function})
    return tools


def _tool_choice(body: CountTokensRequest | MessagesRequest) -> str | dict[str, Any] | None:
    choice = body.tool_choice
    if choice is None:
        return None
    if choice.type == "tool":
        if not choice.name:
            raise invalid_request("tool_choice of type 'tool' needs a 'name'.", param="tool_choice.name")
        return {"type": "function", "function": {"name": choice.name}}
    return {"auto": "auto", "any": "required", "none": "none"}[choice.type]


# Where a chat field came from in the Anthropic request, for error messages.
_PARAM_NAMES = {"stop": "stop_sequences", "response_format": "output_config.format"}


def chat_request(body: CountTokensRequest | MessagesRequest) -> ChatCompletionRequest:
    data: dict[str, Any] = {
        "messages": chat_messages(body),
        "tools": client_tools(body) or None,
        "tool_choice": _tool_choice(body),
        "parallel_tool_calls": not (body.tool_choice and body.tool_choice.disable_parallel_tool_use),
    }
    if body.thinking is not None:
        # Templates that can think or not (Qwen3's) read this variable; others ignore it.
        data["chat_template_kwargs"] = {"enable_thinking": body.thinking.type != "disabled"}
    output = body.output_config
    if output is not None and output.format is not None:
        data["response_format"] = {"type": "json_schema", "json_schema": {"schema": output.format.schema_}}
    if output is not None and output.effort is not None:
        # Anthropic's scale goes past "high" (xhigh, max); templates know low, medium and high.
        data["reasoning_effort"] = output.effort if output.effort in ("low", "medium") else "high"
    if isinstance(body, MessagesRequest):
        data.update(
            max_tokens=body.max_tokens,
            stop=body.stop_sequences,
            temperature=body.temperature,
            top_p=body.top_p,
            top_k=body.top_k,
            grammar=body.grammar,
        )
    return internal_chat_request(data, _PARAM_NAMES)
