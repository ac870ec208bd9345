"""The sandbox a chat template runs in, with limits: a template is a program from a downloaded file.

Jinja's immutable sandbox already stops attribute tricks (`__class__`, `__globals__`, ...) and
mutation, but for a list's `append` and `pop`, which real templates use. What it does not
stop is a template that runs forever (nested `range(100000)` loops, recursive macros) or builds a
gigabyte string in one step (`"x" * 10**9`, `"%999999999d" % 1`, `" "|center(10**9)`, doubling a
string with `~`). Both would hold the server: rendering runs on the event loop.

- Time: while a template renders, a trace function watches the template's own frames and stops the
  render at its deadline. Jinja compiles every loop body into those frames, so no loop escapes it.
- Size: every operation that can make something large in one step is checked before it runs:
  `+`, `*`, `%` and `**`, `~` concatenation, `str.format`, and integer arguments of every call and
  filter (`center(10**9)`, `lipsum(10**9)`, `batch(10**9)`).
"""

from __future__ import annotations

import functools
import math
import re
import sys
import time
from collections.abc import Callable, Iterator, Sized
from contextlib import contextmanager
from dataclasses import dataclass
from types import BuiltinFunctionType, FrameType, FunctionType
from typing import Any

from jinja2 import nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.nodes import EvalContext
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedEnvironment

# The file name Jinja gives the code it compiles from a string.
TEMPLATE_FILENAME = "<template>"
# List methods a template may call although they mutate: each changes a list by one item, so the clock
# bounds what they can grow. Kimi K2's templates queue tool-call ids with them. A template only ever
# holds its own lists or this render's copy of the request, so nothing outside the render changes.
ONE_ITEM_LIST_METHODS = frozenset({"append", "pop"})
# Width or precision digits in a %-format or str.format spec ("%999999999d", "{:>999999999}").
_FORMAT_NUMBER = re.compile(r"\d{7,}")


@dataclass(frozen=True)
class RenderLimits:
    # Wall-clock seconds one render may take.
    seconds: float = 1.0
    # Characters any one value a template builds may hold, its output included.
    max_chars: int = 4_000_000


class RenderLimitExceeded(SecurityError):
    """A template ran past its time or built something too large."""


def _size(value: Any) -> int:
    return len(value) if isinstance(value, Sized) else 0


def _deep_size(value: Any) -> int:
    """Characters a list holds, counting each item; one reference repeated still renders in full."""
    if isinstance(value, list | tuple):
        return len(value) + sum(_size(item) for item in value)
    return _size(value)


def _joined_size(items: Any, separator: Any) -> int:
    if not isinstance(items, list | tuple):
        return 0  # a generator or range: as long as the loop that made it, which the clock bounds
    return _size(separator) * len(items) + sum(len(str(item)) for item in items)


def _replaced_size(text: Any, old: Any, new: Any) -> int:
    if not (isinstance(text, str) and isinstance(old, str) and isinstance(new, str)):
        return 0
    growth = max(0, len(new) - len(old))
    # An empty `old` matches between every character.
    matches = len(text) + 1 if not old else text.count(old)
    return len(text) + matches * growth


def _is_jinja_state(value: Any) -> bool:
    # What Jinja passes first to filters marked pass_environment / pass_eval_context / pass_context.
    from jinja2 import Environment

    return isinstance(value, Environment | EvalContext | Context)


class _LimitedCodeGenerator(CodeGenerator):
    """Compiles `a ~ b` to a checked join; Jinja's own `str_join` would build any size."""

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.checked_concat((")
        for argument in node.nodes:
            self.visit(argument, frame)
            self.write(", ")
        self.write("))")


class LimitedSandbox(ImmutableSandboxedEnvironment):
    code_generator_class = _LimitedCodeGenerator
    intercepted_binops = frozenset({"+", "*", "%", "**"})

    def __init__(self, limits: RenderLimits, **options: Any) -> None:
        super().__init__(**options)
        self.limits = limits

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if isinstance(obj, list) and attr in ONE_ITEM_LIST_METHODS:
            return SandboxedEnvironment.is_safe_attribute(self, obj, attr, value)
        return super().is_safe_attribute(obj, attr, value)

    def _refuse(self, what: str) -> RenderLimitExceeded:
        limit = self.limits.max_chars
        return RenderLimitExceeded(f"{what} exceeds the template limit of {limit:,} characters")

    def _check_size(self, size: float, what: str) -> None:
        if size > self.limits.max_chars:
            raise self._refuse(what)

    def _check_arguments(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        # No call a chat template needs takes a count this large; those that do (padding, repeats,
        # random text) would build a value that size.
        for value in (*args, *kwargs.values()):
            if isinstance(value, int) and not isinstance(value, bool) and abs(value) > self.limits.max_chars:
                raise self._refuse(f"an argument of {value:,}")

    def checked_concat(self, values: tuple[Any, ...]) -> str:
        parts = [str(value) for value in values]
        self._check_size(sum(map(len, parts)), "a joined string")
        return "".join(parts)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "+":
            self._check_size(_size(left) + _size(right), "a sum")
        elif operator == "*":
            for sequence, count in ((left, right), (right, left)):
                if isinstance(count, int) and _size(sequence):
                    self._check_size(_deep_size(sequence) * count, "a repetition")
        elif operator == "%" and isinstance(left, str) and _FORMAT_NUMBER.search(left):
            raise self._refuse("a %-format width")
        elif operator == "**" and isinstance(left, int) and isinstance(right, int) and abs(left) > 1:
            # The result's digit count, without computing a number that could take minutes.
            self._check_size(right * math.log10(abs(left)), "a power")
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        __self._check_arguments(args, kwargs)
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, str) and args:
            # The two str methods that can multiply their input: "x".join(...) and s.replace("", big).
            name = getattr(__obj, "__name__", "")
            if name == "join":
                __self._check_size(_joined_size(args[0], owner), "a joined string")
            elif name == "replace" and len(args) >= 2:
                __self._check_size(_replaced_size(owner, args[0], args[1]), "a replaced string")
        return super().call(__context, __obj, *args, **kwargs)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        owner = getattr(value, "__self__", None)
        if isinstance(owner, str) and _FORMAT_NUMBER.search(owner):
            raise self._refuse("a format width")
        return super().wrap_str_format(value)

    def bound_callables(self) -> None:
        """Route every filter and global function through the checks: Jinja calls filters directly,
        not through `call`."""
        for table in (self.filters, self.globals):
            for name, value in list(table.items()):
                if isinstance(value, FunctionType | BuiltinFunctionType):
                    table[name] = self._checked(name, value)

    def _checked(self, name: str, function: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(function)
        def checked(*args: Any, **kwargs: Any) -> Any:
            self._check_arguments(args, kwargs)
            self._check_filter(name, [arg for arg in args if not _is_jinja_state(arg)], kwargs)
            return function(*args, **kwargs)

        return checked

    def _check_filter(self, name: str, args: list[Any], kwargs: dict[str, Any]) -> None:
        if not args:
            return
        if name == "join":
            separator = args[1] if len(args) > 1 else kwargs.get("d", "")
            self._check_size(_joined_size(args[0], separator), "a joined string")
        elif name == "replace" and len(args) >= 3:
            self._check_size(_replaced_size(args[0], args[1], args[2]), "a replaced string")
        elif name == "format" and isinstance(args[0], str) and _FORMAT_NUMBER.search(args[0]):
            raise self._refuse("a format width")


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Stop a render that outlives `seconds` by raising inside the template's own code."""
    deadline = time.monotonic() + seconds

    def on_line(frame: FrameType, event: str, arg: Any) -> Any:
        if time.monotonic() > deadline:
            raise RenderLimitExceeded(f"the template ran longer than {seconds:g} s")
        return on_line

    def on_call(frame: FrameType, event: str, arg: Any) -> Any:
        # Only the template's frames are traced line by line; library code runs at full speed.
        if frame.f_code.co_filename == TEMPLATE_FILENAME:
            return on_line(frame, event, arg)
        return None

    previous = sys.gettrace()
    sys.settrace(on_call)
    try:
        yield
    finally:
        sys.settrace(previous)
