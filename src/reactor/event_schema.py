"""The checked shape of each input event, for pydantic (see `events.decode_event`).

A module of its own because pydantic reads these TypedDict classes at run
time, so they stay plain Python when `events` is compiled (REACTOR_COMPILE=1).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, NotRequired

from pydantic import AfterValidator, ConfigDict, Field, StringConstraints, TypeAdapter, with_config
from typing_extensions import TypedDict

from reactor.clock import normalize_instant
from reactor.limits import AMOUNT_MAX, EVENT_ID_MAX, EVENT_LIST_MAX, OutOfRange

__all__ = ["BY_TYPE", "CHECK_BY_TYPE", "CHECK_ENVELOPE", "ENVELOPE"]


def _amount(value: float) -> float:
    if not -AMOUNT_MAX <= value <= AMOUNT_MAX:
        raise OutOfRange(f"{value!r} is outside the ±10^12 that reactor accepts for an amount")
    return value


Instant = Annotated[str, AfterValidator(normalize_instant)]
Text = Annotated[str, StringConstraints(min_length=1)]
#: Ids are kept (dedupe, action ids, Kafka keys): bounded, so a profile's state is.
Id = Annotated[str, StringConstraints(min_length=1, max_length=EVENT_ID_MAX)]
Amount = Annotated[float, AfterValidator(_amount)]
#: Lists a profile's state keeps.
Tags = Annotated[list[str], Field(max_length=EVENT_LIST_MAX)]

# The checked shape of each event type, as TypedDicts: pydantic checks a whole
# event in one native call and returns plain dicts (no model objects to build).
# Unknown fields are allowed and kept; `data` is used as sent, except that its
# times are put in canonical form.
_STRICT = ConfigDict(strict=True, extra="allow")


@with_config(_STRICT)
class _Status(TypedDict):
    handle: Text
    expires_at: NotRequired[Instant | None]


@with_config(_STRICT)
class _Identity(TypedDict):
    handle: Text


@with_config(_STRICT)
class _Profile(TypedDict):
    id: NotRequired[Text | None]
    tags: NotRequired[Tags | None]
    statuses: NotRequired[Annotated[list[_Status], Field(max_length=EVENT_LIST_MAX)] | None]
    identities: NotRequired[Annotated[list[_Identity], Field(max_length=EVENT_LIST_MAX)] | None]


@with_config(_STRICT)
class _Location(TypedDict):
    id: NotRequired[Text | None]


@with_config(_STRICT)
class _Transaction(TypedDict):
    id: Id
    system: NotRequired[Annotated[str, StringConstraints(max_length=EVENT_ID_MAX)] | None]
    total: Amount
    currency: NotRequired[str | None]
    transacted_at: NotRequired[Instant | None]
    location: NotRequired[_Location | None]
    items: NotRequired[list[dict[str, Any]] | None]
    tags: NotRequired[Tags | None]


@with_config(_STRICT)
class _ProfileData(TypedDict):
    profile: _Profile


@with_config(_STRICT)
class _TransactionData(TypedDict):
    transaction: _Transaction


@with_config(_STRICT)
class _Envelope(TypedDict):
    id: Id
    type: str
    occurred_at: Instant
    profile_id: Id
    data: dict[str, Any]


@with_config(_STRICT)
class _ProfileEvent(_Envelope):
    data: _ProfileData  # type: ignore[misc]


@with_config(_STRICT)
class _TransactionEvent(_Envelope):
    data: _TransactionData  # type: ignore[misc]


Positive = Annotated[float, Field(gt=0, allow_inf_nan=False), AfterValidator(_amount)]
WholePositive = Annotated[int, Field(gt=0, le=2**53)]


@with_config(_STRICT)
class _RewardRedeemed(TypedDict):
    redemption_id: Id
    amount: Positive
    currency: NotRequired[Text | None]


@with_config(_STRICT)
class _PointsRedeemed(TypedDict):
    redemption_id: Id
    points: WholePositive
    kind: NotRequired[Text | None]


@with_config(_STRICT)
class _BenefitClaimed(TypedDict):
    claim_id: Id
    benefit: Text


@with_config(_STRICT)
class _RewardRedeemedEvent(_Envelope):
    data: _RewardRedeemed  # type: ignore[misc]


@with_config(_STRICT)
class _PointsRedeemedEvent(_Envelope):
    data: _PointsRedeemed  # type: ignore[misc]


@with_config(_STRICT)
class _BenefitClaimedEvent(_Envelope):
    data: _BenefitClaimed  # type: ignore[misc]


#: Checks any event's envelope (`data` only as an object).
ENVELOPE: TypeAdapter[Any] = TypeAdapter(_Envelope)
#: Checks a whole event of each type whose `data` has a shape.
BY_TYPE: dict[str, TypeAdapter[Any]] = {
    "profile.updated": TypeAdapter(_ProfileEvent),
    "transaction.created": TypeAdapter(_TransactionEvent),
    "reward.redeemed": TypeAdapter(_RewardRedeemedEvent),
    "points.redeemed": TypeAdapter(_PointsRedeemedEvent),
    "benefit.claimed": TypeAdapter(_BenefitClaimedEvent),
}

#: The checks above as their compiled validators' own `validate_python`: the
#: same check without `TypeAdapter.validate_python`'s Python frame and its
#: seven keyword arguments, once for every event.
CHECK_ENVELOPE: Callable[[Any], Any] = ENVELOPE.validator.validate_python
CHECK_BY_TYPE: dict[str, Callable[[Any], Any]] = {
    kind: adapter.validator.validate_python for kind, adapter in BY_TYPE.items()
}
