"""The shape of the event context, for `reactor validate` (CONTRACT §3, §11).

One description of what rules and templates can read, used by both checks:
a `var` path in a rule and a path a template reads are checked against it,
so that `aggregations.spend12m` or `transaction.totl` is a configuration
error with a "did you mean", not a reaction that never fires.

Objects reactor makes (`aggregations`, `statuses` entries, `benefits`
entries, …) are closed: an unknown field is an error. What upstream sends is
open: `profile`, `previous_profile`, `attributes` and every other profile
field at the root, transaction `items` entries, event extras. The
transaction itself holds upstream's fields beside the documented ones
(CONTRACT §1: unknown fields are kept and visible to rules), so an unknown
field of it is an error only when it is a near miss of a documented one
(`totl`); the same goes for an unknown key at the root, which may be a
profile field unless it is a near miss of one of reactor's own keys
(`aggregation`).

Inside `some`, `all`, `none`, `map`, `filter` and `reduce`, `var` reads the
item (JsonLogic): a `var` of one of reactor's root keys there reads nothing
the author meant, and the check says how to read the root instead.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

__all__ = [
    "ITERATORS",
    "PathProblem",
    "Shape",
    "check_path",
    "check_rule_paths",
    "context_shape",
    "did_you_mean",
]

#: Operators whose second argument runs once per item of the first.
ITERATORS = frozenset({"some", "all", "none", "map", "filter", "reduce"})


def did_you_mean(name: str, choices: Iterable[str], quote: str = "`") -> str:
    """` (did you mean `x`?)` for the choice closest to `name` (a case slip
    first), or "" when none is close."""
    options = sorted(set(choices))
    lowered = {c.lower(): c for c in options}
    if name.lower() in lowered and lowered[name.lower()] != name:
        return f" (did you mean {quote}{lowered[name.lower()]}{quote}?)"
    close = difflib.get_close_matches(name, options, n=1, cutoff=0.75)
    return f" (did you mean {quote}{close[0]}{quote}?)" if close else ""


def _near(name: str, choices: Iterable[str]) -> str | None:
    options = list(choices)
    lowered = {c.lower(): c for c in options}
    if name.lower() in lowered:
        return lowered[name.lower()]
    close = difflib.get_close_matches(name, options, n=1, cutoff=0.75)
    return close[0] if close else None


Extras = Literal["closed", "open", "near_misses"]


@dataclass(frozen=True, slots=True)
class Shape:
    """What one context value can hold.

    `kind` is `object`, `list`, `scalar` (a string, number, boolean or
    null) or `any`. An object lists its `fields`; `extras` says what an
    unknown field is: an error (`closed`), fine (`open`), or an error only
    when it is a near miss of a known one (`near_misses`). A list has the
    shape of its `item`. `what` names it in messages (`a number`, `a list`).
    """

    kind: Literal["object", "list", "scalar", "any"]
    fields: Mapping[str, Shape] = field(default_factory=dict)
    extras: Extras = "closed"
    item: Shape | None = None
    what: str = ""


ANY = Shape("any")
STRING = Shape("scalar", what="a string")
NUMBER = Shape("scalar", what="a number")
BOOLEAN = Shape("scalar", what="true or false")
TIME = Shape("scalar", what="a time (RFC 3339 string)")
STRINGS = Shape("list", item=STRING, what="a list of strings")
OPEN = Shape("object", extras="open", what="an object")


def _object(fields: Mapping[str, Shape], extras: Extras = "closed", what: str = "an object") -> Shape:
    return Shape("object", fields, extras, what=what)


def _list_of(item: Shape, what: str) -> Shape:
    return Shape("list", item=item, what=what)


_AGGREGATIONS = _object(
    {
        name: (TIME if name.endswith("_at") else NUMBER)
        for name in (
            "spend_all",
            "spend_12m",
            "spend_atv_12m",
            "shop_count",
            "shop_count_12m",
            "location_count",
            "first_spend_at",
            "last_spend_at",
            "days_since_last_spend",
            "previous_spend_at",
            "days_since_previous_spend",
        )
    }
)
_STATUS = _object(
    {
        "handle": STRING,
        "name": STRING,
        "rank": NUMBER,
        "group": STRING,
        "customer_facing": BOOLEAN,
        "applied_at": TIME,
        "expires_at": TIME,
        "meta": OPEN,
    }
)
_BENEFIT = _object(
    {"benefit": STRING, "issued_at": TIME, "expires_at": TIME, "granted_by": STRING, "claimed_at": TIME}
)  # (`claimed_at`: CONTRACT §8)
_TRANSACTION = _object(
    {
        "id": STRING,
        "system": STRING,
        "total": NUMBER,
        "currency": STRING,
        "transacted_at": TIME,
        "location": _object({"id": STRING, "name": STRING}, "near_misses"),
        "channel": STRING,
        "items": _list_of(OPEN, "a list of items"),
        "tags": STRINGS,
        "original_id": STRING,
    },
    "near_misses",
)


_TRIGGERS: dict[str, tuple[str, ...]] = {
    "tier.changed": ("program", "tier", "previous", "reason"),
    "status.applied": ("status", "reason"),
    "status.removed": ("status", "reason"),
    "achievement.level": ("achievement", "level"),
    "reward.expired": ("reward",),
}
_NULL = "null here (only reactions on reactor's own events have one)"
_REWARD = _object(
    {
        "id": STRING,
        "amount": NUMBER,
        "remaining": NUMBER,
        "currency": STRING,
        "issued_at": TIME,
        "expires_at": TIME,
    }
)


def _trigger(listens_to: Iterable[str] | None) -> Shape:
    kinds = list(_TRIGGERS) if listens_to is None else [k for k in listens_to if k in _TRIGGERS]
    if not kinds:
        return Shape("scalar", what=_NULL)
    fields = {name: ANY for kind in kinds for name in _TRIGGERS[kind]}
    return _object(fields)


_REDEMPTIONS: dict[str, tuple[str, ...]] = {
    "reward.redeemed": ("redemption_id", "amount", "currency"),
    "points.redeemed": ("redemption_id", "points", "kind"),
    "benefit.claimed": ("claim_id", "benefit"),
}


def _redemption(listens_to: Iterable[str] | None) -> Shape:
    kinds = list(_REDEMPTIONS) if listens_to is None else [k for k in listens_to if k in _REDEMPTIONS]
    if not kinds:
        return Shape("scalar", what="null here (only reactions on redemptions have one)")
    return _object({name: ANY for kind in kinds for name in _REDEMPTIONS[kind]}, "open")


def context_shape(
    programs: Iterable[str] = (),
    achievements: Iterable[str] = (),
    kinds: Iterable[str] = ("tier", "reward"),
    listens_to: Iterable[str] | None = None,
    reminder: bool | None = None,
) -> Shape:
    """The shape of the context (CONTRACT §3, §7, §8 and §11): reactor's own
    keys, beside the profile's fields, which are open. `listens_to` is the
    event types of the reaction the rule belongs to (None: any, as for a
    template), which say what `trigger` holds; `reminder` whether it is a
    reminder's (None: either)."""
    tier = _object({"handle": STRING, "name": STRING, "since": TIME, "review_at": TIME, "meta": OPEN})
    reminder_shape = (
        _object({"id": STRING, "of": STRING, "due_at": TIME, "item": ANY})
        if reminder is not False
        else Shape("scalar", what="null here (only reminders have one)")
    )
    return _object(
        {
            "event": _object({"id": STRING, "type": STRING, "occurred_at": TIME}, "open"),
            "now": TIME,
            "profile": OPEN,
            "previous_profile": OPEN,
            "transaction": _TRANSACTION,
            "flattened_tags": STRINGS,
            "flattened_statuses": STRINGS,
            "statuses": _list_of(_STATUS, "a list of statuses"),
            "best_status": STRING,
            "best_customer_facing_status": STRING,
            "benefits": _list_of(_BENEFIT, "a list of benefits"),
            "point_balance": NUMBER,
            "tier_points_12m": NUMBER,
            "reward_balance": NUMBER,
            "aggregations": _AGGREGATIONS,
            "points": _object({kind: NUMBER for kind in kinds}),
            "rewards": _list_of(_REWARD, "a list of rewards"),
            "tiers": _object({program: tier for program in programs}),
            "tier_handle": STRING,
            "achievements": _object(
                {handle: _object({"total": NUMBER, "level": NUMBER}) for handle in achievements}
            ),
            "today": STRING,
            "days_until_birthday": NUMBER,
            "trigger": _trigger(listens_to),
            "reminder": reminder_shape,
            "redemption": _redemption(listens_to),
        },
        "near_misses",
        what="the context",
    )


@dataclass(frozen=True, slots=True)
class PathProblem:
    """A path no context can hold; `pointer` is an RFC 6901 pointer into the
    rule (to the `var` node), "" for a template."""

    message: str
    pointer: str = ""


def _dotted(path: Sequence[str]) -> str:
    return ".".join(path)


def check_path(path: Sequence[str], shape: Shape, within: str = "the context") -> str | None:
    """Why `path` (from the root of `shape`, which `within` names) can hold
    nothing, or None."""
    current = shape
    for depth, name in enumerate(path):
        here = _dotted(path[: depth + 1])
        if current.kind == "any":
            return None
        if current.kind == "scalar":
            return f"`{_dotted(path[:depth])}` is {current.what}: it has no field `{name}`"
        if current.kind == "list":
            if not name.isdigit():
                return f"`{_dotted(path[:depth])}` is {current.what}: index it with a number, not `{name}`"
            current = current.item or ANY
            continue
        known = current.fields.get(name)
        if known is not None:
            current = known
            continue
        if current.extras == "open":
            return None
        near = _near(name, current.fields)
        if current.extras == "near_misses" and near is None:
            return None  # upstream's own field (or, at the root, a profile field)
        where = within if depth == 0 else f"`{_dotted(path[:depth])}`"
        hint = f" (did you mean `{_dotted([*path[:depth], near])}`?)" if near else ""
        if depth == 0 and within == "the context":
            hint += f"; a profile field of that name is `profile.{name}`"
        return f"`{here}` is not in {where}{hint}"
    return None


def _segments(path: Any) -> list[str] | None:
    """A `var` path as its segments, or None when it is computed."""
    if isinstance(path, int) and not isinstance(path, bool):
        return [str(path)]
    if not isinstance(path, str):
        return None
    return path.split(".") if path else []


def _var_path(args: Any) -> Any:
    if isinstance(args, list):
        return args[0] if args else ""
    return args


def _escape(part: Any) -> str:
    return str(part).replace("~", "~0").replace("/", "~1")


@dataclass
class _Scope:
    """Where a `var` reads: the root (depth 0) or the items of iterators."""

    depth: int = 0
    item: Shape | None = None
    reduce: bool = False
    #: The iterated list, as written, for messages.
    source: str = ""


def check_rule_paths(rule: Any, shape: Shape) -> list[PathProblem]:
    """Every `var` (and `missing`) path in `rule` that no context of `shape`
    can hold, and every root key read inside an iterator, where `var` reads
    the item."""
    return list(_walk(rule, "", _Scope(), shape))


def _walk(node: Any, pointer: str, scope: _Scope, root: Shape) -> Iterator[PathProblem]:
    if isinstance(node, list):
        for index, item in enumerate(node):
            yield from _walk(item, f"{pointer}/{index}", scope, root)
        return
    if not isinstance(node, dict) or len(node) != 1:
        return
    ((operator, args),) = node.items()
    here = f"{pointer}/{_escape(operator)}"
    if operator == "var":
        yield from _check_var(_var_path(args), here, scope, root)
        if isinstance(args, list) and len(args) > 1:
            yield from _walk(args[1], f"{here}/1", scope, root)  # the default
        return
    if operator in ("missing", "missing_some") and scope.depth == 0:
        names = args[1] if operator == "missing_some" and isinstance(args, list) and len(args) > 1 else args
        for index, name in enumerate(names if isinstance(names, list) else [names]):
            segments = _segments(name)
            problem = check_path(segments, root) if segments else None
            if problem is not None:
                yield PathProblem(problem, f"{here}/{index}")
        return
    if operator in ITERATORS and isinstance(args, list) and len(args) >= 2:
        yield from _walk(args[0], f"{here}/0", scope, root)
        item = _item_shape(args[0], scope, root)
        inner = _Scope(scope.depth + 1, item, operator == "reduce", _json(args[0]))
        yield from _walk(args[1], f"{here}/1", inner, root)
        for index, rest in enumerate(args[2:], start=2):
            yield from _walk(rest, f"{here}/{index}", scope, root)
        return
    if operator == "val":
        yield from _check_val(args, here, scope, root)
        return
    yield from _walk(args, here, scope, root)


def _check_val(args: Any, pointer: str, scope: _Scope, root: Shape) -> Iterator[PathProblem]:
    """`{"val": [[level], "a", "b"]}` reading the root (the fix this module
    suggests), or `{"val": ["a", "b"]}` / `{"val": "a"}` at the root."""
    parts = args if isinstance(args, list) else [args]
    reads_root = scope.depth == 0
    if parts and isinstance(parts[0], list):
        level = parts[0][0] if parts[0] and isinstance(parts[0][0], int) else 0
        reads_root = scope.depth > 0 and abs(level) >= 2 * scope.depth - 1
        parts = parts[1:]
    if reads_root and parts and all(isinstance(p, str) for p in parts):
        problem = check_path(parts, root)
        if problem is not None:
            yield PathProblem(problem, pointer)


def _item_shape(source: Any, scope: _Scope, root: Shape) -> Shape | None:
    """The shape of the items an iterator walks, when its list is a plain
    `var` of the root whose shape is known."""
    if scope.depth != 0 or not isinstance(source, dict) or set(source) != {"var"}:
        return None
    segments = _segments(_var_path(source["var"]))
    current: Shape | None = root
    for name in segments or []:
        if current is None or current.kind != "object":
            return None
        current = current.fields.get(name)
    return current.item if current is not None and current.kind == "list" else None


def _check_var(path: Any, pointer: str, scope: _Scope, root: Shape) -> Iterator[PathProblem]:
    segments = _segments(path)
    if segments is None or not segments:
        return
    if scope.depth == 0:
        problem = check_path(segments, root)
        if problem is not None:
            yield PathProblem(problem, pointer)
        return
    if scope.reduce and segments[0] in ("current", "accumulator"):
        if segments[0] == "current" and scope.item is not None and len(segments) > 1:
            problem = check_path(segments[1:], scope.item, f"an item of {scope.source}")
            if problem is not None:
                yield PathProblem(problem, pointer)
        return
    item = scope.item
    if item is not None and item.kind == "object" and segments[0] in item.fields:
        problem = check_path(segments, item, f"an item of {scope.source}")
        if problem is not None:
            yield PathProblem(problem, pointer)
        return
    if segments[0] in root.fields:
        level = 2 * scope.depth - 1  # datalogic's frames: 1 inside one iterator, 3 inside two, …
        fix = {"val": [[level], *segments]}
        yield PathProblem(
            f"`{_dotted(segments)}` inside an iterator reads the current item, not the context "
            f"(JsonLogic); to read the context write {_json(fix)}",
            pointer,
        )
        return
    if item is not None and item.kind == "object":
        problem = check_path(segments, item, f"an item of {scope.source}")
        if problem is not None:
            yield PathProblem(problem, pointer)


def _json(value: Any) -> str:
    import orjson

    return orjson.dumps(value).decode()
