"""The checked shape of each input event, for pydantic (see `events.decode_event`).

A module of its own because pydantic reads these TypedDict classes at run
time, so they stay plain Python when `events` is compiled (REACTOR_COMPILE=1).
"""

from __future__ import annotations

from typing import Annotated, Any, NotRequired

from pydantic import AfterValidator, ConfigDict, Field, StringConstraints, TypeAdapter, with_config
from typing_extensions import TypedDict

from reactor.clock import normalize_instant

__all__ = ["BY_TYPE", "ENVELOPE"]

Instant = Annotated[str, AfterValidator(normalize_instant)]
Text = Annotated[str, StringConstraints(min_length=1)]

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
    tags: NotRequired[list[str] | None]
    statuses: NotRequired[list[_Status] | None]
    identities: NotRequired[list[_Identity] | None]


@with_config(_STRICT)
class _Location(TypedDict):
    id: NotRequired[Text | None]


@with_config(_STRICT)
class _Transaction(TypedDict):
    id: Text
    system: NotRequired[str | None]
    total: float
    currency: NotRequired[str | None]
    transacted_at: NotRequired[Instant | None]
    location: NotRequired[_Location | None]
    items: NotRequired[list[dict[str, Any]] | None]
    tags: NotRequired[list[str] | None]


@with_config(_STRICT)
class _ProfileData(TypedDict):
    profile: _Profile


@with_config(_STRICT)
class _TransactionData(TypedDict):
    transaction: _Transaction


@with_config(_STRICT)
class _Envelope(TypedDict):
    id: Text
    type: str
    occurred_at: Instant
    profile_id: Text
    data: dict[str, Any]


@with_config(_STRICT)
class _ProfileEvent(_Envelope):
    data: _ProfileData  # type: ignore[misc]


@with_config(_STRICT)
class _TransactionEvent(_Envelope):
    data: _TransactionData  # type: ignore[misc]


Positive = Annotated[float, Field(gt=0, allow_inf_nan=False)]
WholePositive = Annotated[int, Field(gt=0, le=2**53)]


@with_config(_STRICT)
class _RewardRedeemed(TypedDict):
    redemption_id: Text
    amount: Positive
    currency: NotRequired[Text | None]


@with_config(_STRICT)
class _PointsRedeemed(TypedDict):
    redemption_id: Text
    points: WholePositive
    kind: NotRequired[Text | None]


@with_config(_STRICT)
class _BenefitClaimed(TypedDict):
    claim_id: Text
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
