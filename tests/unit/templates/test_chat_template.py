"""ChatTemplate: sandboxed Jinja rendered the way Hugging Face transformers renders chat templates."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from datetime import datetime

import pytest

from server.templates.chat_template import ChatTemplate, TemplateError

SYSTEM_CONVERSATION = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Hi"},
    {"role": "assistant", "content": "Hello."},
    {"role": "user", "content": "What is 2+2?"},
]


def _template(source: str, *, bos_token: str = "<bos>", eos_token: str = "<eos>") -> ChatTemplate:
    return ChatTemplate(source, bos_token=bos_token, eos_token=eos_token)


@pytest.fixture
def gemma(template_source: Callable[[str], str]) -> ChatTemplate:
    return _template(template_source("gemma"))


@pytest.fixture
def chatml(template_source: Callable[[str], str]) -> ChatTemplate:
    return _template(template_source("chatml"), bos_token="", eos_token="<|im_end|>")


# -- Gemma-style fixture ------------------------------------------------------------------------------


def test_gemma_template_folds_system_into_first_user_turn(gemma: ChatTemplate) -> None:
    assert gemma.render(SYSTEM_CONVERSATION) == (
        "<bos><start_of_turn>user\nYou are terse.\n\nHi<end_of_turn>\n"
        "<start_of_turn>model\nHello.<end_of_turn>\n"
        "<start_of_turn>user\nWhat is 2+2?<end_of_turn>\n"
        "<start_of_turn>model\n"
    )


def test_gemma_template_without_system_starts_with_plain_user_turn(gemma: ChatTemplate) -> None:
    rendered = gemma.render([{"role": "user", "content": "Hi"}])
    assert rendered == "<bos><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n"


def test_gemma_template_without_generation_prompt_ends_after_last_turn(gemma: ChatTemplate) -> None:
    rendered = gemma.render(SYSTEM_CONVERSATION[1:3], add_generation_prompt=False)
    assert rendered == (
        "<bos><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\nHello.<end_of_turn>\n"
    )


def test_gemma_template_uses_bos_token_given_to_constructor(template_source: Callable[[str], str]) -> None:
    template = _template(template_source("gemma"), bos_token="[BOS]")
    assert template.render([{"role": "user", "content": "x"}]).startswith("[BOS]<start_of_turn>user\n")


def test_gemma_template_non_alternating_roles_raise_template_error(gemma: ChatTemplate) -> None:
    messages = [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]
    with pytest.raises(TemplateError, match="Conversation roles must alternate"):
        gemma.render(messages)


def test_gemma_template_system_after_first_message_raises_template_error(gemma: ChatTemplate) -> None:
    messages = [{"role": "user", "content": "a"}, {"role": "system", "content": "late"}]
    with pytest.raises(TemplateError, match="roles must alternate"):
        gemma.render(messages)


def test_gemma_template_passes_validate(gemma: ChatTemplate) -> None:
    gemma.validate()  # raises TemplateError on failure


# -- ChatML fixture -----------------------------------------------------------------------------------


def test_chatml_template_renders_every_role_as_im_block(chatml: ChatTemplate) -> None:
    assert chatml.render(SYSTEM_CONVERSATION) == (
        "<|im_start|>system\nYou are terse.<|im_end|>\n"
        "<|im_start|>user\nHi<|im_end|>\n"
        "<|im_start|>assistant\nHello.<|im_end|>\n"
        "<|im_start|>user\nWhat is 2+2?<|im_end|>\n"
        "<|im_start|>assistant\n"
    )


def test_chatml_template_without_generation_prompt_has_no_open_assistant_turn(chatml: ChatTemplate) -> None:
    rendered = chatml.render([{"role": "user", "content": "Hi"}], add_generation_prompt=False)
    assert rendered == "<|im_start|>user\nHi<|im_end|>\n"


def test_chatml_template_passes_validate(chatml: ChatTemplate) -> None:
    chatml.validate()


# -- compile and render errors ------------------------------------------------------------------------


def test_chat_template_syntax_error_raises_template_error_at_construction() -> None:
    with pytest.raises(TemplateError, match="does not compile"):
        _template("{% for message in messages %}{{ message['content'] }}")


def test_chat_template_raise_exception_message_is_surfaced() -> None:
    template = _template("{{ raise_exception('Only user and assistant roles are supported!') }}")
    with pytest.raises(TemplateError) as caught:
        template.render([{"role": "user", "content": "x"}])
    assert str(caught.value) == "Only user and assistant roles are supported!"


def test_chat_template_undefined_call_raises_template_error() -> None:
    template = _template("{{ no_such_function() }}")
    with pytest.raises(TemplateError, match="failed to render"):
        template.render([])


def test_chat_template_python_error_in_render_raises_template_error() -> None:
    template = _template("{{ messages[0]['content'] + 1 }}")
    with pytest.raises(TemplateError, match="failed to render"):
        template.render([{"role": "user", "content": "x"}])


# -- sandbox ------------------------------------------------------------------------------------------


def test_chat_template_sandbox_blocks_dunder_attribute_chain() -> None:
    template = _template("{{ ''.__class__.__mro__ }}")
    with pytest.raises(TemplateError, match="unsafe"):
        template.render([])


def test_chat_template_sandbox_blocks_subclasses_escape() -> None:
    template = _template("{{ ''.__class__.__mro__[1].__subclasses__() }}")
    with pytest.raises(TemplateError, match="unsafe"):
        template.render([])


def test_chat_template_lists_grow_and_shrink_one_item_at_a_time() -> None:
    # Kimi K2's templates queue tool-call ids this way (llama.cpp's own template engine allows it).
    template = _template(
        "{% set x = [] %}{% set _ = x.append(1) %}{% set _ = x.append(2) %}{{ x.pop(0) }}{{ x }}"
    )
    assert template.render([]) == "1[2]"


@pytest.mark.parametrize(
    "source",
    [
        "{% set x = [1] %}{{ x.extend(x) }}",
        "{% set x = [1] %}{{ x.insert(0, 2) }}",
        "{% set x = [1] %}{{ x.clear() }}",
        "{% set x = {} %}{{ x.update({'a': 1}) }}",
        "{% set x = {'a': 1} %}{{ x.pop('a') }}",
    ],
)
def test_chat_template_sandbox_blocks_every_other_mutation(source: str) -> None:
    with pytest.raises(TemplateError, match="unsafe"):
        _template(source).render([])


def test_chat_template_immutable_sandbox_blocks_mutating_messages() -> None:
    messages = [{"role": "user", "content": "x"}]
    template = _template("{{ messages[0].update({'content': 'changed'}) }}")
    with pytest.raises(TemplateError, match="update"):
        template.render(messages)
    assert messages == [{"role": "user", "content": "x"}]


# -- environment compatible with transformers ----------------------------------------------------------


def test_chat_template_tojson_does_not_html_escape() -> None:
    template = _template("{{ value | tojson }}")
    assert template.render([], value={"q": "<a href='x'>&</a>"}) == '{"q": "<a href=\'x\'>&</a>"}'


def test_chat_template_tojson_keeps_non_ascii() -> None:
    template = _template("{{ value | tojson }}")
    assert template.render([], value=["café", "日本"]) == '["café", "日本"]'


def test_chat_template_tojson_accepts_indent() -> None:
    template = _template("{{ value | tojson(indent=2) }}")
    assert template.render([], value={"a": 1}) == '{\n  "a": 1\n}'


def test_chat_template_strftime_now_formats_current_date() -> None:
    template = _template("{{ strftime_now('%Y-%m-%d') }}")
    rendered = template.render([])
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", rendered)
    assert rendered[:4] == str(datetime.now().year)


def test_chat_template_loopcontrols_break_stops_loop() -> None:
    template = _template(
        "{% for message in messages %}{% if loop.index > 2 %}{% break %}{% endif %}{{ message['content'] }}"
        "{% endfor %}"
    )
    messages = [{"role": "user", "content": c} for c in "abcd"]
    assert template.render(messages) == "ab"


def test_chat_template_loopcontrols_continue_skips_item() -> None:
    template = _template(
        "{% for message in messages %}{% if message['role'] == 'system' %}{% continue %}{% endif %}"
        "{{ message['content'] }}{% endfor %}"
    )
    messages = [{"role": "system", "content": "S"}, {"role": "user", "content": "U"}]
    assert template.render(messages) == "U"


def test_chat_template_trim_blocks_removes_newline_after_block_tag() -> None:
    template = _template("{% if true %}\nA\n{% endif %}\nB")
    assert template.render([]) == "A\nB"


def test_chat_template_lstrip_blocks_removes_indent_before_block_tag() -> None:
    template = _template("X\n    {% if true %}\nA\n    {% endif %}\nB")
    assert template.render([]) == "X\nA\nB"


def test_chat_template_lstrip_blocks_keeps_indent_before_expression() -> None:
    template = _template("    {{ 'A' }}")
    assert template.render([]) == "    A"


def test_chat_template_exposes_bos_and_eos_tokens() -> None:
    template = _template("{{ bos_token }}|{{ eos_token }}", bos_token="<s>", eos_token="</s>")
    assert template.render([]) == "<s>|</s>"


def test_chat_template_add_generation_prompt_variable_reflects_argument() -> None:
    template = _template("{{ add_generation_prompt }}")
    assert (template.render([]), template.render([], add_generation_prompt=False)) == ("True", "False")


def test_chat_template_tools_are_passed_through() -> None:
    template = _template("{% for tool in tools %}{{ tool | tojson }};{% endfor %}")
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    rendered = template.render([], tools=tools)
    assert [json.loads(part) for part in rendered.split(";") if part] == tools


def test_chat_template_no_tools_is_none() -> None:
    template = _template("{{ tools is none }}")
    assert template.render([]) == "True"


def test_chat_template_extra_variables_reach_template() -> None:
    template = _template("{{ enable_thinking }}")
    assert template.render([], enable_thinking=False) == "False"


# -- {% generation %} blocks (transformers' assistant-mask marks) ----------------------------------------


def test_chat_template_generation_block_renders_its_body() -> None:
    template = _template(
        "{% for message in messages %}<{{ message['role'] }}>{% if message['role'] == 'assistant' %}"
        "{% generation %}{{ message['content'] }}<end>{% endgeneration %}"
        "{% else %}{{ message['content'] }}{% endif %}{% endfor %}"
    )
    messages = [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello."}]
    assert template.render(messages) == "<user>Hi<assistant>Hello.<end>"


def test_chat_template_generation_block_honours_whitespace_control() -> None:
    template = _template("A\n{%- generation -%}\n  B  \n{%- endgeneration -%}\nC")
    assert template.render([]) == "ABC"


def test_chat_template_generation_block_trims_like_other_block_tags() -> None:
    template = _template("X\n    {% generation %}\nB\n    {% endgeneration %}\nC")
    assert template.render([]) == "X\nB\nC"


def test_chat_template_generation_block_sees_loop_variables() -> None:
    template = _template(
        "{% for m in messages %}{% generation %}{{ loop.index }}{{ m.content }}{% endgeneration %}"
        "{% endfor %}"
    )
    assert template.render([{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]) == "1a2b"


def test_chat_template_generation_block_keeps_set_inside_its_scope() -> None:
    template = _template(
        "{% set x = 'out' %}{% generation %}{% set x = 'in' %}{{ x }}{% endgeneration %}|{{ x }}"
    )
    assert template.render([]) == "in|out"


def test_chat_template_generation_block_updates_namespace_outside() -> None:
    template = _template(
        "{% set ns = namespace(n=0) %}{% generation %}{% set ns.n = 2 %}{% endgeneration %}{{ ns.n }}"
    )
    assert template.render([]) == "2"


def test_chat_template_unclosed_generation_block_raises_template_error() -> None:
    with pytest.raises(TemplateError, match="does not compile"):
        _template("{% generation %}{{ messages[0]['content'] }}")


# -- validate ------------------------------------------------------------------------------------------


def test_chat_template_validate_fails_when_content_is_dropped() -> None:
    template = _template("{% for message in messages %}<{{ message['role'] }}>{% endfor %}")
    with pytest.raises(TemplateError, match="without the message content"):
        template.validate()


def test_chat_template_validate_fails_when_template_raises() -> None:
    template = _template("{{ raise_exception('no assistant turns allowed') }}")
    with pytest.raises(TemplateError, match="no assistant turns allowed"):
        template.validate()
