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

import threading
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
    "ContextData",
    "RuleProblem",
    "check_rule",
    "compile_amount",
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
_sessions = threading.local()


def _session() -> datalogic_py.Session:
    # A session reuses one arena per thread; sessions are not thread-safe.
    session: datalogic_py.Session | None = getattr(_sessions, "session", None)
    if session is None:
        session = _ENGINE.session()
        _sessions.session = session
    return session


class ContextData:
    """An event context parsed once for many rule evaluations."""

    __slots__ = ("handle",)

    def __init__(self, context: Mapping[str, Any]) -> None:
        self.handle = datalogic_py.DataHandle(context)


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
                "`now` reads the wall clock; use {\"var\": \"now\"}, the event time, "
                "so replay and live agree",
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

    def holds(self, data: ContextData) -> bool:
        """Whether the rule is truthy (JsonLogic truthiness) for this context."""
        try:
            return _session().evaluate_truthy(self._rule, data.handle)
        except datalogic_py.DataLogicError as exc:
            code, message = _describe(exc)
            raise RuleError(f"{self.where}: {message}", code=code, path=self.where) from None


@dataclass(frozen=True, slots=True)
class Amount:
    """A number, or a JSON Logic expression that must evaluate to one."""

    source: Any
    where: str
    _rule: datalogic_py.Rule | None = field(default=None, repr=False, compare=False)

    def value(self, data: ContextData) -> float:
        if self._rule is None:
            return float(self.source)
        try:
            result = _session().evaluate_data(self._rule, data.handle)
        except datalogic_py.DataLogicError as exc:
            code, message = _describe(exc)
            raise RuleError(f"{self.where}: {message}", code=code, path=self.where) from None
        if isinstance(result, bool) or not isinstance(result, int | float):
            raise RuleError(
                f"{self.where}: evaluated to {orjson.dumps(result).decode()}, expected a number",
                code="not_a_number",
                path=self.where,
            )
        return float(result)


def compile_condition(rule: Any, where: str) -> Condition:
    """Compile a checked rule (see `check_rule`) into a `Condition`."""
    return Condition(rule, where, _ENGINE.compile(rule))


def compile_amount(source: Any, where: str) -> Amount:
    """Compile a number or a checked rule into an `Amount`."""
    if isinstance(source, int | float) and not isinstance(source, bool):
        return Amount(source, where)
    return Amount(source, where, _ENGINE.compile(source))


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
