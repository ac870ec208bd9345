"""A model's own chat template (Jinja from GGUF metadata), rendered in a sandbox the way
Hugging Face transformers renders it, so the prompt matches what the model was trained on."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import jinja2
import numpy as np
from jinja2 import nodes
from jinja2.ext import Extension, loopcontrols
from jinja2.parser import Parser
from jinja2.utils import Namespace

from server.templates.sandbox import LimitedSandbox, RenderLimitExceeded, RenderLimits, time_limit

Message = dict[str, Any]

# Rendered once at load so a broken template is reported before the first request.
PROBE_CONVERSATION: list[Message] = [
    {"role": "user", "content": "Hello"},
    {"role": "assistant", "content": "Hi there."},
    {"role": "user", "content": "How are you?"},
]


class TemplateError(ValueError):
    """The template cannot be compiled, or refused these messages (e.g. via raise_exception)."""


def _raise_exception(message: str) -> None:
    raise TemplateError(message)


def _tojson(
    value: Any,
    ensure_ascii: bool = False,
    indent: int | None = None,
    separators: tuple[str, str] | None = None,
    sort_keys: bool = False,
) -> str:
    # Jinja's own tojson escapes HTML characters; templates expect plain JSON.
    return json.dumps(
        value, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys
    )


def _strftime_now(format: str) -> str:
    return datetime.now().strftime(format)


class GenerationBlocks(Extension):
    """`{% generation %}...{% endgeneration %}`: transformers' marks around the assistant's own text,
    used to build training masks. A prompt needs only the text, so the body renders unchanged."""

    tags = {"generation"}  # noqa: RUF012 (Jinja's own declaration style)

    def parse(self, parser: Parser) -> nodes.Node:
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        # A call block, as in transformers, so the body gets its own scope: a `{% set %}` inside stays inside.
        return nodes.CallBlock(self.call_method("_render_body"), [], [], body).set_lineno(lineno)

    def _render_body(self, caller: Callable[[], str]) -> str:
        return caller()


class _TemplateDict:
    """`dict` for templates: builds dicts without handing over the dict type itself."""

    def __call__(self, *args: Any, **kwargs: Any) -> dict[Any, Any]:
        return dict(*args, **kwargs)

    def fromkeys(self, *args: Any, **kwargs: Any) -> dict[Any, Any]:
        return dict.fromkeys(*args, **kwargs)


def _check_namespace_name(name: object) -> None:
    if isinstance(name, str) and name.startswith("_"):
        raise jinja2.exceptions.SecurityError(
            f"chat templates cannot store underscore-prefixed attributes on a namespace, but got {name!r}"
        )


class _TemplateNamespace(Namespace):
    """`namespace()` that refuses underscore-prefixed names, which could shadow Python internals."""

    # Jinja's signature, so that `namespace(self=...)` still works.
    def __init__(*args: Any, **kwargs: Any) -> None:
        self, attrs = args[0], dict(*args[1:], **kwargs)
        for name in attrs:
            _check_namespace_name(name)
        Namespace.__init__(self, attrs)

    def __setitem__(self, name: str, value: Any) -> None:
        _check_namespace_name(name)
        Namespace.__setitem__(self, name, value)


def _environment(limits: RenderLimits) -> LimitedSandbox:
    env = LimitedSandbox(
        limits, trim_blocks=True, lstrip_blocks=True, extensions=[GenerationBlocks, loopcontrols]
    )
    env.filters["tojson"] = _tojson
    env.globals["raise_exception"] = _raise_exception
    env.globals["strftime_now"] = _strftime_now
    env.bound_callables()
    env.globals["dict"] = _TemplateDict()
    env.globals["namespace"] = _TemplateNamespace
    return env


def _plain(value: Any) -> Any:
    """A copy made only of JSON-like types. Templates are untrusted code that may call any method of
    what they are given, so richer objects (enums, numpy scalars, models) never reach them; anything
    unknown becomes a placeholder naming its type, as in transformers."""
    if value is None or type(value) in (str, int, float, bool):
        return value
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):
        return int.__int__(value)
    if isinstance(value, float):
        return float.__float__(value)
    if isinstance(value, Mapping):
        return {_plain(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_plain(item) for item in value]
    if isinstance(value, tuple):
        return tuple(_plain(item) for item in value)
    if isinstance(value, np.generic):
        return _plain(value.item())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: _plain(getattr(value, field.name)) for field in dataclasses.fields(value)}
    if callable(getattr(value, "model_dump", None)):
        return _plain(value.model_dump())
    return f"<{type(value).__name__}>"


# Names a message's earlier reasoning comes under. Templates read the first; gpt-oss reads `thinking`.
REASONING_FIELDS = ("reasoning_content", "thinking", "reasoning")


def _with_reasoning_aliases(message: Any) -> Any:
    if not isinstance(message, dict):
        return message
    reasoning = next((message[key] for key in REASONING_FIELDS if message.get(key) is not None), None)
    if reasoning is None:
        return message
    return {"thinking": reasoning, **message, "reasoning_content": reasoning}


class ChatTemplate:
    def __init__(
        self, source: str, *, bos_token: str, eos_token: str, limits: RenderLimits | None = None
    ) -> None:
        self.source = source
        self.bos_token = bos_token
        self.eos_token = eos_token
        self.limits = limits or RenderLimits()
        try:
            self._template = _environment(self.limits).from_string(source)
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(f"chat template does not compile: {exc.message} (line {exc.lineno})") from exc

    def render(
        self,
        messages: Sequence[Message],
        *,
        add_generation_prompt: bool = True,
        tools: Sequence[dict[str, Any]] | None = None,
        documents: Sequence[dict[str, Any]] | None = None,
        **extra: Any,
    ) -> str:
        # The variables transformers' render_jinja_template passes: `tools=[]` stays a list and
        # `documents` is always defined, since templates test `is none` and `is defined`.
        if documents is not None and not all(isinstance(document, Mapping) for document in documents):
            raise TemplateError("documents must be a list of objects with 'title' and 'text'")
        variables = {
            "messages": [_with_reasoning_aliases(message) for message in _plain(list(messages))],
            "tools": None if tools is None else _plain(list(tools)),
            "documents": None if documents is None else _plain(list(documents)),
            "add_generation_prompt": add_generation_prompt,
            "bos_token": self.bos_token,
            "eos_token": self.eos_token,
            **_plain(extra),
        }
        try:
            with time_limit(self.limits.seconds):
                return self._bounded_output(variables)
        except TemplateError:
            raise
        except RenderLimitExceeded as exc:
            raise TemplateError(f"chat template stopped: {exc}") from exc
        except jinja2.TemplateError as exc:
            raise TemplateError(f"chat template failed to render: {exc}") from exc
        except Exception as exc:
            # Whatever the template's own code raises (TypeError, ZeroDivisionError, RecursionError, ...)
            # is a template that refused these messages, not a server fault.
            raise TemplateError(f"chat template failed to render: {type(exc).__name__}: {exc}") from exc

    def _bounded_output(self, variables: dict[str, Any]) -> str:
        parts: list[str] = []
        num_chars = 0
        for part in self._template.generate(variables):
            num_chars += len(part)
            if num_chars > self.limits.max_chars:
                raise RenderLimitExceeded(
                    f"the output exceeds the template limit of {self.limits.max_chars:,} characters"
                )
            parts.append(part)
        return "".join(parts)

    def validate(self) -> None:
        """Raise TemplateError now rather than at the first request."""
        rendered = self.render(PROBE_CONVERSATION)
        if "How are you?" not in rendered:
            raise TemplateError("chat template renders without the message content")
