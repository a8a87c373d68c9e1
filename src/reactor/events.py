"""Input events: the JSON messages upstream systems publish, decoded and checked.

`decode_event` turns the bytes of one Kafka message (or one JSON Lines line)
into a frozen `Event`, or raises `InvalidEvent` naming the field at fault, so
that the transport can dead-letter the original bytes and go on. The bounds of
`limits` (size, nesting, times, amounts, ids, lists) are checked here, so an
event that decodes can go through the core and out as JSON.
"""

from __future__ import annotations

from typing import Any, Final, NamedTuple

import orjson
from pydantic import ValidationError

from reactor.errors import InvalidEvent
from reactor.event_schema import CHECK_BY_TYPE, CHECK_ENVELOPE
from reactor.limits import EVENT_BYTES_MAX, EVENT_DEPTH_MAX, OutOfRange

__all__ = [
    "DERIVED_TYPES",
    "EVENT_TYPES",
    "PROFILE_DELETED",
    "PROFILE_DEPERSONALISED",
    "PROFILE_UPDATED",
    "REDEMPTION_TYPES",
    "REMINDER",
    "SCHEDULE",
    "TRANSACTION_CREATED",
    "Event",
    "decode_event",
]

PROFILE_UPDATED: Final = "profile.updated"
TRANSACTION_CREATED: Final = "transaction.created"
PROFILE_DELETED: Final = "profile.deleted"
PROFILE_DEPERSONALISED: Final = "profile.depersonalised"
#: The type of the synthetic event an automation tick runs with; never read from input.
SCHEDULE: Final = "schedule"
#: The type of the synthetic event a reminder runs with; never read from input.
REMINDER: Final = "reminder"
#: Upstream's redemptions (CONTRACT §8): on their own input topic in the worker.
REDEMPTION_TYPES: Final = ("reward.redeemed", "points.redeemed", "benefit.claimed")
EVENT_TYPES: Final = (
    PROFILE_UPDATED,
    TRANSACTION_CREATED,
    PROFILE_DELETED,
    PROFILE_DEPERSONALISED,
    *REDEMPTION_TYPES,
)
#: Reactor's own events, raised inside `process` (CONTRACT §7): reactions may
#: listen to them; they never come from input.
DERIVED_TYPES: Final = (
    "tier.changed",
    "status.applied",
    "status.removed",
    "achievement.level",
    "reward.expired",
)

_REQUIRED = ("id", "type", "occurred_at", "profile_id", "data")


class Event(NamedTuple):
    """One decoded input event. `data` is the payload as sent (unknown fields
    kept); `extra` holds unknown top-level fields. Times are canonical UTC.
    `transaction_at` is the transaction's `transacted_at` (or `occurred_at`).

    A named tuple rather than a frozen dataclass (as immutable, and a third of
    the cost to make: one is made for every event, and for every derived
    event and time-driven frame). `data` and `extra` have no default, so that
    no two events share a dict by accident; neither is changed in place."""

    id: str
    type: str
    occurred_at: str
    profile_id: str
    data: dict[str, Any]
    extra: dict[str, Any]
    transaction_at: str | None = None


_EXPECTED = {
    "string_type": "a string",
    "float_type": "a number",
    "int_type": "a whole number",
    "dict_type": "an object",
    "model_type": "an object",
    "list_type": "a list",
    "bool_type": "true or false",
}


def _json_kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


def _invalid(error: ValidationError) -> InvalidEvent:
    first = error.errors(include_url=False)[0]
    path = ".".join(str(part) for part in first["loc"])
    kind = first["type"]
    if kind == "missing":
        return InvalidEvent(f"missing required field `{path}`", code="missing_field", path=path)
    if kind == "value_error":
        cause = first.get("ctx", {}).get("error")
        reason = str(cause) if cause is not None else first["msg"]
        code = "out_of_range" if isinstance(cause, OutOfRange) else "invalid_value"
        return InvalidEvent(f"`{path}`: {reason}", code=code, path=path)
    if kind == "string_too_short":
        return InvalidEvent(f"`{path}` must not be empty", code="invalid_value", path=path)
    if kind == "string_too_long":
        most = first["ctx"]["max_length"]
        return InvalidEvent(f"`{path}` is longer than {most} characters", code="too_large", path=path)
    if kind == "too_long":
        most = first["ctx"]["max_length"]
        return InvalidEvent(f"`{path}` has more than {most:,} entries", code="too_large", path=path)
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal", "finite_number"):
        return InvalidEvent(f"`{path}`: {first['msg']}", code="invalid_value", path=path)
    expected = _EXPECTED.get(kind, "of another type")
    got = _json_kind(first.get("input"))
    return InvalidEvent(f"`{path}` must be {expected}, not {got}", code="wrong_type", path=path)


def _check_profile(checked: dict[str, Any], raw: dict[str, Any], profile_id: str) -> None:
    claimed = checked.get("id")
    if claimed is not None and claimed != profile_id:
        raise InvalidEvent(
            f"`data.profile.id` is {claimed!r} but `profile_id` is {profile_id!r}",
            code="invalid_value",
            path="data.profile.id",
        )
    # Times in the context are canonical UTC, so rules can compare them as strings.
    for normal, status in zip(checked.get("statuses") or (), raw.get("statuses") or (), strict=True):
        if normal.get("expires_at") is not None:
            status["expires_at"] = normal["expires_at"]


def _too_deep(document: Any) -> bool:
    """Whether objects and lists nest deeper than `EVENT_DEPTH_MAX`."""
    stack: list[tuple[Any, int]] = [(document, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > EVENT_DEPTH_MAX:
            return True
        children = node.values() if isinstance(node, dict) else node
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def decode_event(raw: bytes | str) -> Event:
    """Decode and check one event. Raises `InvalidEvent` (code, message, field path)."""
    if len(raw) > EVENT_BYTES_MAX:
        raise InvalidEvent(f"the event is longer than {EVENT_BYTES_MAX:,} bytes", code="too_large")
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidEvent(f"not valid JSON: {exc}", code="invalid_json") from None
    if not isinstance(document, dict):
        raise InvalidEvent(f"an event must be a JSON object, not {_json_kind(document)}", code="wrong_type")
    # Only an event with that many brackets in all can nest that deep: most never walk.
    brackets = (
        raw.count(b"{") + raw.count(b"[") if isinstance(raw, bytes) else raw.count("{") + raw.count("[")
    )
    if brackets > EVENT_DEPTH_MAX and _too_deep(document):
        raise InvalidEvent(f"objects and lists nest deeper than {EVENT_DEPTH_MAX} levels", code="too_large")
    kind = document.get("type")
    check = CHECK_BY_TYPE.get(kind) if isinstance(kind, str) else None
    try:
        checked = (check or CHECK_ENVELOPE)(document)
    except ValidationError as exc:
        raise _invalid(exc) from None
    if kind not in EVENT_TYPES:
        raise InvalidEvent(
            f"unknown event type {kind!r}: expected one of {', '.join(EVENT_TYPES)}",
            code="unknown_type",
            path="type",
        )
    data: dict[str, Any] = document["data"]
    transaction_at = None
    if kind == PROFILE_UPDATED:
        _check_profile(checked["data"]["profile"], data["profile"], checked["profile_id"])
    elif kind == TRANSACTION_CREATED:
        stamped = checked["data"]["transaction"].get("transacted_at")
        if stamped is not None:
            data["transaction"]["transacted_at"] = stamped
        transaction_at = stamped or checked["occurred_at"]
    extra = {k: v for k, v in document.items() if k not in _REQUIRED} if len(document) > 5 else {}
    return Event(
        checked["id"], kind, checked["occurred_at"], checked["profile_id"], data, extra, transaction_at
    )
