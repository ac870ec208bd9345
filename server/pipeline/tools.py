"""A chat request's tools and conversation, checked and put in the shape Hugging Face templates expect."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, Literal

from server.formats.chat_format import ToolSpec
from server.pipeline.chat_request import ChatCompletionRequest, ChatMessage
from server.service.errors import invalid_request

log = logging.getLogger("localchat.api")

Choice = Literal["none", "auto", "required"]
# Template variables a request may not set through chat_template_kwargs.
RESERVED_TEMPLATE_VARIABLES = frozenset(
    {"messages", "tools", "documents", "bos_token", "eos_token", "add_generation_prompt"}
)


@dataclass(frozen=True)
class ToolUse:
    tools: tuple[ToolSpec, ...]
    # As the client sent them (OpenAI function-tool shape): what templates render.
    definitions: tuple[dict[str, Any], ...]
    choice: Choice
    forced_name: str | None
    is_parallel: bool

    @property
    def is_calling(self) -> bool:
        return bool(self.tools) and self.choice != "none"

    @property
    def is_forced(self) -> bool:
        return self.choice == "required" or self.forced_name is not None

    @property
    def allowed(self) -> tuple[ToolSpec, ...]:
        if self.forced_name is None:
            return self.tools
        return tuple(tool for tool in self.tools if tool.name == self.forced_name)


def tool_use(body: ChatCompletionRequest) -> ToolUse:
    definitions = body.tools or []
    tools = tuple(
        ToolSpec(
            name=tool.function.name,
            parameters=tool.function.parameters or {"type": "object", "properties": {}},
            description=tool.function.description or "",
        )
        for tool in definitions
    )
    names = [tool.name for tool in tools]
    if len(set(names)) != len(names):
        raise invalid_request("Tool names must be unique.", param="tools", code="invalid_value")
    choice = body.tool_choice
    forced_name: str | None = None
    if choice is None:
        choice = "auto" if tools else "none"
    elif not isinstance(choice, str):
        forced_name = choice.function.name
        if forced_name not in names:
            raise invalid_request(
                f"tool_choice names the function '{forced_name}', which is not in tools.",
                param="tool_choice",
                code="invalid_value",
            )
        choice = "required"
    if choice == "required" and not tools:
        raise invalid_request(
            f"tool_choice '{'a named function' if forced_name else 'required'}' needs tools.",
            param="tool_choice",
            code="invalid_value",
        )
    return ToolUse(
        tools=tools,
        definitions=tuple(tool.model_dump(exclude_none=True) for tool in definitions),
        choice=choice,
        forced_name=forced_name,
        is_parallel=body.parallel_tool_calls,
    )


def template_messages(messages: list[ChatMessage]) -> list[dict[str, Any]]:
    return [_template_message(message, position) for position, message in enumerate(messages)]


def _template_message(message: ChatMessage, position: int) -> dict[str, Any]:
    where = f"messages.{position}"
    data = message.model_dump(exclude_none=True)
    data["content"] = _text_content(message, where)
    if message.role == "tool" and not message.tool_call_id:
        raise invalid_request(
            "A message with role 'tool' needs the tool_call_id of the call it answers.",
            param=f"{where}.tool_call_id",
            code="missing_tool_call_id",
        )
    if message.tool_calls:
        if message.role != "assistant":
            raise invalid_request("Only assistant messages carry tool_calls.", param=f"{where}.tool_calls")
        data["tool_calls"] = [
            {
                # Made-up ids are 9 alphanumerics: Mistral's templates refuse any other shape.
                "id": call.id or f"c{position:04d}{index:04d}",
                "type": "function",
                # Templates expect arguments as a mapping (they write `arguments | tojson`).
                "function": {
                    "name": call.function.name,
                    "arguments": _arguments(call.function.arguments, f"{where}.tool_calls.{index}"),
                },
            }
            for index, call in enumerate(message.tool_calls)
        ]
    return data


def _text_content(message: ChatMessage, where: str) -> str:
    content = message.content
    if not isinstance(content, list):
        return content if content is not None else ""
    texts = []
    for part in content:
        if part.type == "text" and part.text is None:
            raise invalid_request(
                "A content part of type 'text' needs a 'text' string.",
                param=f"{where}.content",
                code="invalid_value",
            )
        if part.type != "text" or part.text is None:
            raise invalid_request(
                f"Content parts of type '{part.type}' are not supported; only 'text'.",
                param=f"{where}.content",
                code="unsupported_content",
            )
        texts.append(part.text)
    return "".join(texts)


def _arguments(arguments: str | dict[str, Any], where: str) -> Any:
    if isinstance(arguments, dict):
        return arguments
    try:
        return json.loads(arguments) if arguments.strip() else {}
    except json.JSONDecodeError as exc:
        raise invalid_request(
            f"The arguments of this tool call are not valid JSON: {exc.msg}.",
            param=f"{where}.function.arguments",
            code="invalid_tool_arguments",
        ) from None


def template_variables(body: ChatCompletionRequest) -> dict[str, Any]:
    variables = dict(body.chat_template_kwargs or {})
    reserved = sorted(RESERVED_TEMPLATE_VARIABLES & variables.keys())
    if reserved:
        raise invalid_request(
            f"chat_template_kwargs cannot set {', '.join(reserved)}.", param="chat_template_kwargs"
        )
    if body.reasoning_effort is not None:
        variables.setdefault("reasoning_effort", body.reasoning_effort)
    return variables


def with_system_text(messages: list[dict[str, Any]], text: str) -> list[dict[str, Any]]:
    """The conversation with `text` added to its system turn (made if there is none)."""
    if messages and messages[0]["role"] in ("system", "developer"):
        first = dict(messages[0])
        first["content"] = f"{first['content']}\n\n{text}" if first["content"] else text
        return [first, *messages[1:]]
    return [{"role": "system", "content": text}, *messages]


def arguments_object(arguments: str) -> dict[str, Any]:
    """A call's arguments as the object the dialects that send objects (Anthropic's input, Ollama's
    arguments) need. Constrained calls are always objects; a free-running model may write anything."""
    try:
        parsed = json.loads(arguments) if arguments.strip() else {}
    except json.JSONDecodeError:
        log.warning("tool call arguments are not JSON; sent as an empty object: %.200s", arguments)
        return {}
    return parsed if isinstance(parsed, dict) else {"value": parsed}
