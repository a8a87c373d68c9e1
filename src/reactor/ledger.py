"""Points and the ledger (CONTRACT §7).

Three kinds of points at least: `tier` (counted over 12 months, what tiers
measure), `reward` (a balance to spend) and the kinds a programme declares
(`action`, …, balances too). Every `points.award` action carries the kind's
balance after it, so the stream of points actions is the ledger: summing a
profile's `points` by kind gives its balance.

A purchase keeps what it earned, by kind, with the multiplier's statuses, so
that a refund (`points.reverse`) takes back, in proportion to what was
refunded, what was earned then, at the multiplier of then, whatever the
profile holds now; across partial refunds of one purchase the total taken
back never exceeds what it earned.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from reactor.actions import round_points

__all__ = ["BUILT_IN_KINDS", "MULTIPLIER_OF", "Reversal", "reversals"]

#: The kinds every programme has (CONTRACT §7).
BUILT_IN_KINDS = ("tier", "reward")
#: The status modifier that multiplies each kind; declared kinds have none.
MULTIPLIER_OF = {"tier": "tier_points_multiplier", "reward": "reward_points_multiplier"}


@dataclass(frozen=True, slots=True)
class Reversal:
    """Points of one kind to take back (a positive number), with the
    statuses whose multiplier applied when they were earned."""

    kind: str
    points: int
    modifiers: tuple[str, ...]


def reversals(
    earned: Mapping[str, list[object]],
    taken: Mapping[str, int],
    refunded: float,
    original_total: float,
) -> list[Reversal]:
    """What a refund of `refunded` (a positive amount) takes back of a
    purchase of `original_total` that `earned` (kind -> `[points, *statuses]`),
    given what earlier refunds of it `taken` already (kind -> points).

    In proportion `refunded / original_total` (at most all of it), rounded
    half away from zero, and never more than what is left of each kind."""
    share = 1.0 if original_total <= 0 else min(refunded / original_total, 1.0)
    out = []
    for kind in sorted(earned):
        points, *statuses = earned[kind]
        assert isinstance(points, int)
        left = points - taken.get(kind, 0)
        take = (
            min(round_points(points * share), left) if points > 0 else max(round_points(points * share), left)
        )
        if take:
            out.append(Reversal(kind, take, tuple(str(s) for s in statuses)))
    return out
