"""Target payload templates: Jinja2 in a sandbox, rendering JSON, within a budget.

Templates are compiled once at config load in an `ImmutableSandboxedEnvironment`:
no access to Python internals, no file or network access, nothing they can
mutate. On top of Jinja's sandbox, every render has a budget (the bounds are the
`MAX_*` constants below, and the README's "Templates" section):

- every value a template builds is checked where it grows: `~` and `+`, `*` and
  `**`, list/tuple/dict literals, slices, every filter, method and macro
  result, `format` and `%`, `{% set %}` block captures, namespace attributes,
  and printing. A string has at most `MAX_LENGTH` characters, a list or dict at
  most `MAX_LENGTH` characters when printed, an integer at most `MAX_INT_BITS`
  bits; operations whose result could be far larger than their inputs (`*`,
  `**`, `replace`, `join`, `indent`, `wordwrap`, `format`, `%`, `split`) are
  checked before they run. All that is built is charged to `MAX_BUILT`.
- every `for` iteration (over anything, at any depth), every item a filter
  walks through and every operation (a filter, method or macro call, an
  operator, a literal) counts against `MAX_STEPS`, the costly ones more
  (`_CALL_STEPS`, `_LOOKUP_STEPS`);
- a backstop: `MAX_CPU_SECONDS` of this thread's CPU time, read every
  `_CLOCK_EVERY` steps, for whatever the counters do not see.

The counters are deterministic: the same template and context give the same
outcome in replay and on the worker. Past a bound the render fails with
`TemplateError(code="budget_exceeded")`, which fails the reaction.

Only JSON-like values print: text, numbers, booleans, none, and lists and dicts
of those. Printing, `~`, `string`, `format` or `%` of anything else (a method,
a macro, `loop`, a namespace) is `TemplateError(code="unprintable")`, so no
Python repr (with its memory address) reaches a payload. In `a.b` a dict's key
wins over a method of the same name (`transaction.items` is the data).
Undefined values are errors (`default` gives a fallback), and the output must
parse as JSON.
"""

from __future__ import annotations

import contextvars
import difflib
import functools
import re
import string
import time
import types
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import jinja2
import orjson
from jinja2 import meta, nodes
from jinja2.compiler import CodeGenerator, Frame
from jinja2.runtime import LoopContext, Macro
from jinja2.sandbox import ImmutableSandboxedEnvironment, SandboxedFormatter
from jinja2.utils import Joiner, Namespace
from markupsafe import EscapeFormatter, Markup

from reactor.clock import parse_instant
from reactor.errors import TemplateError

__all__ = [
    "MAX_BUILT",
    "MAX_CPU_SECONDS",
    "MAX_INT_BITS",
    "MAX_LENGTH",
    "MAX_OUTPUT",
    "MAX_STEPS",
    "MAX_WIDTH",
    "ContextRead",
    "Template",
    "TemplateSyntaxProblem",
    "compile_template",
]

#: Loop iterations (every `for`, nested or not), items walked by filters and
#: methods, and operations (filter, method and macro calls, operators,
#: literals), per render.
MAX_STEPS = 100_000
#: Characters a rendered payload may have.
MAX_OUTPUT = 1_000_000
#: Characters in any string a template builds; a list or dict may print to at most this many.
MAX_LENGTH = 1_000_000
#: Characters and items a render may build in all (strings, lists, dicts, printed values).
MAX_BUILT = 4_000_000
#: Widths, counts and precisions given to filters, methods and format specs.
MAX_WIDTH = 100_000
#: Bits of an integer a template computes: what a JSON payload carries exactly
#: (orjson refuses larger integers, and reads larger printed ones as floats).
MAX_INT_BITS = 64
#: CPU time (of the rendering thread) a render may take: a backstop for what
#: the counters above do not see, read every `_CLOCK_EVERY` steps.
MAX_CPU_SECONDS = 0.5

_CLOCK_EVERY = 16
_V = TypeVar("_V")
#: Steps a macro call (or a recursive loop's `loop(...)`) counts: about ten
#: times an operation's CPU time.
_CALL_STEPS = 10
#: Steps Jinja's sandboxed lookup of an attribute (not a dict key) counts.
_LOOKUP_STEPS = 5


class _BudgetExceeded(Exception):
    pass


class _Unprintable(Exception):
    pass


class _Budget:
    """What is left of one render's budget, and the sizes of values seen so far."""

    __slots__ = ("built", "check_at", "deadline", "sizes", "steps")

    def __init__(self) -> None:
        self.steps = MAX_STEPS
        self.built = MAX_BUILT
        self.check_at = MAX_STEPS - _CLOCK_EVERY  # read the clock when `steps` falls below
        self.deadline = time.thread_time() + MAX_CPU_SECONDS
        # id -> (value, printed size, plain): the value is kept so that its id
        # stays its own until the render ends.
        self.sizes: dict[int, tuple[Any, int, bool]] = {}

    def charge(self, steps: int = 1, built: int = 0) -> None:
        """Charge `steps` against `MAX_STEPS` and `built` (characters or items)
        against `MAX_BUILT`."""
        self.steps -= steps
        self.built -= built
        if self.steps < self.check_at or self.built < 0:
            self.settle()

    def settle(self) -> None:
        """Raise if a counter ran out; every `_CLOCK_EVERY` steps, read the clock."""
        if self.steps < 0:
            raise _BudgetExceeded(
                f"template exceeded its budget of {MAX_STEPS:,} steps"
                " (loop iterations, items walked, operations)"
            )
        if self.built < 0:
            raise _BudgetExceeded(f"template built more than {MAX_BUILT:,} characters and items in all")
        if self.steps < self.check_at:
            self.check_at = max(self.steps - _CLOCK_EVERY, 0)  # and never miss the end
            if time.thread_time() > self.deadline:
                raise _BudgetExceeded(f"template took more than {MAX_CPU_SECONDS} s of CPU time")


_budget: contextvars.ContextVar[_Budget] = contextvars.ContextVar("template_budget")


# -- Sizes and printability -------------------------------------------------------------------

_SCALAR_SIZES: dict[type, int] = {float: 24, bool: 5, type(None): 4}


def _size(value: Any, budget: _Budget) -> tuple[int, bool]:
    """An upper bound on the length of `str(value)` (near its JSON length too),
    and whether it is JSON-like (text, numbers, booleans, none, and lists,
    tuples and dicts of those). The walk stops past `MAX_LENGTH`; containers
    are remembered for the render, so a value shared many times (`[a, a]`) is
    walked once, and a structure that doubles at each level is caught early."""
    kind = type(value)
    if kind is str:
        return len(value) + 2, True
    if kind is int:
        return value.bit_length() // 3 + 2, True
    scalar = _SCALAR_SIZES.get(kind)
    if scalar is not None:
        return scalar, True
    if isinstance(value, str):  # Markup
        return len(value) + 2, True
    if not isinstance(value, list | tuple | dict):
        return 32, False
    known = budget.sizes.get(id(value))
    if known is not None and known[0] is value:
        return known[1], known[2]
    plain = kind is list or kind is tuple or kind is dict
    if isinstance(value, dict):
        total, plain = _add_sizes(value.keys(), 2, plain, budget)
        total, plain = _add_sizes(value.values(), total, plain, budget)
    else:
        total, plain = _add_sizes(value, 2, plain, budget)
    budget.sizes[id(value)] = (value, total, plain)
    return total, plain


def _add_sizes(items: Iterable[Any], total: int, plain: bool, budget: _Budget) -> tuple[int, bool]:
    for item in items:
        kind = type(item)
        if kind is str:  # text and numbers inline: this loop runs on every container a filter makes
            total += len(item) + 4
        elif kind is int:
            total += item.bit_length() // 3 + 4
        elif kind is float:
            total += 26
        else:
            item_size, item_plain = _size(item, budget)
            total += item_size + 2
            plain = plain and item_plain
        if total > MAX_LENGTH:
            break
    return total, plain


def _culprit(value: Any, budget: _Budget) -> Any:
    """The first value inside `value` that is not JSON-like."""
    if isinstance(value, str | int | float | type(None)):
        return None
    if type(value) in (list, tuple, dict):
        for item in [*value.keys(), *value.values()] if isinstance(value, dict) else value:
            if not _size(item, budget)[1]:
                return _culprit(item, budget)
        return None
    return value


def _require_plain(value: Any, budget: _Budget) -> int:
    """Check `value` may be turned into text, and return its printed size.

    An undefined value fails as undefined (`missing_value`); anything else not
    JSON-like is `_Unprintable`, and a value too large to print `_BudgetExceeded`.
    """
    if type(value) is str:  # at most MAX_LENGTH already, as every string built is
        return len(value)
    size, plain = _size(value, budget)
    if size > MAX_LENGTH:
        raise _BudgetExceeded(f"a value of more than {MAX_LENGTH:,} characters when printed")
    if not plain:
        culprit = _culprit(value, budget)
        if isinstance(culprit, jinja2.Undefined):
            culprit._fail_with_undefined_error()
        raise _Unprintable(
            f"cannot turn a {type(culprit).__name__} into text: templates print only text,"
            " numbers, booleans, none, and lists and dicts of those"
        )
    return size


def _bounded(value: _V, budget: _Budget) -> _V:
    """Check a value a template operation produced, charge the operation one step
    (and what it built), and return the value."""
    if isinstance(value, str):  # the common case, inline
        length = len(value)
        if length > MAX_LENGTH:
            raise _BudgetExceeded(f"a string of more than {MAX_LENGTH:,} characters")
        budget.steps -= 1
        budget.built -= length
        if budget.steps < budget.check_at or budget.built < 0:
            budget.settle()
    elif isinstance(value, list | tuple | dict):
        if _size(value, budget)[0] > MAX_LENGTH:
            raise _BudgetExceeded(
                f"a {type(value).__name__} of more than {MAX_LENGTH:,} characters when printed"
            )
        budget.charge(1, len(value))
    else:
        if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
            raise _BudgetExceeded(f"an integer of more than {MAX_INT_BITS} bits")
        budget.charge()
    return value


def _known(value: Any, size: int, plain: bool, budget: _Budget) -> Any:
    """Charge a new list or tuple whose printed size is already known (from `+` or
    `*` of its parts), so that it is not walked again."""
    budget.sizes[id(value)] = (value, size, plain)
    budget.charge(1, len(value))
    return value


def _repeated(seq: str | list[Any] | tuple[Any, ...], times: int, budget: _Budget) -> Any:
    """`seq * times`, refused before it is built if too large."""
    if isinstance(seq, str):
        if len(seq) * max(times, 0) > MAX_LENGTH:
            raise _BudgetExceeded(f"`*` would make a string of more than {MAX_LENGTH:,} characters")
        return _bounded(seq * times, budget)
    each, plain = _size(seq, budget)
    if each * max(times, 0) > MAX_LENGTH:
        raise _BudgetExceeded(f"`*` would make a {type(seq).__name__} of more than {MAX_LENGTH:,} characters")
    return _known(seq * times, each * max(times, 1), plain, budget)


def _joined_sequences(left: Any, right: Any, budget: _Budget) -> Any:
    """`left + right` of two strings, lists or tuples, refused before it is built if too large."""
    if isinstance(left, str):
        if len(left) + len(right) > MAX_LENGTH:
            raise _BudgetExceeded(f"`+` would make a string of more than {MAX_LENGTH:,} characters")
        return _bounded(left + right, budget)
    left_size, left_plain = _size(left, budget)
    right_size, right_plain = _size(right, budget)
    if left_size + right_size > MAX_LENGTH:
        raise _BudgetExceeded(
            f"`+` would make a {type(left).__name__} of more than {MAX_LENGTH:,} characters"
        )
    return _known(left + right, left_size + right_size, left_plain and right_plain, budget)


def _check_power(left: Any, right: Any) -> None:
    # left**right has more than (b-1)*right bits, b the bits of left: refuse what surely
    # is too large, and compute the rest (at most twice the bound) to check its result.
    if (
        type(left) is int
        and type(right) is int
        and abs(left) > 1
        and right > 0
        and (left.bit_length() - 1) * right >= MAX_INT_BITS
    ):
        raise _BudgetExceeded(f"`**` would make an integer of more than {MAX_INT_BITS} bits")


def _printable(value: Any) -> Any:
    """What `{{ value }}` prints: the value itself for text and undefined (whose
    `str` raises), else its text once it is known to be JSON-like and small."""
    if isinstance(value, str | jinja2.Undefined):
        return value
    budget = _budget.get()
    if type(value) is int and value.bit_length() > MAX_INT_BITS:
        raise _BudgetExceeded(f"an integer of more than {MAX_INT_BITS} bits")
    _require_plain(value, budget)
    text = str(value)
    budget.charge(1, len(text))
    return text


def _finalize(value: Any) -> Any:
    # Called on every `{{ }}`: text, the common case, goes straight through.
    return value if type(value) is str else _printable(value)


def _width(value: Any) -> None:
    if type(value) is int and abs(value) > MAX_WIDTH:
        raise _BudgetExceeded(f"number {value} is larger than templates allow ({MAX_WIDTH:,})")


def _widths(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
    for value in args:
        _width(value)
    for value in kwargs.values():
        _width(value)


def _count(text: str | None) -> int:
    """A width or precision written in a format: digits, or none."""
    if not text:
        return 0
    number = int(text) if len(text) <= 7 else MAX_WIDTH + 1
    if number > MAX_WIDTH:
        raise _BudgetExceeded(f"format width {text} is larger than templates allow ({MAX_WIDTH:,})")
    return number


# -- Checks before operations that can grow far past their inputs -------------------------

_PRINTF_SPEC = re.compile(r"%(?:\(([^)]*)\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d*))?[hlL]?(.?)", re.DOTALL)


def _check_printf(fmt: str, values: Any, budget: _Budget) -> None:
    """`fmt % values` (and `| format`): bound the result before it is built."""
    if "%" not in fmt:
        return
    mapping = values if isinstance(values, Mapping) else None
    positional = values if type(values) is tuple else (values,)
    size, index = len(fmt), 0
    for match in _PRINTF_SPEC.finditer(fmt):
        key, width, precision, kind = match.groups()
        if kind == "%":
            continue
        if width == "*" or precision == "*":
            raise TemplateError("`*` widths are not available in %-formats in templates")
        if key is not None:
            value = mapping.get(key) if mapping is not None else None
        else:
            value = positional[index] if index < len(positional) else None
            index += 1
        value_size = _require_plain(value, budget)
        if kind in ("r", "a"):  # repr and ascii escapes: up to 10 characters each
            value_size *= 10
        size += max(_count(width), value_size) + _count(precision)
        if size > MAX_LENGTH:
            raise _BudgetExceeded(f"a %-format of more than {MAX_LENGTH:,} characters")


def _check_replace(text: str, old: str, new: str, count: int | None) -> None:
    if len(new) <= len(old):
        return
    hits = len(text) + 1 if old == "" else text.count(old)
    if count is not None and count >= 0:
        hits = min(hits, count)
    if len(text) + hits * (len(new) - len(old)) > MAX_LENGTH:
        raise _BudgetExceeded(f"replace would make a string of more than {MAX_LENGTH:,} characters")


def _check_joined(items: list[Any], sep_length: int, budget: _Budget) -> None:
    budget.charge(len(items))
    total = sep_length * max(len(items) - 1, 0)
    for item in items:
        total += len(item) if type(item) is str else _require_plain(item, budget)
        if total > MAX_LENGTH:
            raise _BudgetExceeded(f"join would make a string of more than {MAX_LENGTH:,} characters")


_LINE_BREAKS = ("\n", "\r", "\v", "\f", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029")


def _check_lines(what: str, text: str, extra_per_line: int) -> None:
    lines = sum(map(text.count, _LINE_BREAKS)) + 1
    if lines > MAX_STEPS:
        raise _BudgetExceeded(f"{what} of more than {MAX_STEPS:,} lines")
    if len(text) + lines * extra_per_line > MAX_LENGTH:
        raise _BudgetExceeded(f"{what} would make a string of more than {MAX_LENGTH:,} characters")


# -- Filters -----------------------------------------------------------------------------------


# reactor's own filters check and charge their results themselves (no wrapper: they
# are on every ordinary render). Jinja may try them on constants at compile time:
# without a budget they raise there, and run at render time instead.


def _tojson(value: Any) -> str:
    # The output is JSON, not HTML, so no HTML escaping (unlike Jinja's own tojson).
    budget = _budget.get()
    kind = type(value)
    if kind is list or kind is dict or kind is tuple:
        if _size(value, budget)[0] > MAX_LENGTH:
            raise _BudgetExceeded(f"tojson of a value of more than {MAX_LENGTH:,} characters")
    elif isinstance(value, jinja2.Undefined):
        value._fail_with_undefined_error()
    try:
        text = orjson.dumps(value).decode()
    except TypeError as exc:
        raise TemplateError(f"tojson: {exc}") from None
    if len(text) > MAX_LENGTH:
        raise _BudgetExceeded(f"a string of more than {MAX_LENGTH:,} characters")
    budget.steps -= 1
    budget.built -= len(text)
    if budget.steps < budget.check_at or budget.built < 0:
        budget.settle()
    return text


def _date(value: Any, fmt: str = "%Y-%m-%d") -> str:
    budget = _budget.get()
    if not isinstance(value, str):
        raise TemplateError(f"date: expected an RFC 3339 string, got {value!r}")
    try:
        text = parse_instant(value).strftime(fmt)
    except ValueError as exc:
        raise TemplateError(f"date: {exc}") from None
    return _bounded(text, budget)


def _money(value: Any, currency: str | None = None) -> str:
    budget = _budget.get()
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TemplateError(f"money: expected a number, got {value!r}")
    text = f"{value:,.2f}"
    return _bounded(f"{currency} {text}" if currency else text, budget)


_Args = tuple[Any, ...]
_Kwargs = dict[str, Any]
_FilterCheck = Callable[[Any, _Args, _Kwargs, _Budget], Any]


def _replace_check(value: Any, args: _Args, kwargs: _Kwargs, budget: _Budget) -> Any:
    old, new, count = (*args, None, None, None)[:3]
    old, new = kwargs.get("old", old), kwargs.get("new", new)
    _check_replace(str(value), str(old), str(new), kwargs.get("count", count))
    return value


def _join_check(value: Any, args: _Args, kwargs: _Kwargs, budget: _Budget) -> Any:
    items = list(value)
    separator = kwargs.get("d", args[0] if args else "")
    _require_plain(separator, budget)
    _check_joined(items, len(str(separator)), budget)
    return items


def _indent_check(value: Any, args: _Args, kwargs: _Kwargs, budget: _Budget) -> Any:
    width = kwargs.get("width", args[0] if args else 4)
    _check_lines(
        "indent", str(value), len(width) if isinstance(width, str) else width if isinstance(width, int) else 0
    )
    return value


def _wordwrap_check(value: Any, args: _Args, kwargs: _Kwargs, budget: _Budget) -> Any:
    text = str(value)
    wrap = kwargs.get("wrapstring", args[2] if len(args) > 2 else None)
    if (len(text) + 1) * (len(str(wrap or "\n")) + 1) > MAX_LENGTH:
        raise _BudgetExceeded(f"wordwrap could make a string of more than {MAX_LENGTH:,} characters")
    return value


def _format_check(value: Any, args: _Args, kwargs: _Kwargs, budget: _Budget) -> Any:
    _check_printf(str(value), kwargs or args, budget)
    return value


def _sum_check(value: Any, args: _Args, kwargs: _Kwargs, budget: _Budget) -> Any:
    start = kwargs.get("start", args[1] if len(args) > 1 else 0)
    if isinstance(start, bool) or not isinstance(start, int | float):
        raise TemplateError("sum: `start` must be a number")  # sums of lists copy quadratically
    return value


_FILTER_CHECKS: dict[str, _FilterCheck] = {
    "replace": _replace_check,
    "join": _join_check,
    "indent": _indent_check,
    "wordwrap": _wordwrap_check,
    "format": _format_check,
    "sum": _sum_check,
}
#: Filters that walk their input item by item (text: character by character,
#: in Python), and the steps each item costs: `wordwrap` and `urlize` take
#: about 5 µs a character at worst (`wordwrap(1)`, one-letter words).
_WALKING: dict[str, int] = dict.fromkeys(
    ("batch", "dictsort", "groupby", "items", "list", "map", "max", "min", "reject", "rejectattr", "reverse",
     "select", "selectattr", "slice", "sort", "sum", "unique", "xmlattr", "title", "urlencode", "wordcount"),
    1,
) | {"urlize": 4, "wordwrap": 4}  # fmt: skip
#: Filters that turn their input and arguments into text.
_TEXTUAL = frozenset(
    {"capitalize", "center", "e", "escape", "filesizeformat", "forceescape", "format", "indent", "lower",
     "replace", "safe", "string", "striptags", "title", "trim", "truncate", "upper", "urlencode", "urlize",
     "wordcount", "wordwrap", "xmlattr"}
)  # fmt: skip
#: Filters whose numeric arguments are widths or counts.
_WIDTHS = frozenset({"batch", "center", "indent", "round", "slice", "truncate", "urlize", "wordwrap"})
#: Filters that return a value they were given (or an item of it), building
#: nothing: there is nothing to check (`min` and `max` walk, see _WALKING).
_SELECTING = frozenset({"attr", "d", "default", "first", "last"})
#: Jinja filters left out, and why: `pprint` prints Python reprs (and walks
#: values in Python; `tojson` covers what a payload needs); `random` would make
#: the same event give another payload in replay and on the worker.
_DROPPED_FILTERS = {
    "pprint": "it prints Python reprs): use `tojson`",
    "random": "a payload must be the same in replay and on the worker): pick by a rule instead",
}


def _before_filter(name: str, value: Any, args: _Args, kwargs: _Kwargs, budget: _Budget) -> Any:
    """The checks a filter's input and arguments pass before it runs; returns the input
    (a check may hand on a materialised copy)."""
    if name in _WIDTHS:
        _widths(args, kwargs)
    walking = _WALKING.get(name)
    if walking is not None:
        try:
            length = len(value)
        except TypeError:  # not sized: a generator, whose source was counted
            length = 0
        budget.charge(length * walking)
    if name in _TEXTUAL:
        _require_plain(value, budget)
        for argument in (*args, *kwargs.values()):
            if not isinstance(argument, jinja2.Undefined):
                _require_plain(argument, budget)
    check = _FILTER_CHECKS.get(name)
    return value if check is None else check(value, args, kwargs, budget)


def _guarded_filter(name: str, function: _Method, environment: jinja2.Environment) -> _Method:
    """`function` with the budget around it. Guarded filters take the context,
    which also keeps Jinja from running them at compile time on constants."""
    passes = getattr(getattr(function, "jinja_pass_arg", None), "name", None)
    if passes == "environment":
        function, passes = functools.partial(function, environment), None
    checked = name in _WIDTHS or name in _WALKING or name in _TEXTUAL or name in _FILTER_CHECKS

    @jinja2.pass_context
    def selecting(context: jinja2.runtime.Context, value: Any, *args: Any, **kwargs: Any) -> Any:
        _budget.get().charge()
        if passes is None:
            return function(value, *args, **kwargs)
        return function(context if passes == "context" else context.eval_ctx, value, *args, **kwargs)

    @jinja2.pass_context
    def simple(context: jinja2.runtime.Context, value: Any, *args: Any, **kwargs: Any) -> Any:
        result = function(value, *args, **kwargs)
        budget = _budget.get()
        if type(result) is str and len(result) <= MAX_LENGTH:  # _bounded's common case, inline
            budget.steps -= 1
            budget.built -= len(result)
            if budget.steps < budget.check_at or budget.built < 0:
                budget.settle()
            return result
        return _bounded(result, budget)

    @jinja2.pass_context
    def guarded(context: jinja2.runtime.Context, value: Any, *args: Any, **kwargs: Any) -> Any:
        budget = _budget.get()
        if not isinstance(value, jinja2.Undefined):
            value = _before_filter(name, value, args, kwargs, budget)
        if passes is None:
            result = function(value, *args, **kwargs)
        else:
            result = function(context if passes == "context" else context.eval_ctx, value, *args, **kwargs)
        return _bounded(result, budget)

    if name in _SELECTING:
        wrapper = selecting  # nothing is built
    elif passes is None and not checked:
        wrapper = simple  # most filters: only the result to check
    else:
        wrapper = guarded
    wrapper.__name__ = wrapper.__qualname__ = name
    return wrapper


# -- Methods of text -----------------------------------------------------------------------------

_Method = Callable[..., Any]
_StrMethod = Callable[[_Method, str, _Args, _Kwargs, _Budget], Any]


def _str_widths(method: _Method, text: str, args: _Args, kwargs: _Kwargs, budget: _Budget) -> Any:
    _widths(args, kwargs)
    return method(*args, **kwargs)


def _str_replace(method: _Method, text: str, args: _Args, kwargs: _Kwargs, budget: _Budget) -> Any:
    old, new, count = (*args, None, None, None)[:3]
    if isinstance(old, str) and isinstance(new, str):
        _check_replace(text, old, new, count if isinstance(count, int) else None)
    return method(*args, **kwargs)


def _str_join(method: _Method, text: str, args: _Args, kwargs: _Kwargs, budget: _Budget) -> Any:
    if len(args) != 1 or kwargs:
        return method(*args, **kwargs)  # let str.join say what is wrong
    items = list(args[0])
    _check_joined(items, len(text), budget)
    return method(items)


def _str_split(method: _Method, text: str, args: _Args, kwargs: _Kwargs, budget: _Budget) -> Any:
    # Never more than MAX_STEPS parts: ask for one more and refuse if it came.
    sep = kwargs.get("sep", args[0] if args else None)
    maxsplit = kwargs.get("maxsplit", args[1] if len(args) > 1 else -1)
    if not isinstance(maxsplit, int) or maxsplit < 0 or maxsplit > MAX_STEPS:
        maxsplit = MAX_STEPS
    parts = method(sep, maxsplit)
    if len(parts) > MAX_STEPS:
        raise _BudgetExceeded(f"split into more than {MAX_STEPS:,} parts")
    budget.charge(len(parts))
    return parts


def _str_splitlines(method: _Method, text: str, args: _Args, kwargs: _Kwargs, budget: _Budget) -> Any:
    _check_lines("splitlines", text, 0)
    return method(*args, **kwargs)


_STR_METHODS: dict[str, _StrMethod] = {
    "center": _str_widths,
    "ljust": _str_widths,
    "rjust": _str_widths,
    "zfill": _str_widths,
    "replace": _str_replace,
    "join": _str_join,
    "split": _str_split,
    "rsplit": _str_split,
    "splitlines": _str_splitlines,
}
#: Methods of built-in values left out: they make bytes (which no payload
#: holds), or grow text by a factor no check bounds cheaply.
_BLOCKED_METHODS = frozenset(
    {"encode", "expandtabs", "translate", "maketrans", "to_bytes", "from_bytes", "fromkeys"}
)


# -- str.format ----------------------------------------------------------------------------------


class _Formatter(SandboxedFormatter):
    """Jinja's sandboxed `str.format`, with every field checked: its value
    printable, its width and precision at most `MAX_WIDTH`, and the whole
    result at most `MAX_LENGTH` characters as it is built."""

    def __init__(self, env: jinja2.Environment, budget: _Budget, **kwargs: Any) -> None:
        super().__init__(env, **kwargs)
        self.budget = budget
        self.left = MAX_LENGTH

    def convert_field(self, value: Any, conversion: str | None) -> Any:
        _require_plain(value, self.budget)
        return super().convert_field(value, conversion)

    def format_field(self, value: Any, format_spec: str) -> str:
        _require_plain(value, self.budget)
        for digits in re.findall(r"\d+", format_spec):
            _count(digits)
        text: str = super().format_field(value, format_spec)
        self.left -= len(text)
        if self.left < 0:
            raise _BudgetExceeded(f"format would make a string of more than {MAX_LENGTH:,} characters")
        return text


class _EscapeFormatter(_Formatter, EscapeFormatter):
    pass


# -- Iteration and namespaces -------------------------------------------------------------------


class _Walk:
    """What a `for` loop (or `*args`) iterates: one step per item, and a sized
    iterable longer than the steps left fails before its first item."""

    __slots__ = ("_budget", "_items", "_length")

    def __init__(self, iterable: Any, budget: _Budget) -> None:
        try:
            length: int | None = len(iterable)
        except TypeError:
            length = None
        if length is not None and length > budget.steps:  # fail now, as it would at the end
            budget.charge(length)
        self._items = iter(iterable)
        self._budget = budget
        self._length = length

    def __iter__(self) -> _Walk:
        return self

    def __next__(self) -> Any:
        item = next(self._items)
        self._budget.charge()
        return item

    def __len__(self) -> int:  # for `loop.length`
        if self._length is None:
            raise TypeError("not sized")
        return self._length


class _Namespace(Namespace):
    """`namespace()`, whose attributes are checked as they are set."""

    def __setitem__(self, name: str, value: Any) -> None:
        super().__setitem__(name, _bounded(value, _budget.get()))


def _range(*args: int) -> range:
    numbers = range(*args)
    if len(numbers) > MAX_STEPS:
        raise _BudgetExceeded(f"range of more than {MAX_STEPS:,} numbers")
    return numbers


def _dict(*args: Any, **kwargs: Any) -> dict[Any, Any]:
    # A function, not the `dict` type: the type's own attributes (`fromkeys`) stay out of reach.
    return dict(*args, **kwargs)


# -- The environment -----------------------------------------------------------------------------


class _CodeGenerator(CodeGenerator):
    """Jinja's code generator, routing literals and `~` through the environment's checks."""

    def visit_Concat(self, node: nodes.Concat, frame: Frame) -> None:
        self.write("environment.joined((")
        for arg in node.nodes:
            self.visit(arg, frame)
            self.write(", ")
        self.write("))")

    def visit_Getitem(self, node: nodes.Getitem, frame: Frame) -> None:
        if not isinstance(node.arg, nodes.Slice):
            super().visit_Getitem(node, frame)
            return
        self.write("environment.built(")  # Jinja writes slices as plain Python: `s[1:]` copies
        super().visit_Getitem(node, frame)
        self.write(")")

    def visit_List(self, node: nodes.List, frame: Frame) -> None:
        self.write("environment.built(")
        super().visit_List(node, frame)
        self.write(")")

    def visit_Dict(self, node: nodes.Dict, frame: Frame) -> None:
        self.write("environment.built(")
        super().visit_Dict(node, frame)
        self.write(")")

    def visit_Tuple(self, node: nodes.Tuple, frame: Frame) -> None:
        if node.ctx != "load":  # an assignment target
            super().visit_Tuple(node, frame)
            return
        self.write("environment.built(")
        super().visit_Tuple(node, frame)
        self.write(")")


#: The attributes of `loop` (Jinja's documented ones), looked up without the
#: sandbox's general (slow) checks.
_LOOP_ATTRIBUTES = frozenset(
    {"index", "index0", "revindex", "revindex0", "first", "last", "length", "depth", "depth0",
     "previtem", "nextitem", "cycle", "changed"}
)  # fmt: skip


class _Environment(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"+", "-", "*", "/", "//", "%", "**"})
    code_generator_class = _CodeGenerator

    def is_safe_attribute(self, obj: Any, attr: str, value: Any) -> bool:
        if attr in _BLOCKED_METHODS and isinstance(obj, str | int | float | dict | list | tuple | type):
            return False
        return super().is_safe_attribute(obj, attr, value)

    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, dict):  # key before method (CONTRACT §11): `transaction.items` is the data
            try:
                return obj[attribute]
            except KeyError:
                pass
        elif type(obj) is _Namespace and attribute[:1] != "_":  # values the template set there
            try:
                return getattr(obj, attribute)
            except AttributeError:
                return self.undefined(obj=obj, name=attribute)
        elif type(obj) is LoopContext and attribute in _LOOP_ATTRIBUTES:
            return getattr(obj, attribute)
        # Jinja's sandboxed lookup takes a few µs: it counts as more than one step.
        _budget.get().charge(_LOOKUP_STEPS)
        return super().getattr(obj, attribute)

    def call(self, context: Any, obj: Any, /, *args: Any, **kwargs: Any) -> Any:
        budget = _budget.get()
        if isinstance(obj, Macro):
            budget.charge(_CALL_STEPS)  # bounds recursion too
        elif isinstance(obj, LoopContext):  # `loop(children)` in a recursive loop
            budget.charge(_CALL_STEPS)
            if args:
                args = (_Walk(args[0], budget), *args[1:])
        elif type(obj) is types.BuiltinMethodType and isinstance(obj.__self__, str):
            method = _STR_METHODS.get(obj.__name__)
            if method is not None:
                kwargs.pop("_loop_vars", None)
                kwargs.pop("_block_vars", None)
                return _bounded(method(obj, obj.__self__, args, kwargs, budget), budget)
        return _bounded(super().call(context, obj, *args, **kwargs), budget)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        if not isinstance(value, types.MethodType | types.BuiltinMethodType) or value.__name__ not in (
            "format",
            "format_map",
        ):
            return None
        template = value.__self__
        if not isinstance(template, str):
            return None
        is_format_map = value.__name__ == "format_map"
        environment = self

        def format(*args: Any, **kwargs: Any) -> str:
            budget = _budget.get()
            formatter: string.Formatter
            if isinstance(template, Markup):
                formatter = _EscapeFormatter(environment, budget, escape=template.escape)
            else:
                formatter = _Formatter(environment, budget)
            if not is_format_map:
                return type(template)(formatter.vformat(template, args, kwargs))
            if kwargs or len(args) != 1:
                raise TypeError("format_map() takes exactly one argument")
            return type(template)(formatter.vformat(template, (), args[0]))

        return format

    def call_binop(self, context: Any, op: str, left: Any, right: Any) -> Any:
        budget = _budget.get()
        if op == "*":
            if type(right) is int and isinstance(left, str | list | tuple):
                return _repeated(left, right, budget)
            if type(left) is int and isinstance(right, str | list | tuple):
                return _repeated(right, left, budget)
        elif op == "+" and isinstance(left, str | list | tuple) and type(left) is type(right):
            return _joined_sequences(left, right, budget)
        elif op == "**":
            _check_power(left, right)
        elif op == "%" and isinstance(left, str):
            _check_printf(left, right, budget)
        return _bounded(self.binop_table[op](left, right), budget)

    # Called from the generated code (see _CodeGenerator).

    def walk(self, iterable: Any) -> _Walk:
        return _Walk(iterable, _budget.get())

    def built(self, value: Any) -> Any:
        return _bounded(value, _budget.get())

    def joined(self, parts: tuple[Any, ...]) -> str:
        """`a ~ b ~ c`."""
        budget = _budget.get()
        texts = [part if type(part) is str else str(_printable(part)) for part in parts]
        total = sum(map(len, texts))
        if total > MAX_LENGTH:
            raise _BudgetExceeded(f"`~` would make a string of more than {MAX_LENGTH:,} characters")
        budget.charge(1, total)
        return "".join(texts)

    def concat(self, parts: Iterable[str]) -> str:
        """What macros, `{% set %}` blocks, `{% filter %}` and `{% call %}` capture."""
        parts = list(parts)
        total = sum(map(len, parts))
        if total > MAX_LENGTH:
            raise _BudgetExceeded(f"a block of more than {MAX_LENGTH:,} characters")
        _budget.get().charge(1, total)
        return "".join(parts)


class _Undefined(jinja2.ChainableUndefined, jinja2.StrictUndefined):
    """`a.b.c | default(x)` works when `a` is missing; using a missing value
    in any other way (printing, `tojson`, comparing) is an error."""


#: Globals a payload template has a use for. `range` (counted loops), `dict`
#: (building an object), `namespace` (the only way to carry a value out of a
#: loop), `joiner` (commas between items of a JSON list built in a loop).
#: Left out: `lipsum` (random text) and `cycler` (no use in JSON; its methods
#: printed reprs).
_GLOBALS: dict[str, Any] = {"range": _range, "dict": _dict, "namespace": _Namespace, "joiner": Joiner}


def _environment() -> _Environment:
    env = _Environment(
        undefined=_Undefined,
        autoescape=False,
        keep_trailing_newline=False,
        finalize=_finalize,
        # Templates come from the config root only, compiled from text: no loader,
        # so `include`/`import`/`extends` cannot read files.
        loader=None,
    )
    filters = {name: f for name, f in env.filters.items() if name not in _DROPPED_FILTERS}
    env.filters = {name: _guarded_filter(name, f, env) for name, f in filters.items()}
    env.filters.update(tojson=_tojson, date=_date, money=_money)
    env.globals = dict(_GLOBALS)
    return env


_ENV = _environment()


# -- What a template reads -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ContextRead:
    """A context path a template reads from the root, e.g. `("aggregations", "spend_12m")`,
    at `line` (1-based within the template); `optional` when a missing value
    there is fine (`| default(...)`, `is defined`)."""

    path: tuple[str, ...]
    line: int
    optional: bool = False


_SPECIAL_NAMES = frozenset({"loop", "self"})
_MACRO_NAMES = frozenset({"varargs", "kwargs", "caller"})


class _Reads:
    """Collects the context paths a template's syntax tree reads, in source order."""

    def __init__(self) -> None:
        self.found: list[ContextRead] = []

    def statements(self, body: Iterable[nodes.Node], scope: set[str]) -> None:
        for node in body:
            self.statement(node, scope)

    def statement(self, node: nodes.Node, scope: set[str]) -> None:  # noqa: C901 (one case per statement kind)
        if isinstance(node, nodes.For):
            self.expr(node.iter, scope)
            inner = scope | _targets(node.target)
            if node.test is not None:
                self.expr(node.test, inner)
            self.statements(node.body, set(inner))
            self.statements(node.else_, set(scope))
        elif isinstance(node, nodes.If):
            self.expr(node.test, scope)
            self.statements(node.body, scope)
            for branch in node.elif_:
                self.statement(branch, scope)
            self.statements(node.else_, scope)
        elif isinstance(node, nodes.Macro | nodes.CallBlock):
            if isinstance(node, nodes.CallBlock):
                self.expr(node.call, scope)
            else:
                scope.add(node.name)
            inner = scope | {arg.name for arg in node.args} | _MACRO_NAMES
            for default in node.defaults:
                self.expr(default, inner)
            self.statements(node.body, inner)
        elif isinstance(node, nodes.With):
            for value in node.values:
                self.expr(value, scope)
            inner = set(scope)
            for target in node.targets:
                inner |= _targets(target)
            self.statements(node.body, inner)
        elif isinstance(node, nodes.Assign):
            self.expr(node.node, scope)
            self.bind(node.target, scope)
        elif isinstance(node, nodes.AssignBlock):
            self.statements(node.body, set(scope))
            if node.filter is not None:
                self.expr(node.filter, scope)
            self.bind(node.target, scope)
        elif isinstance(node, nodes.FilterBlock):
            self.statements(node.body, set(scope))
            self.expr(node.filter, scope)
        elif isinstance(node, nodes.Block):
            self.statements(node.body, set(scope))
        elif isinstance(node, nodes.Output):
            for child in node.nodes:
                self.expr(child, scope)
        else:
            for part in node.iter_child_nodes():
                if isinstance(part, nodes.Expr):
                    self.expr(part, scope)
                else:
                    self.statement(part, scope)

    def bind(self, target: nodes.Node, scope: set[str]) -> None:
        for ref in target.find_all(nodes.NSRef) if not isinstance(target, nodes.NSRef) else [target]:
            if ref.name not in scope and ref.name not in _GLOBALS:
                self.found.append(ContextRead((ref.name,), ref.lineno))
        scope |= _targets(target)

    def expr(self, node: nodes.Node, scope: set[str], optional: bool = False) -> None:
        if isinstance(node, nodes.Name | nodes.Getattr | nodes.Getitem):
            self.path(node, scope, optional)
        elif isinstance(node, nodes.Filter):
            if node.node is not None:
                self.expr(node.node, scope, node.name in ("default", "d"))
            self.arguments(node, scope)
        elif isinstance(node, nodes.Test):
            self.expr(node.node, scope, node.name in ("defined", "undefined"))
            self.arguments(node, scope)
        elif isinstance(node, nodes.Call):
            function = node.node
            if isinstance(function, nodes.Getattr) or (
                isinstance(function, nodes.Getitem) and _constant_name(function.arg) is not None
            ):
                self.expr(function.node, scope)  # a method call reads the object, not a field
            else:
                self.expr(function, scope)
            self.arguments(node, scope)
        else:
            for child in node.iter_child_nodes():
                self.expr(child, scope)

    def arguments(self, node: nodes.Call | nodes.Filter | nodes.Test, scope: set[str]) -> None:
        for arg in node.args:
            self.expr(arg, scope)
        for keyword in node.kwargs:
            self.expr(keyword.value, scope)
        for extra in (node.dyn_args, node.dyn_kwargs):
            if extra is not None:
                self.expr(extra, scope)

    def path(self, node: nodes.Node, scope: set[str], optional: bool) -> None:
        names: list[str] = []
        while True:
            if isinstance(node, nodes.Getattr):
                names.append(node.attr)
                node = node.node
            elif isinstance(node, nodes.Getitem):
                name = _constant_name(node.arg)
                if name is None:  # a dynamic subscript ends the path
                    self.expr(node.arg, scope)
                    names.clear()
                else:
                    names.append(name)
                node = node.node
            else:
                break
        if isinstance(node, nodes.Name):
            if node.name not in scope and node.name not in _GLOBALS and node.name not in _SPECIAL_NAMES:
                self.found.append(ContextRead((node.name, *reversed(names)), node.lineno, optional))
        else:
            self.expr(node, scope)


def _constant_name(node: nodes.Node) -> str | None:
    """A subscript that names a field: a constant string, or a list index (`items[0]`,
    `items.0`) as its digits, as a rule's `var` path writes it."""
    if not isinstance(node, nodes.Const):
        return None
    value = node.value
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return str(value)
    return None


def _targets(target: nodes.Node) -> set[str]:
    if isinstance(target, nodes.Name):
        return {target.name}
    return {name.name for name in target.find_all(nodes.Name)}


def _reads(tree: nodes.Template) -> tuple[ContextRead, ...]:
    reads = _Reads()
    reads.statements(tree.body, set())
    return tuple(dict.fromkeys(reads.found))


# -- Templates -----------------------------------------------------------------------------------


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
    #: The top-level names a render can look up in its context, from Jinja's
    #: own analysis (`jinja2.meta.find_undeclared_variables`: every name not
    #: bound in the template) and the globals' names: a render needs its context
    #: for these names only, and sees the same values as with the whole one.
    names: frozenset[str] = field(repr=False, compare=False)
    _reads: tuple[ContextRead, ...] = field(default=(), repr=False, compare=False)

    def reads(self) -> tuple[ContextRead, ...]:
        """Every context path the template reads from the root, in source order.

        A path is the names from the root: `{{ aggregations.spend_12m }}` on
        line 3 reads `ContextRead(("aggregations", "spend_12m"), 3)`, and
        `transaction["items"]` reads `("transaction", "items")`. A constant
        string subscript is a name, and so is a constant index, as its digits
        (`items[0].sku` reads `("items", "0", "sku")`, as a rule's `var`
        writes it); any other subscript (`items[i]`, `items[-1]`) ends the
        path there, and what it reads is read on its own. A method call ends it before the
        method: `x.get("a")` reads `("x",)`. A path read through
        `| default(...)` (or tested with `is defined` / `is undefined`) is
        `optional`. Names that are not context paths: those bound by
        `{% set %}`, `{% for %}` targets, `{% with %}`, macro and call-block
        arguments, macros, `loop`, `self`, `varargs`, `kwargs`, `caller` and
        the globals (`range`, `dict`, `namespace`, `joiner`). The same path on
        another line is another entry; exact repeats are listed once.
        """
        return self._reads

    def render(self, context: Mapping[str, Any]) -> Any:
        """Render with `context` and return the parsed JSON payload.

        Raises `TemplateError` for any failure, with `code`: `missing_value`
        (an undefined value used), `sandbox` (Python internals), `unprintable`
        (a value that is not JSON-like turned into text), `budget_exceeded`,
        `invalid_json` (the output), or `template_error` (anything else).
        """
        token = _budget.set(_Budget())
        try:
            parts: list[str] = []
            size = 0
            for chunk in self._render(context):
                size += len(chunk)
                if size > MAX_OUTPUT:
                    raise _BudgetExceeded(f"template output exceeded {MAX_OUTPUT:,} characters")
                parts.append(chunk)
            text = "".join(parts)
        except TemplateError as exc:
            raise TemplateError(f"{self.where}: {exc.message}", path=self.where) from None
        except _BudgetExceeded as exc:
            raise TemplateError(f"{self.where}: {exc}", code="budget_exceeded", path=self.where) from None
        except RecursionError:
            raise TemplateError(
                f"{self.where}: template nests too deeply (recursive macros or values)",
                code="budget_exceeded",
                path=self.where,
            ) from None
        except _Unprintable as exc:
            raise TemplateError(f"{self.where}: {exc}", code="unprintable", path=self.where) from None
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


#: The environment's globals as one plain dict (a template's `globals` is a
#: `ChainMap` over them, which `Template.generate` copies key by key on every render).
_GLOBALS = dict(_ENV.globals)


def _stream(compiled: jinja2.Template, context: Mapping[str, Any]) -> Iterator[str]:
    """`compiled.generate(context)` in one copy of the context: `generate` makes
    two (`dict(context)`, then the globals and it through the `ChainMap`). The
    same names, the context's over the globals'; an error is raised as is
    (`generate` rewrites its traceback, which the render does not show)."""
    names = dict(_GLOBALS)
    names.update(context)
    return compiled.root_render_func(compiled.new_context(names, shared=True))


def _counted(iterable: nodes.Node) -> nodes.Expr:
    walk = nodes.EnvironmentAttribute("walk", lineno=iterable.lineno)
    return nodes.Call(walk, [iterable], [], None, None, lineno=iterable.lineno)


def _unknown_name(kind: str, name: str, known: Iterable[str]) -> str:
    if kind == "filter" and name in _DROPPED_FILTERS:
        return f"The filter {name!r} is not available in templates ({_DROPPED_FILTERS[name]}."
    close = difflib.get_close_matches(name, list(known), n=1)
    return f"No {kind} named {name!r}." + (f" Did you mean {close[0]!r}?" if close else "")  # Jinja's words


def compile_template(source: str, where: str) -> Template | TemplateSyntaxProblem:
    """Compile template text, or describe why it does not compile (a syntax
    error, `include`/`import`/`extends`, an unknown filter or test anywhere,
    even in a branch that may never run)."""
    try:
        tree = _ENV.parse(source)
    except jinja2.TemplateSyntaxError as exc:
        return TemplateSyntaxProblem(exc.message or str(exc), exc.lineno or 1)
    except ValueError as exc:  # an integer literal past Python's digit limit
        return TemplateSyntaxProblem(str(exc), 1)
    for node in tree.find_all((nodes.Include, nodes.Import, nodes.FromImport, nodes.Extends)):
        return TemplateSyntaxProblem(
            "include, import and extends are not available: a template is one file", node.lineno
        )
    for filter_node in tree.find_all(nodes.Filter):
        if filter_node.name not in _ENV.filters:
            return TemplateSyntaxProblem(
                _unknown_name("filter", filter_node.name, _ENV.filters), filter_node.lineno
            )
    for test in tree.find_all(nodes.Test):
        if test.name not in _ENV.tests:
            return TemplateSyntaxProblem(_unknown_name("test", test.name, _ENV.tests), test.lineno)
    reads = _reads(tree)
    # Every `for` and `*args` walks its iterable through `environment.walk`, which counts it.
    for loop in tree.find_all(nodes.For):
        loop.iter = _counted(loop.iter)
    for call in tree.find_all((nodes.Call, nodes.Filter, nodes.Test)):
        assert isinstance(call, nodes.Call | nodes.Filter | nodes.Test)
        if call.dyn_args is not None:
            call.dyn_args = _counted(call.dyn_args)
    try:
        compiled = _ENV.from_string(tree)
    except jinja2.TemplateSyntaxError as exc:
        return TemplateSyntaxProblem(exc.message or str(exc), exc.lineno or 1)
    # Jinja leaves out the names of its globals, which a context key of that
    # name (a profile field `range`) shadows: they are looked up too.
    names = frozenset(meta.find_undeclared_variables(tree)) | frozenset(_ENV.globals)
    return Template(where, functools.partial(_stream, compiled), names, reads)
