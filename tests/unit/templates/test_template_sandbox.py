"""Untrusted chat templates: loops, huge values and sandbox escapes fail with a clear TemplateError,
quickly, and no template reads the process's environment or Python internals."""

from __future__ import annotations

import time

import pytest

from server.templates.chat_template import ChatTemplate, TemplateError
from server.templates.sandbox import RenderLimits

MESSAGES = [{"role": "user", "content": "hi"}]
SECRET = "sk-local-secret-4242"
# Generous: the limit is 1 s, the machine is shared; the point is "not forever".
PROMPT_SECONDS = 5.0

RUNAWAY = {
    "growing a list one item at a time": (
        "{% set x = [] %}{% for i in range(4000) %}{% for j in range(4000) %}"
        "{% set _ = x.append(j) %}{% endfor %}{% endfor %}"
    ),
    "nested loops": "{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}",
    "recursive macro": "{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}",
    "recursive loop": "{% for x in [[1]] recursive %}{{ loop([[x]]) }}{% endfor %}",
    "string repetition": "{{ 'x' * 1000000000 }}",
    "list repetition": "{{ ([1] * 100000) * 100000 }}",
    "repeated big item": "{{ (['x' * 3999999] * 1000)|join }}",
    "percent width": "{{ '%999999999d' % 1 }}",
    "format width": "{{ '{:>999999999}'.format(1) }}",
    "format filter width": "{{ '%999999999d'|format(1) }}",
    "center filter": "{{ ' '|center(1000000000) }}",
    "indent filter": "{{ 'a'|indent(1000000000) }}",
    "ljust method": "{{ 'a'.ljust(1000000000) }}",
    "expandtabs method": "{{ 'a\tb'.expandtabs(1000000000) }}",
    "batch filter": "{{ [1]|batch(1000000000)|list }}",
    "lipsum": "{{ lipsum(1000000000) }}",
    "power": "{{ 10 ** 1000000000 }}",
    "tilde doubling": "{% set ns = namespace(s='x') %}{% for i in range(40) %}"
    "{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s|length }}",
    "plus doubling": "{% set ns = namespace(s='x') %}{% for i in range(40) %}"
    "{% set ns.s = ns.s + ns.s %}{% endfor %}{{ ns.s|length }}",
    "replace method": "{{ ('x' * 100000).replace('x', 'x' * 100000)|length }}",
    "replace filter": "{{ ('x' * 100000)|replace('x', 'x' * 100000)|length }}",
    "replace empty": "{{ ('x' * 100000).replace('', 'y' * 1000)|length }}",
    "join method": "{{ ('x' * 100000).join(['y' * 1000] * 1000)|length }}",
    "huge output": "{% for i in range(100000) %}{{ 'y' * 100 }}{% endfor %}",
}

# Known server-side template injection payloads. The sandbox refuses them, or an unsafe attribute reads
# as undefined, which renders as nothing.
ESCAPES = {
    "str subclasses": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "cycler globals": "{{ cycler.__init__.__globals__.os.environ }}",
    "joiner globals": "{{ joiner.__init__.__globals__ }}",
    "lipsum globals": "{{ lipsum.__globals__['os'].environ }}",
    "namespace globals": "{{ namespace.__init__.__globals__ }}",
    "self globals": "{{ self.__init__.__globals__ }}",
    "format attribute": "{{ '{0.__class__.__mro__}'.format('') }}",
    "attr filter": "{{ (''|attr('__class__')).__mro__[1].__subclasses__() }}",
    "namespace underscore": "{% set ns = namespace(__class__=1) %}{{ ns }}",
    "dict internals": "{{ dict.__call__.__globals__ }}",
    "raise_exception globals": "{{ raise_exception.__globals__ }}",
    "wrapped function": "{{ raise_exception.__wrapped__.__globals__ }}",
    "tojson class": "{{ (messages|tojson).__class__ }}",
    "format filter": "{{ '%s'|format(cycler.__init__) }}",
    "unknown names": "{{ config }}{{ request }}{{ settings }}{{ environ }}{{ os }}{{ __builtins__ }}",
    "environment object": "{{ environment }}{{ context }}{{ self._TemplateReference__context }}",
}
# What a leak would look like in the output: a Python object's repr or the secret itself.
LEAK_MARKERS = (SECRET, "<function", "<class", "<module", "<built-in", "environ(")


def _render(source: str, limits: RenderLimits | None = None) -> str:
    return ChatTemplate(source, bos_token="<s>", eos_token="</s>", limits=limits).render(MESSAGES)


@pytest.mark.parametrize("source", RUNAWAY.values(), ids=RUNAWAY.keys())
def test_runaway_template_fails_quickly_with_a_clear_error(source: str) -> None:
    started = time.monotonic()
    with pytest.raises(TemplateError) as caught:
        _render(source)
    assert time.monotonic() - started < PROMPT_SECONDS
    message = str(caught.value)
    assert "limit" in message or "longer than" in message or "RecursionError" in message, message


def test_looping_template_is_stopped_at_its_time_limit() -> None:
    with pytest.raises(TemplateError, match=r"ran longer than 0\.2 s"):
        _render(RUNAWAY["nested loops"], RenderLimits(seconds=0.2))


@pytest.mark.parametrize("source", ESCAPES.values(), ids=ESCAPES.keys())
def test_template_cannot_reach_python_internals_or_the_environment(
    source: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOCALCHAT_API_KEY", SECRET)
    try:
        rendered = _render(source)
    except TemplateError as exc:
        assert "unsafe" in str(exc) or "underscore" in str(exc) or "undefined" in str(exc), exc
        return
    assert not any(marker in rendered for marker in LEAK_MARKERS), rendered


def test_limits_are_the_settings_values() -> None:
    small = RenderLimits(max_chars=2000)
    with pytest.raises(TemplateError, match="2,000 characters"):
        _render("{{ 'x' * 3000 }}", small)
    assert _render("{{ 'x' * 1500 }}", small) == "x" * 1500


def test_legitimate_templates_handle_long_conversations() -> None:
    long_text = "word " * 600_000  # 3 million characters, under the 4 million default
    source = (
        "{% for m in messages %}{{ m.content.split('</think>')[-1]|replace('\\n', ' ')|trim }}"
        "{{ '%05d'|format(loop.index) }}{% endfor %}"
    )
    template = ChatTemplate(source, bos_token="<s>", eos_token="</s>")
    rendered = template.render([{"role": "user", "content": long_text}])
    assert rendered == long_text.strip() + "00001"
