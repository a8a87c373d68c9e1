"""Redemptions come from upstream (CONTRACT §8): rewards redeemed, points
redeemed, benefits claimed.

Each is an input event: checked against what the profile holds, it changes
the state and emits its action (`reaction_id` null, the redemption's
`event_id`), and reactions listening to its type then see the state after
it. A redemption that cannot be done (more than the balance, a benefit not
held, an id seen before) is rejected as invalid input: a dead letter, and
nothing changes. A repeat is checked first, then the balance or holding.
`redemption_id` and `claim_id` are remembered as long as transaction keys
(365 days).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from reactor.actions import round_points
from reactor.clock import seconds
from reactor.state import round_money

if TYPE_CHECKING:
    from reactor.engine import Run
    from reactor.events import Event

__all__ = ["REDEEM", "Rejected"]


class Rejected(Exception):
    """A redemption that cannot be done: `code` is `insufficient_balance`,
    `not_held`, `duplicate_redemption` or `invalid_value`."""

    def __init__(self, message: str, *, code: str, path: str) -> None:
        super().__init__(message)
        self.message, self.code, self.path = message, code, path

    def as_dict(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message, "path": self.path}


def _once(run: Run, event: Event, key: str, path: str) -> None:
    identity = event.data[key]
    if identity in run.state.redemptions:
        raise Rejected(
            f"`{path}` {identity!r} was redeemed before: a repeat is not done twice",
            code="duplicate_redemption",
            path=path,
        )
    run.state.remember_redemption(identity, seconds(event.occurred_at))


def redeem_reward(run: Run, event: Event) -> None:
    """Consume unexpired rewards, nearest expiry first, partly if need be."""
    data = event.data
    amount = round_money(float(data["amount"]))
    currency = data.get("currency")
    state = run.state
    usable = [r for r in state.rewards if r[2] > 0 and (currency is None or r[3] == currency)]
    available = round_money(sum(r[2] for r in usable))
    _once(run, event, "redemption_id", "data.redemption_id")
    if amount > available:
        what = f"{currency} rewards" if currency else "rewards"
        raise Rejected(
            f"`data.amount` {amount:g} is more than the {available:g} left in the profile's {what}",
            code="insufficient_balance",
            path="data.amount",
        )
    run.touch("rewards", "reward_cents")
    left = amount
    consumed: list[dict[str, Any]] = []
    for record in list(state.rewards):  # kept by expiry: nearest first
        if left <= 0:
            break
        if record[2] <= 0 or (currency is not None and record[3] != currency):
            continue
        take = min(record[2], left)
        record[2] = round_money(record[2] - take)
        left = round_money(left - take)
        state.reward_cents -= round(take * 100)
        consumed.append({"reward": record[0], "amount": take})
    state.rewards = [r for r in state.rewards if r[2] > 0]  # what is used up is no longer held
    run.emit(
        "reward.redeem", {"redemption_id": data["redemption_id"], "amount": amount, "consumed": consumed}
    )
    run.changed("rewards")


def redeem_points(run: Run, event: Event) -> None:
    """Spend points of one kind (default `reward`)."""
    data = event.data
    kind = data.get("kind") or "reward"
    points = round_points(float(data["points"]))
    if kind == "tier" or kind not in run.config.point_kinds:
        kinds = [k for k in run.config.point_kinds if k != "tier"]
        raise Rejected(
            f"`data.kind` {kind!r} cannot be redeemed: one of {', '.join(kinds)}",
            code="invalid_value",
            path="data.kind",
        )
    _once(run, event, "redemption_id", "data.redemption_id")
    balance = run.state.points.get(kind, 0)
    if points > balance:
        raise Rejected(
            f"`data.points` {points} is more than the {balance} {kind} points held",
            code="insufficient_balance",
            path="data.points",
        )
    run.touch("points")
    run.state.points[kind] = balance - points
    run.emit(
        "points.award",
        {
            "kind": kind,
            "points": -points,
            "modifiers": [],
            "redemption_id": data["redemption_id"],
            "balance": balance - points,
        },
    )
    run.changed("points")


def claim_benefit(run: Run, event: Event) -> None:
    """Mark the held, unclaimed instance of a benefit expiring first as claimed."""
    data = event.data
    benefit = data["benefit"]
    _once(run, event, "claim_id", "data.claim_id")
    state, now = run.state, event.occurred_at
    index = next(
        (
            i  # kept by expiry: the nearest first
            for i, record in enumerate(state.benefits)
            if record[0] == benefit and record[5] is None and (record[2] is None or record[2] > now)
        ),
        None,
    )
    if index is None:
        raise Rejected(
            f"`data.benefit` {benefit!r} is not held (or every instance is claimed already)",
            code="not_held",
            path="data.benefit",
        )
    run.touch("benefits")
    record = state.benefits[index]
    record[5] = now
    run.emit("benefit.claim", {"benefit": benefit, "claim_id": data["claim_id"], "instance": record[4]})
    run.changed("benefits")


REDEEM = {
    "reward.redeemed": redeem_reward,
    "points.redeemed": redeem_points,
    "benefit.claimed": claim_benefit,
}
