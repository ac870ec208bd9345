"""What a real chat template writes for an assistant turn with tool calls: the model was trained on
exactly this text, so a family's parser must read it back."""

from __future__ import annotations

from typing import Any

from server.templates.chat_template import ChatTemplate
from tests.support.vendored_templates import vendored_template

ASK = {"role": "user", "content": "What is the weather in Paris?"}
THINK_END = "</think>"


def rendered_calls(
    template_stem: str, calls: list[tuple[str, dict[str, Any]]], tools: list[dict[str, Any]]
) -> str:
    """The text the template puts after its generation prompt for an assistant turn making `calls`."""
    template = ChatTemplate(vendored_template(template_stem), bos_token="", eos_token="")
    tool_calls = [
        {"id": f"call{index}", "type": "function", "function": {"name": name, "arguments": arguments}}
        for index, (name, arguments) in enumerate(calls)
    ]
    turn = {"role": "assistant", "content": "", "tool_calls": tool_calls}
    prompt = template.render([ASK], tools=tools, add_generation_prompt=True)
    whole = template.render([ASK, turn], tools=tools, add_generation_prompt=False)
    if whole.startswith(prompt):
        return prompt, whole[len(prompt) :]
    # The prompt opened a thought ("<think>") that the turn in history does not show, or shows only as
    # its end: the model's text is the end of an empty thought, then the turn.
    shared = next(index for index, (a, b) in enumerate(zip(prompt, whole, strict=False)) if a != b)
    if whole[shared - 1] == "<":
        shared -= 1  # they part inside a tag ("<think>" against "</think>")
    turn = whole[shared:]
    return prompt, turn if turn.startswith(THINK_END) else THINK_END + turn
