"""Target payload templates: Jinja2 in a sandbox, rendering JSON.

Templates are compiled once at config load in an `ImmutableSandboxedEnvironment`:
no access to Python internals, no file or network access, and nothing they can
mutate. On top of Jinja's sandbox, each render has a budget: loops through
`range` and repetition of strings are counted, and the output is capped, so a
template that would loop for ever or build a huge string fails its reaction
instead of stalling the worker. Undefined values are errors (`default` gives
a fallback), and the output must parse as JSON.
"""

from __future__ import annotations

import contextvars
import functools
import operator
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import jinja2
import orjson
from jinja2 import nodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

from reactor.clock import parse_instant
from reactor.errors import TemplateError

__all__ = ["MAX_OUTPUT", "MAX_STEPS", "Template", "TemplateSyntaxProblem", "compile_template"]

#: Loop iterations (through `range`) and repeated characters allowed per render.
MAX_STEPS = 100_000
#: Characters a rendered payload may have.
MAX_OUTPUT = 1_000_000

_budget: contextvars.ContextVar[list[int]] = contextvars.ContextVar("template_budget")


class _BudgetExceeded(Exception):
    pass


def _charge(amount: int) -> None:
    left = _budget.get()
    left[0] -= amount
    if left[0] < 0:
        raise _BudgetExceeded(f"template exceeded its budget of {MAX_STEPS} steps")


def _range(*args: int) -> Iterator[int]:
    for number in range(*args):
        _charge(1)
        yield number


class _Undefined(jinja2.ChainableUndefined, jinja2.StrictUndefined):
    """`a.b.c | default(x)` works when `a` is missing; using a missing value
    in any other way (printing, `tojson`, comparing) is an error."""


def _tojson(value: Any) -> str:
    # The output is JSON, not HTML, so no HTML escaping (unlike Jinja's own tojson).
    if isinstance(value, jinja2.Undefined):
        value._fail_with_undefined_error()
    try:
        return orjson.dumps(value).decode()
    except TypeError as exc:
        raise TemplateError(f"tojson: {exc}") from None


def _date(value: Any, fmt: str = "%Y-%m-%d") -> str:
    if not isinstance(value, str):
        raise TemplateError(f"date: expected an RFC 3339 string, got {value!r}")
    try:
        return parse_instant(value).strftime(fmt)
    except ValueError as exc:
        raise TemplateError(f"date: {exc}") from None


def _money(value: Any, currency: str | None = None) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TemplateError(f"money: expected a number, got {value!r}")
    text = f"{value:,.2f}"
    return f"{currency} {text}" if currency else text


def _check_sizes(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    # Widths and counts given to filters and methods (`center(10**9)`,
    # `"{:>999999999}".format`) would allocate before any budget could stop them.
    for value in (*args, *kwargs.values()):
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_STEPS:
            raise _BudgetExceeded(f"number {value} is larger than templates allow ({MAX_STEPS})")


def _guarded(function: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(function)
    def call(*args: Any, **kwargs: Any) -> Any:
        _check_sizes(args[1:], kwargs)
        return function(*args, **kwargs)

    return call


_WIDE_FORMAT = re.compile(r"[%{][^%{}]*?\d{6,}")


class _Environment(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "%"})

    def call(self, context: Any, obj: Any, *args: Any, **kwargs: Any) -> Any:
        _check_sizes(args, kwargs)
        return super().call(context, obj, *args, **kwargs)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        template = getattr(value, "__self__", None)
        if isinstance(template, str) and _WIDE_FORMAT.search(template):
            raise _BudgetExceeded("format width too large in template")
        return super().wrap_str_format(value)

    def call_binop(self, context: Any, op: str, left: Any, right: Any) -> Any:
        if op == "%":
            if isinstance(left, str) and _WIDE_FORMAT.search(left):
                raise _BudgetExceeded("format width too large in template")
            return operator.mod(left, right)
        if op == "**":
            if isinstance(right, int | float) and right > 64:
                raise _BudgetExceeded("exponent too large in template")
            return operator.pow(left, right)
        if op == "*":
            for seq, times in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and isinstance(times, int):
                    _charge(len(seq) * max(times, 0))
            return operator.mul(left, right)
        return super().call_binop(context, op, left, right)


def _environment() -> _Environment:
    env = _Environment(
        undefined=_Undefined,
        autoescape=False,
        keep_trailing_newline=False,
        # Templates come from the config root only, compiled from text: no loader,
        # so `include`/`import`/`extends` cannot read files.
        loader=None,
    )
    env.filters = {name: _guarded(f) for name, f in env.filters.items()}
    env.filters["tojson"] = _tojson
    env.filters["date"] = _date
    env.filters["money"] = _money
    # Jinja's defaults minus `lipsum` (unbounded text); `range` is counted.
    env.globals = {name: env.globals[name] for name in ("dict", "cycler", "joiner", "namespace")}
    env.globals["range"] = _range
    return env


_ENV = _environment()


@dataclass(frozen=True, slots=True)
class TemplateSyntaxProblem:
    """A template that does not compile; `line` is 1-based within the template."""

    message: str
    line: int


@dataclass(frozen=True, slots=True)
class Template:
    """A compiled payload template. `where` is the file (or YAML place) it came from."""

    where: str
    _render: Callable[[Mapping[str, Any]], Iterator[str]] = field(repr=False, compare=False)

    def render(self, context: Mapping[str, Any]) -> Any:
        """Render with `context` and return the parsed JSON payload.

        Raises `TemplateError` for any failure: undefined value, sandbox
        violation, budget exceeded, or output that is not JSON.
        """
        token = _budget.set([MAX_STEPS])
        try:
            parts: list[str] = []
            size = 0
            for chunk in self._render(context):
                size += len(chunk)
                if size > MAX_OUTPUT:
                    raise _BudgetExceeded(f"template output exceeded {MAX_OUTPUT} characters")
                parts.append(chunk)
            text = "".join(parts)
        except TemplateError as exc:
            raise TemplateError(f"{self.where}: {exc.message}", path=self.where) from None
        except _BudgetExceeded as exc:
            raise TemplateError(f"{self.where}: {exc}", code="budget_exceeded", path=self.where) from None
        except jinja2.UndefinedError as exc:
            raise TemplateError(
                f"{self.where}: {exc.message} (use `| default(...)` for optional values)",
                code="missing_value",
                path=self.where,
            ) from None
        except jinja2.exceptions.SecurityError as exc:
            raise TemplateError(f"{self.where}: sandbox: {exc}", code="sandbox", path=self.where) from None
        except Exception as exc:  # any other failure inside template code fails only this render
            raise TemplateError(f"{self.where}: {type(exc).__name__}: {exc}", path=self.where) from None
        finally:
            _budget.reset(token)
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise TemplateError(
                f"{self.where}: rendered text is not valid JSON: {exc}", code="invalid_json", path=self.where
            ) from None


def compile_template(source: str, where: str) -> Template | TemplateSyntaxProblem:
    """Compile template text, or describe why it does not compile."""
    try:
        tree = _ENV.parse(source)
        for node in tree.find_all((nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends)):
            return TemplateSyntaxProblem(
                "include, import and extends are not available: a template is one file", node.lineno
            )
        compiled = _ENV.from_string(tree)
    except jinja2.TemplateSyntaxError as exc:
        return TemplateSyntaxProblem(exc.message or str(exc), exc.lineno or 1)
    return Template(where, compiled.generate)
