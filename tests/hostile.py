"""Hostile event lines, built field by field, each with the outcome it must have.

Shared by the hypothesis property (tests/core/test_hostile_events.py) and the
script that wrote the regression corpus (tests/corpus/make_hostile.py). Every
expectation here is worked out from the contract and `reactor.limits`, not
from running reactor: a line is `blank`, an `event` (it decodes: it is then
processed, or skipped as a duplicate), or a `reject` with the dead letter's
`code` and `path` (one field changed per line, so that field is the one named).

A value is JSON (Python data), or `Raw(text)`: JSON text written into the
line as it is, for what a JSON encoder cannot write (an integer literal past
2^64, `1e400`, `NaN`, a lone surrogate escape).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import orjson

EARLIEST = "1900-01-01T00:00:00Z"
LATEST = "2200-12-31T23:59:59Z"
DAY_OF_BASES = "2026-06-01"


@dataclass(frozen=True)
class Raw:
    """JSON text spliced into the line as written."""

    text: str


@dataclass(frozen=True)
class Expect:
    """`kind` is `blank`, `event` or `reject`; a reject names `code` and `path`."""

    kind: str
    code: str = ""
    path: str = ""

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "code": self.code, "path": self.path}


EVENT = Expect("event")
BLANK = Expect("blank")


def reject(code: str, path: str = "") -> Expect:
    return Expect("reject", code, path)


MISSING = object()  # as a value: the field is left out
KINDS = ("profile.updated", "transaction.created", "profile.deleted")


def base_event(kind: str, n: int, profile: str) -> dict[str, Any]:
    """A valid event of type `kind`; `n` makes its ids unique."""
    at = f"{DAY_OF_BASES}T{(n // 3600) % 24:02d}:{(n // 60) % 60:02d}:{n % 60:02d}Z"
    event: dict[str, Any] = {"id": f"h-{n}", "type": kind, "occurred_at": at, "profile_id": profile}
    if kind == "transaction.created":
        event["data"] = {
            "transaction": {
                "id": f"t-{n}",
                "system": "pos",
                "total": 25.5,
                "currency": "AUD",
                "location": {"id": "store-1"},
                "items": [{"sku": "A1", "quantity": 1, "price": 25.5}],
                "tags": ["sale"],
            }
        }
    elif kind == "profile.updated":
        event["data"] = {
            "profile": {
                "id": profile,
                "first_name": "Ava",
                "tags": ["vip-waitlist"],
                "statuses": [{"handle": "vip", "expires_at": None}],
                "identities": [{"handle": "instagram", "followers": 12}],
                "attributes": {"custom": {"x": 1}},
            }
        }
    elif kind == "reward.redeemed":
        event["data"] = {"redemption_id": f"rd-{n}", "amount": 5, "currency": "AUD"}
    elif kind == "points.redeemed":
        event["data"] = {"redemption_id": f"rd-{n}", "points": 5}
    elif kind == "benefit.claimed":
        event["data"] = {"claim_id": f"cl-{n}", "benefit": "gift"}
    else:
        event["data"] = {}
    return event


#: Where redemptions go in the cases: a profile that never holds a reward, a
#: point or a benefit, so that a redemption that decodes is always refused
#: (CONTRACT §8) with a known code, whatever ran before it.
EMPTY_PROFILE = "p-holds-nothing"


def redemption_cases() -> list[tuple[str, list[Any], Any, Expect]]:
    """(event type, path, value, expectation) for the redemption events, each
    sent for `EMPTY_PROFILE`."""
    cases: list[tuple[str, list[Any], Any, Expect]] = []
    short = reject("insufficient_balance", "data.amount")
    for value, expect in (
        (5, short),
        (1e12, short),  # the largest amount decodes, and there is nothing to take it from
        (1e12 + 1, reject("out_of_range", "data.amount")),
        (1e19, reject("out_of_range", "data.amount")),
        (0, reject("invalid_value", "data.amount")),  # a redemption takes something
        (-5, reject("invalid_value", "data.amount")),
        ("5", reject("wrong_type", "data.amount")),
        (None, reject("wrong_type", "data.amount")),
        (Raw("NaN"), reject("invalid_json")),
        (MISSING, reject("missing_field", "data.amount")),
    ):
        cases.append(("reward.redeemed", ["data", "amount"], value, expect))
    for value, expect in (
        (5, reject("insufficient_balance", "data.points")),
        (2**53, reject("insufficient_balance", "data.points")),
        (2**53 + 1, reject("invalid_value", "data.points")),
        (0, reject("invalid_value", "data.points")),
        (1.5, reject("wrong_type", "data.points")),
        (Raw("1e400"), reject("invalid_json")),
    ):
        cases.append(("points.redeemed", ["data", "points"], value, expect))
    cases.append(("points.redeemed", ["data", "kind"], "tier", reject("invalid_value", "data.kind")))
    for kind, key in (("reward.redeemed", "redemption_id"), ("benefit.claimed", "claim_id")):
        for value, expect in (
            ("x" * 257, reject("too_large", f"data.{key}")),
            ("", reject("invalid_value", f"data.{key}")),
            (7, reject("wrong_type", f"data.{key}")),
        ):
            cases.append((kind, ["data", key], value, expect))
    cases.append(("benefit.claimed", ["data", "benefit"], "gift", reject("not_held", "data.benefit")))
    return cases


def _times(path: str, long_time: str) -> list[tuple[Any, Expect]]:
    """Extreme and malformed times for a field that must be an RFC 3339 instant."""
    out_of_range = reject("out_of_range", path)
    invalid = reject("invalid_value", path)
    wrong = reject("wrong_type", path)
    return [
        (EARLIEST, EVENT),
        ("2026-06-01T12:00:00+14:00", EVENT),
        ("2026-06-01t12:00:00z", EVENT),  # RFC 3339 allows lower case
        ("2026-06-01 12:00:00Z", EVENT),  # and a space (its note on T)
        ("2026-06-01T12:00:00.123456789Z", EVENT),  # sub-second digits are dropped
        ("0001-01-01T00:00:00Z", out_of_range),
        ("0001-01-01T00:00:00+01:00", out_of_range),  # overflows if converted to UTC first
        ("9999-12-31T23:59:59Z", out_of_range),
        ("9999-12-31T23:59:59-01:00", out_of_range),
        ("1899-12-31T23:59:59Z", out_of_range),
        ("1900-01-01T00:30:00+01:00", out_of_range),  # 1899 in UTC
        ("2201-01-01T00:00:00Z", out_of_range),
        ("2200-12-31T23:59:59-00:01", out_of_range),  # 2201 in UTC
        ("2026-02-30T00:00:00Z", invalid),
        ("2026-06-01T24:00:00Z", invalid),
        ("2026-12-31T23:59:60Z", invalid),  # a leap second: Python's datetime has none
        ("2026-06-01T12:00:00+24:00", invalid),
        ("2026-06-01T12:00:00", invalid),  # no zone
        ("2026-06-01", invalid),
        ("2026-W22-1T12:00:00Z", invalid),  # ISO 8601, not RFC 3339
        ("2026-06-01T12:00:00+1000", invalid),
        ("٢٠٢٦-06-01T12:00:00Z", invalid),  # digits, but not ASCII ones
        ("", invalid),
        ("now", invalid),
        (long_time, invalid),
        (None, wrong) if path == "occurred_at" else (None, EVENT),
        (1780000000, wrong),
        (1.78e9, wrong),
        (True, wrong),
        (["2026-06-01T12:00:00Z"], wrong),
        ({"at": "2026-06-01T12:00:00Z"}, wrong),
    ]


def _ids(path: str, required: bool) -> list[tuple[Any, Expect]]:
    cases: list[tuple[Any, Expect]] = [
        ("x" * 256, EVENT),
        ("x" * 257, reject("too_large", path)),
        ("with\u0000nul and \u202e bidi", EVENT),  # escaped in JSON: data, not a control of ours
        ("é🎉", EVENT),
        ("", reject("invalid_value", path)),
        (None, reject("wrong_type", path)),
        (12, reject("wrong_type", path)),
        (True, reject("wrong_type", path)),
        ([], reject("wrong_type", path)),
        ({}, reject("wrong_type", path)),
    ]
    if required:
        cases.append((MISSING, reject("missing_field", path)))
    return cases


def _numbers_of_amount(path: str) -> list[tuple[Any, Expect]]:
    out_of_range = reject("out_of_range", path)
    wrong = reject("wrong_type", path)
    return [
        (0, EVENT),
        (-0.0, EVENT),
        (5e-324, EVENT),
        (1e12, EVENT),
        (-1e12, EVENT),  # a refund of the largest amount
        (999999999999.99, EVENT),
        (1000000000001, out_of_range),
        (1e19, out_of_range),
        (-1e18, out_of_range),
        (2**53, out_of_range),
        (2**64 - 1, out_of_range),
        (Raw("184467440737095516160"), out_of_range),  # past 2^64: orjson reads a float
        (Raw("-92233720368547758080"), out_of_range),
        (Raw("1e308"), out_of_range),
        (Raw("1e400"), reject("invalid_json")),  # JSON has no infinity
        (Raw("NaN"), reject("invalid_json")),
        (Raw("-Infinity"), reject("invalid_json")),
        ("12.50", wrong),
        (None, wrong),
        (True, wrong),
        ([12.5], wrong),
        (MISSING, reject("missing_field", path)),
    ]


def _lists(path: str, item: Any, most: int) -> list[tuple[Any, Expect]]:
    return [
        ([], EVENT),
        ([copy.deepcopy(item) for _ in range(most)], EVENT),
        ([copy.deepcopy(item) for _ in range(most + 1)], reject("too_large", path)),
        ({"0": item}, reject("wrong_type", path)),
        ("tag", reject("wrong_type", path)),
        ([None], reject("wrong_type", f"{path}.0")),
        ([1], reject("wrong_type", f"{path}.0")),
    ]


def _deep(containers: int) -> Any:
    """Lists and objects nested `containers` deep, alternating."""
    value: Any = []
    for i in range(containers - 1):
        value = [value] if i % 2 else {"a": value}
    return value


def _open_values(scale: float) -> list[tuple[Any, Expect]]:
    """Values for fields reactor keeps but does not read (unknown, open ones):
    any JSON is fine, within the line's size and nesting. `scale` sizes the
    huge collections (1: lines of 100-600 KB)."""

    def n(count: int) -> int:
        return max(1, int(count * scale))

    return [
        (1e308, EVENT),
        (-1e308, EVENT),
        (2**64 - 1, EVENT),
        (-(2**63), EVENT),
        (Raw("184467440737095516160"), EVENT),
        (Raw("-92233720368547758089"), EVENT),
        (Raw("1e400"), reject("invalid_json")),
        (Raw('"\\ud800"'), reject("invalid_json")),  # a lone surrogate
        (Raw('"\\u0000"'), EVENT),
        ("\u0000" * 1000, EVENT),
        ("x" * n(200_000), EVENT),
        (list(range(n(100_000))), EVENT),
        ({f"k{i}": i for i in range(n(20_000))}, EVENT),
        ([{"sku": str(i), "price": i} for i in range(n(5_000))], EVENT),
    ]


def _deep_values(depth_of_field: int) -> list[tuple[Any, Expect]]:
    """Nesting at and past the 64 levels an event may hold. `depth_of_field`
    is the level of the field's own value (the event object is level 1), so a
    value of k nested containers reaches level depth_of_field + k - 1."""
    fits = 65 - depth_of_field
    return [
        (_deep(fits), EVENT),
        (_deep(fits + 1), reject("too_large")),
        (_deep(1000 - depth_of_field), reject("too_large")),  # orjson reads up to 1024 levels
        (_deep(5000), reject("invalid_json")),  # past orjson's own limit
    ]


def field_cases(scale: float = 1.0) -> list[tuple[str, list[Any], Any, Expect]]:
    """(event type, path of the field, value, expectation) for every hostile
    value of every field; `scale` sizes the huge values (see `_open_values`)."""
    cases: list[tuple[str, list[Any], Any, Expect]] = []
    long_time = "2026-06-01T12:00:00Z" + "x" * max(100, int(100_000 * scale))
    for kind in ("profile.updated", "transaction.created", "profile.deleted"):
        for path, values in (
            (["id"], _ids("id", True)),
            (["profile_id"], _ids("profile_id", True)),
            (["occurred_at"], _times("occurred_at", long_time)),
            (["occurred_at"], [(MISSING, reject("missing_field", "occurred_at"))]),
            (["extra_field"], _open_values(scale)),
            (["extra_field"], _deep_values(2)),
        ):
            cases.extend((kind, path, value, expect) for value, expect in values)
        wrong = "data"
        for value in (None, [], "x", 1):
            cases.append((kind, ["data"], value, reject("wrong_type", wrong)))
        cases.append((kind, ["data"], MISSING, reject("missing_field", "data")))
        for value, expect in (
            ("order.created", reject("unknown_type", "type")),
            ("", reject("unknown_type", "type")),
            ("schedule", reject("unknown_type", "type")),  # reactor's own, never input
            (None, reject("wrong_type", "type")),
            (7, reject("wrong_type", "type")),
            (MISSING, reject("missing_field", "type")),
        ):
            cases.append((kind, ["type"], value, expect))
    txn = ["data", "transaction"]
    t = "data.transaction"
    for path, values in (
        (txn, [(None, reject("wrong_type", t)), ([], reject("wrong_type", t))]),
        (txn, [(MISSING, reject("missing_field", t))]),
        ([*txn, "id"], _ids(f"{t}.id", True)),
        (
            [*txn, "system"],
            [(None, EVENT), ("s" * 256, EVENT), ("s" * 257, reject("too_large", f"{t}.system"))],
        ),
        ([*txn, "system"], [(5, reject("wrong_type", f"{t}.system"))]),
        ([*txn, "total"], _numbers_of_amount(f"{t}.total")),
        ([*txn, "currency"], [(None, EVENT), (36, reject("wrong_type", f"{t}.currency"))]),
        ([*txn, "transacted_at"], _times(f"{t}.transacted_at", long_time)),
        ([*txn, "location"], [(None, EVENT), ("store-1", reject("wrong_type", f"{t}.location"))]),
        ([*txn, "location", "id"], [(None, EVENT), (12, reject("wrong_type", f"{t}.location.id"))]),
        ([*txn, "items"], [(None, EVENT), ([{"sku": str(i)} for i in range(int(20_000 * scale))], EVENT)]),
        (
            [*txn, "items"],
            [([1], reject("wrong_type", f"{t}.items.0")), ({}, reject("wrong_type", f"{t}.items"))],
        ),
        ([*txn, "tags"], _lists(f"{t}.tags", "t", 1_000)),
        ([*txn, "price_list"], _open_values(scale)),
        ([*txn, "price_list"], _deep_values(4)),
    ):
        cases.extend(("transaction.created", path, value, expect) for value, expect in values)
    prof = ["data", "profile"]
    p = "data.profile"
    for path, values in (
        (prof, [(None, reject("wrong_type", p)), ("ava", reject("wrong_type", p))]),
        (prof, [(MISSING, reject("missing_field", p))]),
        ([*prof, "id"], [(None, EVENT), (MISSING, EVENT), ("p-other", reject("invalid_value", f"{p}.id"))]),
        ([*prof, "id"], [(7, reject("wrong_type", f"{p}.id")), ("", reject("invalid_value", f"{p}.id"))]),
        ([*prof, "tags"], [(None, EVENT), *_lists(f"{p}.tags", "t", 1_000)]),
        ([*prof, "statuses"], [(None, EVENT), *_lists(f"{p}.statuses", {"handle": "vip"}, 1_000)]),
        ([*prof, "identities"], [(None, EVENT), *_lists(f"{p}.identities", {"handle": "ig"}, 1_000)]),
        ([*prof, "attributes"], _open_values(scale)),
        ([*prof, "attributes"], _deep_values(4)),
    ):
        cases.extend(("profile.updated", path, value, expect) for value, expect in values)
    status = [*prof, "statuses", 0]
    s = f"{p}.statuses.0"
    for value, expect in (
        *((v, e) for v, e in _times(f"{s}.expires_at", long_time) if v is not None),
        (None, EVENT),
    ):
        cases.append(("profile.updated", [*status, "expires_at"], value, expect))
    for value, expect in (
        ("", reject("invalid_value", f"{s}.handle")),
        (None, reject("wrong_type", f"{s}.handle")),
        (MISSING, reject("missing_field", f"{s}.handle")),
    ):
        cases.append(("profile.updated", [*status, "handle"], value, expect))
    identity = [*prof, "identities", 0, "handle"]
    for value, expect in (
        ("", reject("invalid_value", f"{p}.identities.0.handle")),
        ([], reject("wrong_type", f"{p}.identities.0.handle")),
        (MISSING, reject("missing_field", f"{p}.identities.0.handle")),
    ):
        cases.append(("profile.updated", identity, value, expect))
    return cases


_PLACEHOLDER = "\u0001raw-placeholder\u0001"


def build(kind: str, n: int, profile: str, path: list[Any], value: Any) -> bytes:
    """One line: the base event of `kind` with the field at `path` set to
    `value` (or removed, for `MISSING`)."""
    event = base_event(kind, n, profile)
    node: Any = event
    for part in path[:-1]:
        node = node.setdefault(part, {}) if isinstance(node, dict) else node[part]
    last = path[-1]
    if value is MISSING:
        node.pop(last, None)
    else:
        node[last] = _PLACEHOLDER if isinstance(value, Raw) else value
    if path == ["profile_id"] and kind == "profile.updated" and isinstance(value, str):
        event["data"]["profile"]["id"] = value  # the snapshot's id must agree
    line = _dumps(event)
    if isinstance(value, Raw):
        line = line.replace(orjson.dumps(_PLACEHOLDER), value.text.encode())
    return line


def _dumps(value: Any) -> bytes:
    try:
        return orjson.dumps(value)
    except orjson.JSONEncodeError:  # nested past orjson's 255 levels: write it by hand
        return _dumps_deep(value).encode()


def _dumps_deep(value: Any) -> str:
    parts: list[str] = []
    stack: list[Any] = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str) and node in ("\u0002]", "\u0002}", "\u0002,"):
            parts.append(node[1])
        elif isinstance(node, dict):
            parts.append("{")
            items = list(node.items())
            stack.append("\u0002}")
            for i, (key, item) in enumerate(reversed(items)):
                stack.append(item)
                stack.append(Raw(orjson.dumps(key).decode() + ":"))
                if i < len(items) - 1:
                    stack.append("\u0002,")
        elif isinstance(node, list):
            parts.append("[")
            stack.append("\u0002]")
            for i, item in enumerate(reversed(node)):
                stack.append(item)
                if i < len(node) - 1:
                    stack.append("\u0002,")
        elif isinstance(node, Raw):
            parts.append(node.text)
        else:
            parts.append(orjson.dumps(node).decode())
    return "".join(parts)


def valid_line(n: int, profile: str, kind: str = "transaction.created") -> bytes:
    return orjson.dumps(base_event(kind, n, profile))


#: Lines broken below the level of fields: bytes, encodings, framing.
RAW_LINES: list[tuple[bytes, Expect]] = [
    (b"", BLANK),
    (b"   ", BLANK),
    (b"\t \t", BLANK),
    (b" \r", BLANK),
    (b"\x0c", reject("invalid_json")),  # form feed: not JSON whitespace
    (b"\x00", reject("invalid_json")),
    (b"\xef\xbb\xbf", reject("invalid_json")),  # a BOM, not at the start of the file
    (b"\xff\xfe{}", reject("invalid_json")),
    (b"{broken", reject("invalid_json")),
    (b"null", reject("wrong_type")),
    (b"[]", reject("wrong_type")),
    (b'"an event"', reject("wrong_type")),
    (b"42", reject("wrong_type")),
    (b"{}", reject("missing_field", "id")),
    (b'{"id": "h-0"} trailing', reject("invalid_json")),
]


def raw_cases(n: int) -> list[tuple[bytes, Expect]]:
    """Raw-level lines, including valid events (numbered from `n`, so that
    none is a duplicate) with bytes changed inside them."""
    cases = list(RAW_LINES)
    for change, expect in (
        (lambda e: e.replace('"AUD"', '"A\x00D"').encode(), reject("invalid_json")),  # a raw NUL
        (lambda e: e.replace('"AUD"', '"A\xffD"').encode("latin-1"), reject("invalid_json")),
        (lambda e: e.replace('"AUD"', '"\xe9"').encode("latin-1"), reject("invalid_json")),  # Latin-1
        (lambda e: e.replace('"AUD"', '"A\\u0000D"').encode(), EVENT),  # escaped: a string like any
        (lambda e: e.replace('"AUD"', '"\\ud83d\\ude00"').encode(), EVENT),  # a surrogate pair
        (lambda e: e.replace('"AUD"', '"\\udc00"').encode(), reject("invalid_json")),  # a lone one
        (lambda e: b"\xef\xbb\xbf" + e.encode(), reject("invalid_json")),  # a BOM past line 1
        (lambda e: e.encode()[:-1], reject("invalid_json")),
        (lambda e: e.encode() + b"\r", EVENT),  # CRLF line ends
        (lambda e: b"  " + e.encode() + b"\t ", EVENT),  # JSON whitespace around the object
    ):
        cases.append((change(valid_line(n, "p-h1").decode()), expect))
        n += 1
    return cases


#: A configuration that reads most of the context and pushes every bound:
#: multipliers and extra days at their largest, 100-year durations, points
#: and amounts taken from totals (so that large ones leave their range at run
#: time), a template that writes the whole profile, and an automation whose
#: ticks are a century apart (far-apart event times stay cheap to replay).
CONFIG = {
    "reactions/hostile.yaml": """
statuses:
  - {handle: vip, name: VIP, rank: 1, default_duration: 36525d,
     modifiers: {tier_points_multiplier: 1000, reward_extra_days: 36525, benefit_extra_days: 36525}}
  - {handle: member, name: Member, rank: 2, grants: [gift]}
benefits:
  - {handle: gift, name: Gift, kind: free_product, valid_for: 36525d}
reactions:
  - id: points
    on: [transaction.created]
    actions:
      - {type: points.award, kind: tier, points: {"var": "transaction.total"}}
      - {type: points.award, kind: reward, points: {"*": [{"var": "transaction.total"}, 1000]}}
  - id: reward
    on: [transaction.created]
    when: {">": [{"var": "transaction.total"}, 0]}
    actions: [{type: reward.create, amount: {"*": [{"var": "transaction.total"}, 10]}, valid_for: 36525d}]
  - id: everything
    on: [profile.updated, transaction.created]
    when: {"or": [{"in": ["vip", {"var": "flattened_statuses"}]}, {">=": [{"var": "aggregations.spend_12m"}, 0]}]}
    limit: {per_profile: 3, window: 36525d}
    actions:
      - {type: status.apply, status: member, duration: 36525d}
      - {type: tag.add, tag: seen}
      - {type: benefit.create, benefit: gift}
      - {type: target.send, target: hook}
automations:
  - {id: century, every: 36500d, actions: [{type: tag.add, tag: century}]}
""",
    "targets/hook.yaml": """
targets:
  - id: hook
    url: "http://127.0.0.1:9/hook"
    body: '{"profile": {{ profile | tojson }}, "now": {{ now | tojson }}, "aggregations": {{ aggregations | tojson }}}'
""",
}
