"""Base-model role transcript and format_chat's choice between it and a model's template."""

from __future__ import annotations

from collections.abc import Callable

from server.templates.chat_template import ChatTemplate
from server.templates.prompt import format_chat
from server.templates.transcript import TRANSCRIPT_STOPS, render_transcript

# -- render_transcript ----------------------------------------------------------------------------------


def test_render_transcript_puts_system_first_then_turns_and_open_assistant_label() -> None:
    messages = [
        {"role": "system", "content": "You are helpful."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "How are you?"},
    ]
    assert render_transcript(messages) == (
        "You are helpful.\n\nUser: Hi\nAssistant: Hello!\nUser: How are you?\nAssistant:"
    )


def test_render_transcript_without_system_starts_with_user() -> None:
    assert render_transcript([{"role": "user", "content": "Hi"}]) == "User: Hi\nAssistant:"


def test_render_transcript_treats_developer_role_as_system() -> None:
    messages = [{"role": "developer", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    assert render_transcript(messages) == "Be brief.\n\nUser: Hi\nAssistant:"


def test_render_transcript_joins_several_system_messages_in_order() -> None:
    messages = [
        {"role": "system", "content": "One."},
        {"role": "user", "content": "Hi"},
        {"role": "developer", "content": "Two."},
    ]
    assert render_transcript(messages) == "One.\nTwo.\n\nUser: Hi\nAssistant:"


def test_render_transcript_ignores_empty_system_message() -> None:
    messages = [{"role": "system", "content": ""}, {"role": "user", "content": "Hi"}]
    assert render_transcript(messages) == "User: Hi\nAssistant:"


def test_render_transcript_labels_tool_messages() -> None:
    messages = [{"role": "user", "content": "Weather?"}, {"role": "tool", "content": "sunny"}]
    assert render_transcript(messages) == "User: Weather?\nTool: sunny\nAssistant:"


def test_render_transcript_none_content_leaves_bare_label() -> None:
    messages = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": None}]
    assert render_transcript(messages) == "User: Hi\nAssistant:\nAssistant:"


def test_render_transcript_ends_with_assistant_label() -> None:
    assert render_transcript([{"role": "user", "content": "x"}]).endswith("\nAssistant:")


def test_transcript_stops_contain_next_user_turn() -> None:
    assert "\nUser:" in TRANSCRIPT_STOPS


def test_transcript_stops_contain_next_assistant_turn() -> None:
    assert "\nAssistant:" in TRANSCRIPT_STOPS


# -- format_chat -----------------------------------------------------------------------------------------


def test_format_chat_without_template_uses_transcript() -> None:
    prompt = format_chat(None, [{"role": "user", "content": "Hi"}])
    assert prompt.text == "User: Hi\nAssistant:"
    assert prompt.uses_template is False


def test_format_chat_without_template_stops_at_transcript_markers() -> None:
    prompt = format_chat(None, [{"role": "user", "content": "Hi"}])
    assert prompt.stops == TRANSCRIPT_STOPS


def test_format_chat_without_template_strips_leading_and_does_not_parse_special() -> None:
    prompt = format_chat(None, [{"role": "user", "content": "Hi"}])
    assert (prompt.strip_leading, prompt.parse_special) == (True, False)


def test_format_chat_with_template_renders_template_with_generation_prompt(
    template_source: Callable[[str], str],
) -> None:
    template = ChatTemplate(template_source("chatml"), bos_token="", eos_token="<|im_end|>")
    prompt = format_chat(template, [{"role": "user", "content": "Hi"}])
    assert prompt.text == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
    assert prompt.uses_template is True


def test_format_chat_with_template_has_no_format_stops() -> None:
    template = ChatTemplate("{{ messages[0]['content'] }}", bos_token="", eos_token="")
    assert format_chat(template, [{"role": "user", "content": "Hi"}]).stops == ()


def test_format_chat_with_template_parses_special_and_keeps_leading() -> None:
    template = ChatTemplate("{{ messages[0]['content'] }}", bos_token="", eos_token="")
    prompt = format_chat(template, [{"role": "user", "content": "Hi"}])
    assert (prompt.strip_leading, prompt.parse_special) == (False, True)


def test_format_chat_passes_tools_to_template() -> None:
    template = ChatTemplate("{{ tools[0]['function']['name'] }}", bos_token="", eos_token="")
    tools = [{"type": "function", "function": {"name": "lookup"}}]
    assert format_chat(template, [], tools=tools).text == "lookup"
