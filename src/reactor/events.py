"""Input events: the JSON messages upstream systems publish, decoded and checked.

`decode_event` turns the bytes of one Kafka message (or one JSON Lines line)
into a frozen `Event`, or raises `InvalidEvent` naming the field at fault, so
that the transport can dead-letter the original bytes and go on.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any, Final

import orjson
from pydantic import AfterValidator, BaseModel, ConfigDict, StringConstraints, ValidationError

from reactor.clock import normalize_instant
from reactor.errors import InvalidEvent

__all__ = [
    "EVENT_TYPES",
    "PROFILE_DELETED",
    "PROFILE_UPDATED",
    "SCHEDULE",
    "TRANSACTION_CREATED",
    "Event",
    "decode_event",
]

PROFILE_UPDATED: Final = "profile.updated"
TRANSACTION_CREATED: Final = "transaction.created"
PROFILE_DELETED: Final = "profile.deleted"
#: The type of the synthetic event an automation tick runs with; never read from input.
SCHEDULE: Final = "schedule"
EVENT_TYPES: Final = (PROFILE_UPDATED, TRANSACTION_CREATED, PROFILE_DELETED)

_REQUIRED = ("id", "type", "occurred_at", "profile_id", "data")


@dataclass(frozen=True, slots=True)
class Event:
    """One decoded input event. `data` is the payload as sent (unknown fields
    kept); `extra` holds unknown top-level fields. Times are canonical UTC.
    `transaction_at` is the transaction's `transacted_at` (or `occurred_at`)."""

    id: str
    type: str
    occurred_at: str
    profile_id: str
    data: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)
    transaction_at: str | None = None


Instant = Annotated[str, AfterValidator(normalize_instant)]
Text = Annotated[str, StringConstraints(min_length=1)]


class _Model(BaseModel):
    model_config = ConfigDict(strict=True, extra="allow")


class _Envelope(_Model):
    id: Text
    type: str
    occurred_at: Instant
    profile_id: Text
    data: dict[str, Any]


class _Status(_Model):
    handle: Text
    expires_at: Instant | None = None


class _Identity(_Model):
    handle: Text


class _Profile(_Model):
    id: Text | None = None
    tags: list[str] | None = None
    statuses: list[_Status] | None = None
    identities: list[_Identity] | None = None


class _Location(_Model):
    id: Text | None = None


class _Transaction(_Model):
    id: Text
    system: str | None = None
    total: float
    currency: str | None = None
    transacted_at: Instant | None = None
    location: _Location | None = None
    items: list[dict[str, Any]] | None = None
    tags: list[str] | None = None


class _ProfileData(_Model):
    profile: _Profile


class _TransactionData(_Model):
    transaction: _Transaction


_DATA_MODELS: dict[str, type[_Model]] = {
    PROFILE_UPDATED: _ProfileData,
    TRANSACTION_CREATED: _TransactionData,
}

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


def _invalid(error: ValidationError, prefix: str = "") -> InvalidEvent:
    first = error.errors(include_url=False)[0]
    path = ".".join(str(part) for part in ([prefix] if prefix else []) + list(first["loc"]))
    kind = first["type"]
    if kind == "missing":
        return InvalidEvent(f"missing required field `{path}`", code="missing_field", path=path)
    if kind == "value_error":
        reason = str(first["ctx"]["error"]) if "ctx" in first else first["msg"]
        return InvalidEvent(f"`{path}`: {reason}", code="invalid_value", path=path)
    if kind == "string_too_short":
        return InvalidEvent(f"`{path}` must not be empty", code="invalid_value", path=path)
    expected = _EXPECTED.get(kind, "of another type")
    got = _json_kind(first.get("input"))
    return InvalidEvent(f"`{path}` must be {expected}, not {got}", code="wrong_type", path=path)


def _check_profile(profile: _Profile, raw: dict[str, Any], profile_id: str) -> None:
    if profile.id is not None and profile.id != profile_id:
        raise InvalidEvent(
            f"`data.profile.id` is {profile.id!r} but `profile_id` is {profile_id!r}",
            code="invalid_value",
            path="data.profile.id",
        )
    # Times in the context are canonical UTC, so rules can compare them as strings.
    for checked, status in zip(profile.statuses or (), raw.get("statuses") or (), strict=True):
        if checked.expires_at is not None:
            status["expires_at"] = checked.expires_at


def decode_event(raw: bytes | str) -> Event:
    """Decode and check one event. Raises `InvalidEvent` (code, message, field path)."""
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise InvalidEvent(f"not valid JSON: {exc}", code="invalid_json") from None
    if not isinstance(document, dict):
        raise InvalidEvent(f"an event must be a JSON object, not {_json_kind(document)}", code="wrong_type")
    try:
        envelope = _Envelope.model_validate(document)
    except ValidationError as exc:
        raise _invalid(exc) from None
    if envelope.type not in EVENT_TYPES:
        raise InvalidEvent(
            f"unknown event type {envelope.type!r}: expected one of {', '.join(EVENT_TYPES)}",
            code="unknown_type",
            path="type",
        )
    data: dict[str, Any] = document["data"]
    transaction_at = None
    model = _DATA_MODELS.get(envelope.type)
    if model is not None:
        try:
            checked = model.model_validate(data)
        except ValidationError as exc:
            raise _invalid(exc, "data") from None
        if isinstance(checked, _ProfileData):
            _check_profile(checked.profile, data["profile"], envelope.profile_id)
        elif isinstance(checked, _TransactionData):
            transaction_at = checked.transaction.transacted_at or envelope.occurred_at
            if checked.transaction.transacted_at is not None:
                data["transaction"]["transacted_at"] = transaction_at
    extra = {k: v for k, v in document.items() if k not in _REQUIRED}
    return Event(
        id=envelope.id,
        type=envelope.type,
        occurred_at=envelope.occurred_at,
        profile_id=envelope.profile_id,
        data=data,
        extra=extra,
        transaction_at=transaction_at,
    )
