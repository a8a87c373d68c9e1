"""JSON Logic, as ops staff write it in `when`, amounts and points.

Rules are compiled once, at config load, by datalogic-py (a Rust core). This
module keeps the language to what the README promises:

- operator families are limited to the JsonLogic core and the string, array,
  object, control, error, maths and date extensions (no tensor or feature-flag
  families);
- `now` reads the wall clock in datalogic, so a rule that uses it is refused at
  load: rules see event time as `{"var": "now"}`, and replay and live agree;
- every evaluation runs under an operation budget, so a runaway `reduce` over a
  large list fails its reaction instead of stalling the worker;
- `==` and `!=` mean what they mean in JsonLogic's reference implementation,
  JavaScript's loose equality (CONTRACT §11): datalogic-py takes `null` to
  equal `0`, `false` and `""`, so each `==` is rewritten at compile time into
  built-in operators that follow JavaScript (`===` when both sides have one
  type, `false` when one side is null), and only values of two different
  non-null types go to `js_loose_equal` in Python (see `_equality`); with an
  `==` under an iterator, or between a field and a literal, a condition is
  compiled in a fast form besides (`===` behind a probe of the operands'
  types, see `FastForm`), and the exact form decides only where the probe
  finds two types.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, NamedTuple

import datalogic_py
import orjson

from reactor.errors import RuleError

__all__ = [
    "ALLOWED_FAMILIES",
    "OPS_BUDGET",
    "UNSURE",
    "Amount",
    "Condition",
    "ConditionBatch",
    "ContextData",
    "FastForm",
    "RuleProblem",
    "check_rule",
    "compile_amount",
    "compile_batch",
    "compile_condition",
    "explain_rule",
    "fast_form",
    "is_truthy",
    "js_loose_equal",
    "rewrite",
]

ALLOWED_FAMILIES = (
    "Core",
    "ExtString",
    "ExtArray",
    "ExtObject",
    "ExtControl",
    "ErrorHandling",
    "ExtMath",
    "DateTime",
)
#: Operations one rule may charge per evaluation; generous for any loyalty rule.
OPS_BUDGET = 100_000

#: JavaScript's white space and line terminators, which ToNumber trims.
_JS_SPACE = (
    "\t\n\v\f\r \u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
    "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000\ufeff"
)
_JS_DECIMAL = re.compile(r"[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|Infinity)")
_JS_RADIX = re.compile(r"0([xX][0-9a-fA-F]+|[oO][0-7]+|[bB][01]+)")
_RADIX = {"x": 16, "o": 8, "b": 2}


def _js_number(text: str) -> float:
    """JavaScript's ToNumber of a string (NaN when it is not a number)."""
    text = text.strip(_JS_SPACE)
    if not text:
        return 0.0
    if _JS_DECIMAL.fullmatch(text):
        return float(text.replace("Infinity", "inf"))
    radix = _JS_RADIX.fullmatch(text)
    if radix:
        return float(int(radix.group(1)[1:], _RADIX[radix.group(1)[0].lower()]))
    return math.nan


def _js_float(value: float) -> str:
    """JavaScript's Number.prototype.toString (ECMA-262 Number::toString)."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0:
        return "0"
    _, digit_tuple, exponent = Decimal(repr(abs(value))).normalize().as_tuple()
    assert isinstance(exponent, int)
    digits = "".join(map(str, digit_tuple))
    k, n = len(digits), len(digits) + exponent  # value = 0.digits x 10^n
    prefix = "-" if value < 0 else ""
    if k <= n <= 21:
        return prefix + digits + "0" * (n - k)
    if 0 < n <= 21:
        return prefix + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return prefix + "0." + "0" * -n + digits
    e = n - 1
    mantissa = digits[0] + ("." + digits[1:] if k > 1 else "")
    return f"{prefix}{mantissa}e{'+' if e > 0 else '-'}{abs(e)}"


def _js_string(value: Any) -> str:
    """JavaScript's ToString of a JSON value (for arrays compared with a scalar)."""
    if value is None:
        return ""  # inside Array.prototype.join
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _js_float(value)
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return ",".join(_js_string(item) for item in value)
    return "[object Object]"


def js_loose_equal(a: Any, b: Any) -> bool:
    """JavaScript's `a == b` for JSON values (ECMA-262 IsLooselyEqual).

    Two arrays or two objects are equal when they hold the same values: JSON
    values have no identity to compare (JavaScript compares references)."""
    if isinstance(a, bool) and isinstance(b, bool):
        return a is b
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, bool):
        return js_loose_equal(1 if a else 0, b)
    if isinstance(b, bool):
        return js_loose_equal(a, 1 if b else 0)
    a_number, b_number = isinstance(a, int | float), isinstance(b, int | float)
    if a_number and b_number:
        return bool(a == b)
    if isinstance(a, str) and isinstance(b, str):
        return a == b
    if a_number and isinstance(b, str):
        return bool(a == _js_number(b))
    if isinstance(a, str) and b_number:
        return bool(_js_number(a) == b)
    if isinstance(a, list | dict) and isinstance(b, list | dict):
        return type(a) is type(b) and a == b
    if isinstance(a, list | dict):
        return js_loose_equal(_js_string(a), b)
    if isinstance(b, list | dict):
        return js_loose_equal(a, _js_string(b))
    return False


def _loose_equal_operator(args_json: str) -> str:
    args = orjson.loads(args_json)
    equal = len(args) == 2 and js_loose_equal(args[0], args[1])
    return "true" if equal else "false"


#: The operator the rewritten `==` falls back to for operands of two types.
_LOOSE = "reactor_loose_eq"

_ENGINE = datalogic_py.Engine(
    families=list(ALLOWED_FAMILIES),
    config={"ops_budget": OPS_BUDGET},
    custom_operators={_LOOSE: _loose_equal_operator},
)

_LITERAL_TYPES = {type(None): "null", bool: "boolean", int: "number", float: "number", str: "string"}


def _equality(a: Any, b: Any) -> Any:
    """`{"==": [a, b]}` in built-in operators, with JavaScript's meaning."""
    a_literal, b_literal = type(a) in _LITERAL_TYPES, type(b) in _LITERAL_TYPES
    if a_literal and b_literal:
        return js_loose_equal(a, b)
    if a_literal:
        a, b, b_literal = b, a, True
    if b_literal:
        if b is None:
            return {"===": [a, None]}
        same_type = {"===": [{"type": [a]}, _LITERAL_TYPES[type(b)]]}
        one_null: Any = {"===": [a, None]}
    else:
        # datalogic's `type` and `===` take an RFC 3339 string for a date-time
        # ("2026-01-01T00:00:00Z" === "2026-01-01T01:00:00+01:00" is true):
        # JavaScript compares two strings as strings, so two of those go to
        # `js_loose_equal`, which does.
        type_a = {"type": [a]}
        same_type = {"and": [{"===": [type_a, {"type": [b]}]}, {"!==": [type_a, "datetime"]}]}
        one_null = {"or": [{"===": [a, None]}, {"===": [b, None]}]}
    return {"if": [same_type, {"===": [a, b]}, one_null, False, {_LOOSE: [a, b]}]}


def _loose(operator: str, a: Any, b: Any) -> Any:
    """`a == b` (or `!=`) in its exact form."""
    equal = _equality(a, b)
    return equal if operator == "==" else {"!": [equal]}


def rewrite(rule: Any) -> Any:
    """`rule` with every `==` and `!=` given JavaScript's meaning (see module docstring)."""
    if isinstance(rule, list):
        return [rewrite(item) for item in rule]
    if not isinstance(rule, dict) or len(rule) != 1:
        return rule
    ((operator, args),) = rule.items()
    args = rewrite(args)
    if operator in ("==", "!=") and isinstance(args, list) and len(args) == 2:
        return _loose(operator, args[0], args[1])
    return {operator: args}


#: What a condition's guarded fast form evaluates to when its probe finds an
#: `==` under an iterator whose operands may have two types: only the exact
#: form can say (see `FastForm`).
UNSURE = "reactor:unsure-equality"

#: Operators whose second argument runs once per item of the first.
_ITERATORS = frozenset({"some", "all", "none", "filter", "map"})
#: Operators a fast form does not look into: other scopes (`reduce`'s
#: accumulator, `sort`'s comparator), and evaluation a probe could change
#: (a `throw` the rule might never reach, a `try` that would catch it).
_OPAQUE = frozenset({"reduce", "sort", "group_by", "distinct", "try", "throw"})


class _NotCovered(Exception):
    """A rule whose shape `fast_form` does not cover: it keeps its exact form."""


class FastForm(NamedTuple):
    """A rule with each `==`/`!=` under an iterator, and each one between an
    operand and a literal at the top level, as `===`/`!==` (`rule`), and the
    `probe` that is true unless, for every item, those operands have one type
    or a null: when it is false, JavaScript's `==` is `===` and `rule` means
    what the exact form (`rewrite`) means; when it is true, only the exact
    form can say.

    Why: the exact form checks the operands' types in the body, for every
    item of every rule (three datalogic operations more per item: `some` over
    two items costs twice a `===`), and at the top level in every rule. The
    fast body is one `===`; its check is in the probe, and a batch evaluates
    each different check once (conditions that compare one field with
    literals of one type share it)."""

    rule: Any
    #: The type checks; a batch evaluates each different one once.
    checks: tuple[Any, ...]

    @property
    def probe(self) -> Any:
        """True where one of the checks is."""
        return _any(list(self.checks))

    def guarded(self) -> Any:
        """One rule: `UNSURE` where the probe is true, else the fast rule."""
        return {"if": [self.probe, UNSURE, self.rule]}


def fast_form(rule: Any) -> FastForm | None:
    """`rule`'s fast form (see `FastForm`), or None when the rule has no `==`
    under an iterator (its exact form is as fast) or a shape this does not cover."""
    probes: list[Any] = []
    try:
        fast = _fast(rule, None, probes)
    except _NotCovered:
        return None
    if not probes:
        return None
    return FastForm(fast, tuple(probes))


def _any(checks: list[Any]) -> Any:
    return checks[0] if len(checks) == 1 else {"or": checks}


def _fast(rule: Any, checks: list[Any] | None, probes: list[Any]) -> Any:
    """`rule` in its fast form; `checks` collects the type checks of the
    iterator body being walked (None at the top level, where an `==` with
    one literal operand is `===` behind a check too, and any other keeps its
    exact form), `probes` the checks at the top level and those of the
    iterators there."""
    if isinstance(rule, list):
        return [_fast(item, checks, probes) for item in rule]
    if not isinstance(rule, dict) or len(rule) != 1:
        return rule
    ((operator, args),) = rule.items()
    if operator in _OPAQUE:
        if _has_equality(args):
            raise _NotCovered
        return rewrite(rule)
    if operator in ("==", "!=") and isinstance(args, list) and len(args) == 2:
        if checks is None:
            if _one_literal(args) and not any(_has_equality(a) or _has_scope(a) for a in args):
                # At the top level too: a batch's conditions compare few fields
                # with literals, and conditions share each field's probe.
                return _strict(operator, args[0], args[1], probes)
            args = _fast(args, None, probes)
            return _loose(operator, args[0], args[1])
        if any(_has_equality(a) or _has_scope(a) for a in args):
            raise _NotCovered
        return _strict(operator, args[0], args[1], checks)
    if operator in _ITERATORS and isinstance(args, list) and len(args) == 2:
        items = _fast(args[0], checks, probes)
        body_checks: list[Any] = []
        body = _fast(args[1], body_checks, probes)
        if body_checks:
            (probes if checks is None else checks).append({"some": [items, _any(body_checks)]})
        return {operator: [items, body]}
    return {operator: _fast(args, checks, probes)}


def _strict(operator: str, a: Any, b: Any, checks: list[Any]) -> Any:
    """`a == b` (or `!=`) as `===` (`!==`), with the check that makes it so."""
    a_literal, b_literal = type(a) in _LITERAL_TYPES, type(b) in _LITERAL_TYPES
    if a_literal and b_literal:
        equal = js_loose_equal(a, b)
        return equal if operator == "==" else not equal
    if a_literal:
        a, b, b_literal = b, a, True
    if b_literal:
        if b is not None:  # x == null is x === null for every x
            checks.append({"!": [{"in": [{"type": [a]}, [_LITERAL_TYPES[type(b)], "null"]]}]})
    else:
        type_a = {"type": [a]}
        checks.append(
            {
                "and": [
                    {"or": [{"!==": [type_a, {"type": [b]}]}, {"===": [type_a, "datetime"]}]},
                    {"!==": [a, None]},
                    {"!==": [b, None]},
                ]
            }
        )
    return {"===" if operator == "==" else "!==": [a, b]}


def _one_literal(args: list[Any]) -> bool:
    return (type(args[0]) in _LITERAL_TYPES) != (type(args[1]) in _LITERAL_TYPES)


def _has_equality(rule: Any) -> bool:
    return _mentions(rule, frozenset({"==", "!="}))


def _has_scope(rule: Any) -> bool:
    return _mentions(rule, _ITERATORS | _OPAQUE)


def _mentions(rule: Any, operators: frozenset[str]) -> bool:
    if isinstance(rule, list):
        return any(_mentions(item, operators) for item in rule)
    if isinstance(rule, dict):
        if len(rule) == 1 and next(iter(rule)) in operators:
            return True
        return any(_mentions(value, operators) for value in rule.values())
    return False


def _restore(node: dict[str, Any]) -> dict[str, Any]:
    """A traced node of a rewritten rule, shown as the `==`/`!=` ops wrote."""
    expression = node["expression"]
    negated = False
    inner = node
    if isinstance(expression, dict) and "!" in expression and node.get("children"):
        candidate = node["children"][0]
        if _original_equality(candidate["expression"]) is not None:
            negated, inner = True, candidate
    operands = _original_equality(inner["expression"])
    if operands is None:
        children = node.get("children")
        if children:
            node = {**node, "children": [_restore(child) for child in children]}
        return node
    restored: dict[str, Any] = {"expression": {"!=" if negated else "==": operands}}
    for key in ("value", "error"):
        if key in node:
            restored[key] = node[key]
    restored["children"] = [_operand(inner, operand) for operand in operands]
    return restored


def _original_equality(expression: Any) -> list[Any] | None:
    if isinstance(expression, dict) and isinstance(expression.get("if"), list):
        last = expression["if"][-1]
        if isinstance(last, dict) and _LOOSE in last:
            operands = last[_LOOSE]
            return operands if isinstance(operands, list) else [operands]
    if expression is True or expression is False:
        return None
    return None


def _operand(node: dict[str, Any], operand: Any) -> dict[str, Any]:
    """The traced node of one operand inside a rewritten `==` (a literal, if none)."""
    stack = list(node.get("children", ()))
    while stack:
        child = stack.pop(0)
        if child["expression"] == operand and "value" in child:
            return _restore(child)
        stack.extend(child.get("children", ()))
    return (
        {"expression": operand, "value": operand}
        if type(operand) in _LITERAL_TYPES
        else {"expression": operand}
    )


class ContextData:
    """An event context parsed once for many rule evaluations."""

    __slots__ = ("handle",)

    def __init__(self, context: Mapping[str, Any]) -> None:
        self.handle = datalogic_py.DataHandle(context)


def _top_level_reads(rule: datalogic_py.Rule) -> frozenset[str] | None:
    """The context keys a rule reads, or None when that cannot be known
    (a computed `var` path): the engine then assumes it reads everything."""
    facts = rule.facts()
    if not facts["reads_complete"] or facts["computed_reads"]:
        return None
    keys = frozenset(path[0] if path else "" for path in facts["reads"])
    return None if "" in keys else keys


@dataclass(frozen=True, slots=True)
class RuleProblem:
    """A reason a rule cannot be loaded; `pointer` is an RFC 6901 pointer into it."""

    message: str
    pointer: str


def check_rule(rule: Any) -> list[RuleProblem]:
    """Every problem with `rule` that can be seen before it runs."""
    try:
        compiled = _ENGINE.compile_checked(rule)
    except datalogic_py.CompileError as exc:
        return [RuleProblem(d["message"], d["pointer"]) for d in exc.diagnostics]
    except datalogic_py.DataLogicError as exc:
        return [RuleProblem(str(exc), "")]
    problems = []
    facts = compiled.facts()
    if facts["custom_operators"]:  # reactor's own, for `==` only (see `rewrite`)
        problems.append(RuleProblem(f"unknown operator `{facts['custom_operators'][0]}`", ""))
    if "now" in facts["operators"]:
        problems.append(
            RuleProblem(
                '`now` reads the wall clock; use {"var": "now"}, the event time, so replay and live agree',
                "",
            )
        )
    return problems


def _describe(exc: datalogic_py.DataLogicError) -> tuple[str, str]:
    kind = getattr(exc, "error_type", "") or ""
    if kind == "BudgetExceeded":
        return "budget_exceeded", f"operation budget of {OPS_BUDGET} exceeded ({exc})"
    return "rule_error", str(exc)


@dataclass(frozen=True, slots=True)
class Condition:
    """A compiled `when` or `filter`. `where` names its place in the config."""

    source: Any
    where: str
    _rule: datalogic_py.Rule = field(repr=False, compare=False)
    #: Top-level context keys read (None: unknown, assume all).
    reads: frozenset[str] | None = field(default=None, compare=False)
    #: `source` as compiled for `==` to mean what it means in JavaScript (see `rewrite`).
    logic: Any = field(default=None, repr=False, compare=False)
    #: Its fast form, if it has one (see `FastForm`); `_rule` is then the
    #: guarded fast form, and `exact` the exact form, compiled.
    fast: FastForm | None = field(default=None, repr=False, compare=False)
    exact: datalogic_py.Rule | None = field(default=None, repr=False, compare=False)

    def holds(self, data: ContextData) -> bool:
        """Whether the rule is truthy for this context. On JSON values, JsonLogic
        truthiness (0, "", [], null, false are falsy; "0" is truthy) is Python's."""
        exact = self.exact
        try:
            value = self._rule.evaluate_data(data.handle)
            if exact is None or value != UNSURE:
                return bool(value)
        except datalogic_py.DataLogicError as exc:
            if exact is None:
                raise self._error(exc) from None
        # The fast form could not say, or failed (its probe may fail where the
        # rule would not): the exact form's answer, and its error, are the rule's.
        try:
            return bool(exact.evaluate_data(data.handle))
        except datalogic_py.DataLogicError as exc:
            raise self._error(exc) from None

    def _error(self, exc: datalogic_py.DataLogicError) -> RuleError:
        code, message = _describe(exc)
        return RuleError(f"{self.where}: {message}", code=code, path=self.where)


@dataclass(frozen=True, slots=True)
class Amount:
    """A number, or a JSON Logic expression that must evaluate to one."""

    source: Any
    where: str
    _rule: datalogic_py.Rule | None = field(default=None, repr=False, compare=False)
    reads: frozenset[str] | None = field(default=frozenset(), compare=False)
    #: The number, when the amount is one (not a rule): no context needed.
    number: float | None = field(default=None, compare=False)

    def value(self, data: ContextData) -> float:
        if self._rule is None:
            return float(self.source)
        try:
            result = self._rule.evaluate_data(data.handle)
        except datalogic_py.DataLogicError as exc:
            code, message = _describe(exc)
            raise RuleError(f"{self.where}: {message}", code=code, path=self.where) from None
        if result.__class__ is not float and (isinstance(result, bool) or not isinstance(result, int)):
            raise RuleError(
                f"{self.where}: evaluated to {orjson.dumps(result).decode()}, expected a number",
                code="not_a_number",
                path=self.where,
            )
        return float(result)


@dataclass(frozen=True, slots=True)
class ConditionBatch:
    """Many conditions compiled into one rule (a JSON array of them), so that
    one native call evaluates them all against one context: the per-rule cost
    of calling from Python dominates otherwise. A missing condition is `true`."""

    size: int
    _rule: datalogic_py.Rule = field(repr=False, compare=False)
    reads: frozenset[str] | None = field(default=None, compare=False)
    sources: tuple[Any, ...] = field(default=(), repr=False, compare=False)
    #: Every condition is missing (always true): no need to evaluate anything.
    always: bool = field(default=False, compare=False)
    #: When some conditions are in their fast form: the rule's last value is
    #: their probes' (see `FastForm`), and `exact` is the batch in exact forms.
    exact: datalogic_py.Rule | None = field(default=None, repr=False, compare=False)

    def evaluate(self, data: ContextData) -> list[Any] | None:
        """Each condition's value, or None if any of them failed or the batch
        went over its operation budget: the caller then evaluates them one by
        one, so that each failure (and each budget) is its own."""
        try:
            result = self._rule.evaluate_data(data.handle)
            if self.exact is not None and isinstance(result, list) and result and result.pop():
                result = self.exact.evaluate_data(data.handle)  # the fast forms cannot say
        except datalogic_py.DataLogicError:
            return None
        return result if isinstance(result, list) and len(result) == self.size else None


def compile_batch(conditions: Sequence[Condition | None]) -> ConditionBatch:
    """One batch of already-checked conditions, in order."""
    sources = [True if c is None else c.source for c in conditions]  # as written
    exact_logic = [True if c is None else c.logic for c in conditions]
    fast = [c.fast for c in conditions if c is not None and c.fast is not None]
    always = all(c is None for c in conditions)
    reads: frozenset[str] | None = frozenset()
    for condition in conditions:
        if condition is not None:
            reads = None if reads is None or condition.reads is None else reads | condition.reads
    if not fast:
        return ConditionBatch(len(sources), _ENGINE.compile(exact_logic), reads, tuple(sources), always)
    fast_logic = [True if c is None else c.logic if c.fast is None else c.fast.rule for c in conditions]
    probes = list({orjson.dumps(c): c for f in fast for c in f.checks}.values())  # each different one once
    compiled = _ENGINE.compile([*fast_logic, _any(probes)])
    exact = _ENGINE.compile(exact_logic)
    return ConditionBatch(len(sources), compiled, reads, tuple(sources), always, exact)


def _reads_as_written(rule: Any) -> frozenset[str] | None:
    """What `rule` reads, from the rule as written: the rewritten `==` reads
    the same operands, but datalogic cannot see through its fallback operator
    (a custom one) and would report the reads incomplete, so every rule with
    an `==` would parse the whole context."""
    return _top_level_reads(_ENGINE.compile(rule))


def compile_condition(rule: Any, where: str) -> Condition:
    """Compile a checked rule (see `check_rule`) into a `Condition`."""
    logic, fast = rewrite(rule), fast_form(rule)
    exact = _ENGINE.compile(logic)
    if fast is None:
        return Condition(rule, where, exact, _reads_as_written(rule), logic)
    return Condition(
        rule, where, _ENGINE.compile(fast.guarded()), _reads_as_written(rule), logic, fast, exact
    )


def compile_amount(source: Any, where: str) -> Amount:
    """Compile a number or a checked rule into an `Amount`."""
    if isinstance(source, int | float) and not isinstance(source, bool):
        return Amount(source, where, number=float(source))
    compiled = _ENGINE.compile(rewrite(source))
    return Amount(source, where, compiled, _reads_as_written(source))


def is_truthy(value: Any) -> bool:
    """JsonLogic truthiness, exactly as conditions use it."""
    return _ENGINE.truthy(orjson.dumps(value).decode())


def explain_rule(rule: Any, context: Mapping[str, Any]) -> dict[str, Any]:
    """Evaluate `rule` step by step and return the tree of its sub-expressions,
    each `{"expression", "value"}` plus `children`; a sub-expression skipped by
    short-circuit has no `value`. Errors appear as `error` on the node."""
    envelope = orjson.loads(
        _ENGINE.evaluate_with_trace(orjson.dumps(rewrite(rule)).decode(), orjson.dumps(context).decode())
    )
    values: dict[int, dict[str, Any]] = {}
    for step in envelope.get("steps", []):
        entry = {"value": step.get("result")}
        if step.get("error"):
            entry["error"] = step["error"]
        values[step["node_id"]] = entry

    def walk(node: Mapping[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {"expression": orjson.loads(node["expression"])}
        out.update(values.get(node["id"], {}))
        children: Sequence[Mapping[str, Any]] = node.get("children") or ()
        if children:
            out["children"] = [walk(child) for child in children]
        return out

    tree = _restore(walk(envelope["expression_tree"]))
    tree["value"] = envelope.get("result")
    if envelope.get("error"):
        tree["error"] = envelope["error"]
    return tree
