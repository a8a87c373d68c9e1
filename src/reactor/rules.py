"""JSON Logic, as ops staff write it in `when`, amounts and points.

Rules are compiled once, at config load, by datalogic-py (a Rust core). This
module keeps the language to what the README promises:

- operator families are limited to the JsonLogic core and the string, array,
  object, control, error, maths and date extensions (no tensor or feature-flag
  families);
- `now` reads the wall clock in datalogic, so a rule that uses it is refused at
  load: rules see event time as `{"var": "now"}`, and replay and live agree;
- every evaluation runs under an operation budget, so a runaway `reduce` over a
  large list fails its reaction instead of stalling the worker.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import datalogic_py
import orjson

from reactor.errors import RuleError

__all__ = [
    "ALLOWED_FAMILIES",
    "OPS_BUDGET",
    "Amount",
    "Condition",
    "ConditionBatch",
    "ContextData",
    "RuleProblem",
    "check_rule",
    "compile_amount",
    "compile_batch",
    "compile_condition",
    "explain_rule",
    "is_truthy",
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

_ENGINE = datalogic_py.Engine(families=list(ALLOWED_FAMILIES), config={"ops_budget": OPS_BUDGET})


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
    if "now" in compiled.facts()["operators"]:
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

    def holds(self, data: ContextData) -> bool:
        """Whether the rule is truthy for this context. On JSON values, JsonLogic
        truthiness (0, "", [], null, false are falsy; "0" is truthy) is Python's."""
        try:
            return bool(self._rule.evaluate_data(data.handle))
        except datalogic_py.DataLogicError as exc:
            code, message = _describe(exc)
            raise RuleError(f"{self.where}: {message}", code=code, path=self.where) from None


@dataclass(frozen=True, slots=True)
class Amount:
    """A number, or a JSON Logic expression that must evaluate to one."""

    source: Any
    where: str
    _rule: datalogic_py.Rule | None = field(default=None, repr=False, compare=False)
    reads: frozenset[str] | None = field(default=frozenset(), compare=False)

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

    def evaluate(self, data: ContextData) -> list[Any] | None:
        """Each condition's value, or None if any of them failed or the batch
        went over its operation budget: the caller then evaluates them one by
        one, so that each failure (and each budget) is its own."""
        try:
            result = self._rule.evaluate_data(data.handle)
        except datalogic_py.DataLogicError:
            return None
        return result if isinstance(result, list) and len(result) == self.size else None


def compile_batch(conditions: Sequence[Condition | None]) -> ConditionBatch:
    """One batch of already-checked conditions, in order."""
    sources = [True if c is None else c.source for c in conditions]
    compiled = _ENGINE.compile(sources)
    always = all(c is None for c in conditions)
    return ConditionBatch(len(sources), compiled, _top_level_reads(compiled), tuple(sources), always)


def compile_condition(rule: Any, where: str) -> Condition:
    """Compile a checked rule (see `check_rule`) into a `Condition`."""
    compiled = _ENGINE.compile(rule)
    return Condition(rule, where, compiled, _top_level_reads(compiled))


def compile_amount(source: Any, where: str) -> Amount:
    """Compile a number or a checked rule into an `Amount`."""
    if isinstance(source, int | float) and not isinstance(source, bool):
        return Amount(source, where)
    compiled = _ENGINE.compile(source)
    return Amount(source, where, compiled, _top_level_reads(compiled))


def is_truthy(value: Any) -> bool:
    """JsonLogic truthiness, exactly as conditions use it."""
    return _ENGINE.truthy(orjson.dumps(value).decode())


def explain_rule(rule: Any, context: Mapping[str, Any]) -> dict[str, Any]:
    """Evaluate `rule` step by step and return the tree of its sub-expressions,
    each `{"expression", "value"}` plus `children`; a sub-expression skipped by
    short-circuit has no `value`. Errors appear as `error` on the node."""
    envelope = orjson.loads(
        _ENGINE.evaluate_with_trace(orjson.dumps(rule).decode(), orjson.dumps(context).decode())
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

    tree = walk(envelope["expression_tree"])
    tree["value"] = envelope.get("result")
    if envelope.get("error"):
        tree["error"] = envelope["error"]
    return tree
