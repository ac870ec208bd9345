"""A Responses request in the internal chat shape: input items become chat messages, function tools
chat tools, text.format a response_format. Everything checked here fails as a 400 naming its item."""

from __future__ import annotations

import logging
from typing import Any

from server.pipeline.chat_pipeline import internal_chat_request
from server.pipeline.chat_request import ChatCompletionRequest
from server.pipeline.wire import require_string
from server.protocols.responses.wire import ResponseRequest, item_id
from server.service.errors import invalid_request

log = logging.getLogger("localchat.api")

MESSAGE_ROLES = ("user", "assistant", "system", "developer")
# Text parts of a message: what the user wrote, and what an earlier answer said.
TEXT_PARTS = ("input_text", "output_text", "text", "refusal")
# Items that carry nothing a local model can use; dropped with a log line rather than failing, as
# agents replay them from earlier turns with hosted models.
SKIPPED_ITEMS = frozenset(
    {
        "web_search_call",
        "file_search_call",
        "computer_call",
        "computer_call_output",
        "image_generation_call",
        "code_interpreter_call",
        "mcp_list_tools",
        "mcp_call",
        "mcp_approval_request",
        "mcp_approval_response",
        "compaction",
    }
)


def _text(value: Any, where: str) -> str:
    return require_string(value, where, code="invalid_value")


def _parts_text(content: Any, where: str) -> str:
    """A message's text: a string, or text parts joined."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        raise invalid_request(
            f"'{where}' must be a string or a list of content parts.", param=where, code="invalid_value"
        )
    texts = []
    for index, part in enumerate(content):
        part_where = f"{where}.{index}"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind not in TEXT_PARTS:
            raise invalid_request(
                f"Content parts of type '{kind}' are not supported; only text ({', '.join(TEXT_PARTS)}).",
                param=part_where,
                code="unsupported_content",
            )
        field = "refusal" if kind == "refusal" else "text"
        texts.append(_text(part.get(field), f"{part_where}.{field}"))
    return "".join(texts)


def _message(item: dict[str, Any], where: str) -> dict[str, Any]:
    role = item.get("role")
    if role not in MESSAGE_ROLES:
        raise invalid_request(
            f"'{where}.role' must be one of {', '.join(MESSAGE_ROLES)}.",
            param=f"{where}.role",
            code="invalid_value",
        )
    text = _parts_text(item.get("content"), f"{where}.content")
    part_type = "output_text" if role == "assistant" else "input_text"
    return {
        "type": "message",
        "id": item.get("id") if isinstance(item.get("id"), str) else item_id("msg"),
        "role": role,
        "content": [{"type": part_type, "text": text}],
    }


def _function_call(item: dict[str, Any], where: str) -> dict[str, Any]:
    return {
        "type": "function_call",
        "id": item.get("id") if isinstance(item.get("id"), str) else item_id("fc"),
        "call_id": _text(item.get("call_id"), f"{where}.call_id"),
        "name": _text(item.get("name"), f"{where}.name"),
        "arguments": _text(item.get("arguments", "{}"), f"{where}.arguments"),
    }


def _function_call_output(item: dict[str, Any], where: str) -> dict[str, Any]:
    return {
        "type": "function_call_output",
        "id": item.get("id") if isinstance(item.get("id"), str) else item_id("fco"),
        "call_id": _text(item.get("call_id"), f"{where}.call_id"),
        "output": _parts_text(item.get("output"), f"{where}.output"),
    }


def _reasoning(item: dict[str, Any], where: str) -> dict[str, Any]:
    # The thinking itself if the client kept it, else its summary.
    for field in ("content", "summary"):
        parts = item.get(field)
        if isinstance(parts, list) and parts:
            texts = [part.get("text") for part in parts if isinstance(part, dict)]
            text = "".join(t for t in texts if isinstance(t, str))
            break
    else:
        text = ""
    return {
        "type": "reasoning",
        "id": item.get("id") if isinstance(item.get("id"), str) else item_id("rs"),
        "summary": [],
        "content": [{"type": "reasoning_text", "text": text}],
    }


_NORMALISERS = {
    "message": _message,
    "function_call": _function_call,
    "function_call_output": _function_call_output,
    "reasoning": _reasoning,
}


def input_items(body: ResponseRequest) -> list[dict[str, Any]]:
    """The request's input as checked items with ids, as they are stored and listed."""
    if isinstance(body.input, str):
        return [_message({"role": "user", "content": body.input}, "input")]
    items = []
    for index, item in enumerate(body.input):
        where = f"input.{index}"
        # A bare {"role", "content"} is a message (the "easy" input message of the reference).
        kind = item.get("type", "message" if "role" in item else None)
        kind = kind if isinstance(kind, str) or kind is None else repr(kind)  # lookups need it hashable
        normalise = _NORMALISERS.get(kind) if kind is not None else None
        if normalise is not None:
            items.append(normalise(item, where))
        elif kind in SKIPPED_ITEMS:
            log.warning("responses: input item of type '%s' ignored (%s)", kind, where)
        else:
            raise invalid_request(
                f"Input items of type '{kind}' are not supported; use message, function_call, "
                "function_call_output or reasoning.",
                param=f"{where}.type",
                code="unsupported_value",
            )
    return items


def chat_messages(items: list[dict[str, Any]], instructions: str | None) -> list[dict[str, Any]]:
    """Checked items as chat messages: function calls join the assistant turn they belong to,
    reasoning goes with the assistant turn after it."""
    messages: list[dict[str, Any]] = []
    if instructions:
        messages.append({"role": "system", "content": instructions})
    names: dict[str, str] = {}
    reasoning: str | None = None
    for item in items:
        kind = item["type"]
        if kind == "reasoning":
            reasoning = item["content"][0]["text"] or None
        elif kind == "message":
            message: dict[str, Any] = {"role": item["role"], "content": item["content"][0]["text"]}
            if item["role"] == "assistant" and reasoning is not None:
                message["reasoning_content"], reasoning = reasoning, None
            messages.append(message)
        elif kind == "function_call":
            names[item["call_id"]] = item["name"]
            call = {
                "id": item["call_id"],
                "type": "function",
                "function": {"name": item["name"], "arguments": item["arguments"]},
            }
            last = messages[-1] if messages else None
            if last is not None and last["role"] == "assistant" and "tool_call_id" not in last:
                last.setdefault("tool_calls", []).append(call)
            else:
                turn: dict[str, Any] = {"role": "assistant", "content": None, "tool_calls": [call]}
                if reasoning is not None:
                    turn["reasoning_content"], reasoning = reasoning, None
                messages.append(turn)
        else:  # function_call_output
            tool_message = {"role": "tool", "tool_call_id": item["call_id"], "content": item["output"]}
            if item["call_id"] in names:
                tool_message["name"] = names[item["call_id"]]
            messages.append(tool_message)
    return messages


def function_tools(body: ResponseRequest) -> list[dict[str, Any]]:
    """The request's function tools, in the Responses (flat) shape; other tool types are dropped."""
    tools = []
    for index, tool in enumerate(body.tools or []):
        kind = tool.get("type")
        if kind == "function":
            tools.append(tool)
        elif isinstance(kind, str):
            log.warning(
                "responses: tool of type '%s' ignored (tools.%d): only function tools run here", kind, index
            )
        else:
            raise invalid_request(
                "Each tool needs a 'type'.", param=f"tools.{index}.type", code="invalid_value"
            )
    return tools


def _tool_choice(choice: str | dict[str, Any] | None, has_tools: bool) -> str | dict[str, Any] | None:
    if choice is None or isinstance(choice, str):
        return choice
    kind = choice.get("type")
    if kind == "function":
        return {"type": "function", "function": {"name": choice.get("name")}}
    if kind == "allowed_tools":
        return choice.get("mode", "auto")
    # A hosted tool (web_search...) was asked for; its tool was dropped, so the model decides.
    log.warning("responses: tool_choice of type '%s' ignored", kind)
    return "auto" if has_tools else None


def _response_format(body: ResponseRequest) -> dict[str, Any] | None:
    if body.text is None or body.text.format.type == "text":
        return None
    fmt = body.text.format
    if fmt.type == "json_object":
        return {"type": "json_object"}
    if fmt.schema_ is None:
        raise invalid_request("text.format json_schema needs a 'schema'.", param="text.format.schema")
    return {
        "type": "json_schema",
        "json_schema": {"name": fmt.name, "schema": fmt.schema_, "strict": fmt.strict},
    }


# Where a chat field came from in the Responses request, for error messages.
_PARAM_NAMES = {
    "messages": "input",
    "max_completion_tokens": "max_output_tokens",
    "response_format": "text.format",
}


def chat_request(body: ResponseRequest, context: list[dict[str, Any]]) -> ChatCompletionRequest:
    tools = function_tools(body)
    data: dict[str, Any] = {
        "messages": chat_messages(context, body.instructions),
        "max_completion_tokens": body.max_output_tokens,
        "temperature": body.temperature,
        "top_p": body.top_p,
        "seed": body.seed,
        "top_k": body.top_k,
        "min_p": body.min_p,
        "grammar": body.grammar,
        "response_format": _response_format(body),
        "tools": [
            {
                "type": "function",
                "function": {
                    key: tool[key] for key in ("name", "description", "parameters", "strict") if key in tool
                },
            }
            for tool in tools
        ]
        or None,
        "tool_choice": _tool_choice(body.tool_choice, bool(tools)),
        "parallel_tool_calls": body.parallel_tool_calls,
        "reasoning_effort": body.reasoning.effort if body.reasoning is not None else None,
    }
    return internal_chat_request(data, _PARAM_NAMES)
