"""ChatTemplate renders like Hugging Face transformers: every chat template llama.cpp ships, on a set of
conversations, gives the same text as transformers' own renderer, or both refuse it."""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
import transformers.utils.chat_template_utils as hf_templates
from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedEnvironment

import server.templates.chat_template as chat_template_module
from server.templates.chat_template import ChatTemplate, TemplateError
from server.templates.sandbox import ONE_ITEM_LIST_METHODS
from tests.support.vendored_templates import (
    TemplatesUnavailable,
    fetch_vendored_templates,
    vendored_template,
    vendored_templates_dir,
)

BOS_TOKEN = "<s>"
EOS_TOKEN = "</s>"

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string", "description": "The city, e.g. Paris"}},
            "required": ["city"],
        },
    },
}
TOOL_CALL = {
    "id": "call_1",
    "type": "function",
    "function": {"name": "get_weather", "arguments": {"city": "Paris"}},
}
TOOL_RESULT = {
    "role": "tool",
    "tool_call_id": "call_1",
    "name": "get_weather",
    "content": '{"temperature": 21}',
}
WEATHER_QUESTION = {"role": "user", "content": "What is the weather in Paris?"}

# name -> (messages, tools); every one is rendered with add_generation_prompt=True, as the server does.
CONVERSATIONS: dict[str, tuple[list[dict[str, Any]], list[dict[str, Any]] | None]] = {
    "user": ([{"role": "user", "content": "Hello"}], None),
    "system": ([{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Hello"}], None),
    "multi_turn": (
        [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello."},
            {"role": "user", "content": "How are you?"},
        ],
        None,
    ),
    "non_ascii": ([{"role": "user", "content": "Grüße, 世界 🌍"}], None),
    "tools": ([WEATHER_QUESTION], [WEATHER_TOOL]),
    "tool_call": (
        [WEATHER_QUESTION, {"role": "assistant", "content": "", "tool_calls": [TOOL_CALL]}, TOOL_RESULT],
        [WEATHER_TOOL],
    ),
    # reasoning sent back with a tool call; gpt-oss reads it as `thinking`
    "reasoning_tool_call": (
        [
            WEATHER_QUESTION,
            {
                "role": "assistant",
                "content": "",
                "reasoning_content": "I should look up the weather.",
                "tool_calls": [TOOL_CALL],
            },
            TOOL_RESULT,
        ],
        [WEATHER_TOOL],
    ),
}


def _template_names() -> list[str]:
    # Collected before any test runs. Without the sdist there is nothing to parametrize over, and
    # test_vendored_templates_are_available fails with the reason instead of collection breaking.
    try:
        return sorted(path.stem for path in fetch_vendored_templates().glob("*.jinja"))
    except TemplatesUnavailable:
        return []


TEMPLATE_NAMES = _template_names()


class _FrozenDatetime(datetime):
    @classmethod
    def now(cls, tz: Any = None) -> _FrozenDatetime:
        return cls(2026, 3, 14, 15, 9, 26, tzinfo=tz)


@pytest.fixture(autouse=True)
def _lists_grow_one_item_at_a_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Our sandbox lets a template append to and pop from lists (Kimi K2's templates do, and llama.cpp
    renders them); transformers' refuses. The reference gets the same allowance, and nothing more."""
    strict = ImmutableSandboxedEnvironment.is_safe_attribute

    def is_safe_attribute(self: ImmutableSandboxedEnvironment, obj: Any, attr: str, value: Any) -> bool:
        if isinstance(obj, list) and attr in ONE_ITEM_LIST_METHODS:
            return SandboxedEnvironment.is_safe_attribute(self, obj, attr, value)
        return strict(self, obj, attr, value)

    monkeypatch.setattr(ImmutableSandboxedEnvironment, "is_safe_attribute", is_safe_attribute)


@pytest.fixture(autouse=True)
def _same_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    """strftime_now must give both renderers the same date, even across midnight."""
    monkeypatch.setattr(chat_template_module, "datetime", _FrozenDatetime)
    monkeypatch.setattr(hf_templates, "datetime", _FrozenDatetime)


Outcome = str | Exception


def _outcome(render: Callable[[], str]) -> Outcome:
    try:
        return render()
    except Exception as exc:
        return exc


@functools.cache
def _compiled(source: str) -> ChatTemplate | TemplateError:
    # Compiled once per template, as transformers caches its own.
    try:
        return ChatTemplate(source, bos_token=BOS_TOKEN, eos_token=EOS_TOKEN)
    except TemplateError as exc:
        return exc


def _ours(source: str, messages: list[dict[str, Any]], **variables: Any) -> Outcome:
    template = _compiled(source)
    if isinstance(template, TemplateError):
        return template
    return _outcome(lambda: template.render(copy.deepcopy(messages), **variables))


def _transformers(source: str, messages: list[dict[str, Any]], **variables: Any) -> Outcome:
    def render() -> str:
        rendered, _generation_indices = hf_templates.render_jinja_template(
            [copy.deepcopy(messages)],
            chat_template=source,
            bos_token=BOS_TOKEN,
            eos_token=EOS_TOKEN,
            **variables,
        )
        return rendered[0]

    return _outcome(render)


def _assert_same(ours: Outcome, reference: Outcome) -> None:
    if isinstance(ours, Exception) or isinstance(reference, Exception):
        # A template may refuse a conversation; it must then refuse it under both, and ours says so
        # with a TemplateError.
        assert isinstance(ours, TemplateError), f"ours gave {ours!r}, transformers gave {reference!r}"
        assert isinstance(reference, Exception), f"ours raised {ours!r}, transformers rendered {reference!r}"
    else:
        assert ours == reference


@functools.cache
def _source(name: str) -> str:
    return vendored_template(name)


def test_vendored_templates_are_available() -> None:
    assert any(vendored_templates_dir().glob("*.jinja"))


@pytest.mark.parametrize(
    ("name", "conversation"),
    [
        pytest.param(name, conversation, id=f"{name}/{conversation}")
        for name in TEMPLATE_NAMES
        for conversation in CONVERSATIONS
    ],
)
def test_vendored_template_renders_like_transformers(name: str, conversation: str) -> None:
    messages, tools = CONVERSATIONS[conversation]
    variables = {"tools": tools, "add_generation_prompt": True}
    ours = _ours(_source(name), messages, **variables)
    reference = _transformers(_source(name), messages, **variables)
    _assert_same(ours, reference)
    if isinstance(reference, Exception):
        assert str(reference) in str(ours)  # refused for the same reason, in the template's own words


# -- the differences that once were, each on a template made to show it ------------------------------------


def _assert_renders_like_transformers(source: str, messages: list[dict[str, Any]], **variables: Any) -> None:
    _assert_same(_ours(source, messages, **variables), _transformers(source, messages, **variables))


USER_HELLO = [{"role": "user", "content": "Hello"}]


def test_parity_generation_block_renders_body_in_own_scope() -> None:
    source = (
        "{% set x = 'outer' %}{% for m in messages %}{% generation %}{% set x = 'inner' %}"
        "{{ m.content }}|{{ x }}{% endgeneration %}{% endfor %}|{{ x }}"
    )
    _assert_renders_like_transformers(source, USER_HELLO)


def test_parity_empty_tools_list_stays_a_list() -> None:
    source = "{{ tools is none }}|{{ tools | tojson }}"
    _assert_renders_like_transformers(source, USER_HELLO, tools=[])


def test_parity_documents_is_defined_and_none() -> None:
    _assert_renders_like_transformers("{{ documents is defined }}|{{ documents is none }}", USER_HELLO)


def test_parity_documents_are_passed_through() -> None:
    documents = [{"title": "Paris", "text": "Capital of France."}]
    source = "{% for d in documents %}{{ d.title }}: {{ d.text }}{% endfor %}"
    _assert_renders_like_transformers(source, USER_HELLO, documents=documents)


def test_parity_documents_that_are_not_objects_raise_under_both() -> None:
    _assert_renders_like_transformers("{{ documents }}", USER_HELLO, documents=["Paris"])


@pytest.mark.parametrize("field", ["reasoning_content", "thinking", "reasoning"])
def test_parity_reasoning_is_aliased_under_every_name(field: str) -> None:
    messages = [{"role": "assistant", "content": "Hi.", field: "Be kind."}]
    source = (
        "{% for m in messages %}{{ m.reasoning_content }}|{{ m.thinking }}|{{ m.reasoning is defined }}"
        "{% endfor %}"
    )
    _assert_renders_like_transformers(source, messages)


def test_parity_namespace_refuses_underscore_names_at_creation() -> None:
    _assert_renders_like_transformers("{% set ns = namespace(_x=1) %}{{ ns._x }}", USER_HELLO)


def test_parity_namespace_refuses_underscore_names_on_assignment() -> None:
    _assert_renders_like_transformers("{% set ns = namespace() %}{% set ns._x = 1 %}ok", USER_HELLO)


def test_parity_namespace_keeps_plain_names() -> None:
    source = (
        "{% set ns = namespace(n=0) %}{% for m in messages %}{% set ns.n = ns.n + 1 %}{% endfor %}{{ ns.n }}"
    )
    _assert_renders_like_transformers(source, USER_HELLO * 3)


def test_parity_dict_builds_dicts_and_fromkeys() -> None:
    source = "{{ dict(a=1, b=2) | tojson }}|{{ dict.fromkeys(['x', 'y'], 0) | tojson }}"
    _assert_renders_like_transformers(source, USER_HELLO)


def test_parity_dict_fromkeys_takes_no_keywords() -> None:
    _assert_renders_like_transformers("{{ dict.fromkeys(['x'], value=0) }}", USER_HELLO)


def test_parity_dict_type_is_not_reachable() -> None:
    _assert_renders_like_transformers("{{ dict.items }}", USER_HELLO)


class _TaggedStr(str):
    """A str subclass with its own methods, like an enum member or a numpy string."""

    def __str__(self) -> str:
        return "tagged"


def test_parity_str_subclass_renders_as_plain_string() -> None:
    _assert_renders_like_transformers(
        "{{ messages[0].role }}", [{"role": _TaggedStr("user"), "content": "Hi"}]
    )


def test_parity_unknown_object_becomes_type_placeholder() -> None:
    _assert_renders_like_transformers("{{ messages[0].content }}", [{"role": "user", "content": object()}])


def test_parity_extra_variables_are_plain_data() -> None:
    _assert_renders_like_transformers("{{ flag }}|{{ role }}", USER_HELLO, flag=True, role=_TaggedStr("user"))


def test_parity_python_error_in_template_raises_under_both() -> None:
    _assert_renders_like_transformers("{{ 1 / 0 }}", USER_HELLO)
