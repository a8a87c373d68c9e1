"""What a run's actions add up to: totals and day-by-day series.

A `Tally` is fed every action of a replay, in output order, and keeps only
aggregates (never the actions): how many of each type, points by kind, reward
amounts by currency, and per UTC day the fires of each reaction, the actions of
each type and the reward liability. `reactor diff` and the HTML report read it.

Reward liability is the sum of unexpired, unredeemed rewards (CONTRACT §10),
worked out from the actions alone (CONTRACT §4, §7, §8): a `reward.create`
adds its `amount` (its `id` is the reward's id); `reward.redeem` takes away
each `consumed` `{reward, amount}`; a reward stops counting at its
`expires_at` (whether or not a `reward.expire` action says so: one that comes
finds it already gone), and when `profile.forget` purges its profile.
Amounts are kept in whole cents so that sums do not drift.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from reactor.actions import Action

__all__ = ["RewardTotals", "Tally", "cents"]


def cents(amount: Any) -> int:
    """A money amount as whole cents (amounts are rounded to the cent)."""
    return round(float(amount) * 100)


@dataclass
class RewardTotals:
    """Per currency, in cents: what was issued, redeemed, expired and
    forgotten (purged with its profile), and what is left (`outstanding`)."""

    issued_count: int = 0
    issued: int = 0
    redeemed: int = 0
    expired: int = 0
    forgotten: int = 0

    @property
    def outstanding(self) -> int:
        return self.issued - self.redeemed - self.expired - self.forgotten

    def as_dict(self) -> dict[str, Any]:
        """Plain JSON: amounts back in currency units."""
        return {
            "count": self.issued_count,
            "issued": self.issued / 100,
            "redeemed": self.redeemed / 100,
            "expired": self.expired / 100,
            "forgotten": self.forgotten / 100,
            "outstanding": self.outstanding / 100,
        }


@dataclass
class _Reward:
    currency: str
    remaining: int
    expires_at: str | None
    profile_id: str


@dataclass
class Tally:
    """Aggregates of a stream of actions. Feed it with `add`, then `close`."""

    #: kind -> net points (refunds and redemptions count negative)
    points: dict[str, int] = field(default_factory=dict)
    rewards: dict[str, RewardTotals] = field(default_factory=dict)
    #: currency -> [(UTC day, liability in cents at the end of that day)], in
    #: time order, one entry per day on which it changed
    liability: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    #: distinct profiles that got at least one action
    profiles: set[str] = field(default_factory=set)
    first_day: str | None = None
    last_day: str | None = None
    # Flat counters, one dict operation per action (this runs for every action
    # of a replay): (type, day) -> actions, (reaction id, day) -> fires.
    _types: dict[tuple[str, str], int] = field(default_factory=dict)
    _fires: dict[tuple[str, str], int] = field(default_factory=dict)
    _last_fire: tuple[str | None, str | None, str] | None = None
    _active: dict[str, _Reward] = field(default_factory=dict)
    _expiring: list[tuple[str, str]] = field(default_factory=list)
    _by_profile: dict[str, set[str]] = field(default_factory=dict)

    def add(self, action: Action) -> None:
        """Count one action (in output order, that is in time order)."""
        kind = action.type
        day = action.at[:10]
        key = (kind, day)
        types = self._types
        types[key] = types.get(key, 0) + 1
        if day != self.last_day:
            if self.first_day is None:
                self.first_day = day
            self.last_day = day
        self.profiles.add(action.profile_id)
        reaction_id = action.reaction_id
        if reaction_id is None:
            self._last_fire = None
        else:
            fire = (reaction_id, action.event_id, action.profile_id)
            if fire != self._last_fire:
                self._last_fire = fire
                key = (reaction_id, day)
                fires = self._fires
                fires[key] = fires.get(key, 0) + 1
        special = _SPECIAL.get(kind)
        if special is not None:
            special(self, action)

    @property
    def actions(self) -> int:
        return sum(self._types.values())

    @property
    def by_type(self) -> dict[str, int]:
        """Action type -> actions."""
        out: dict[str, int] = {}
        for (kind, _), n in self._types.items():
            out[kind] = out.get(kind, 0) + n
        return dict(sorted(out.items()))

    @property
    def types_by_day(self) -> dict[str, dict[str, int]]:
        """Action type -> UTC day (YYYY-MM-DD) -> actions that day."""
        return _nest(self._types)

    @property
    def fires(self) -> dict[str, dict[str, int]]:
        """Reaction id -> UTC day -> fires that day. A fire is one run of a
        reaction's chain that emitted actions: consecutive actions of the same
        reaction, event and profile (a chain's actions are never interleaved
        with another's)."""
        return _nest(self._fires)

    def close(self, clock: str | None) -> None:
        """The run ended at `clock`: rewards whose expiry is at or before it
        stop counting."""
        if clock is not None:
            self._expire_until(clock)
            if self.last_day is None or clock[:10] > self.last_day:
                self.last_day = clock[:10]
            if self.first_day is None:
                self.first_day = clock[:10]

    def liability_at_end(self) -> dict[str, float]:
        return {currency: totals.outstanding / 100 for currency, totals in sorted(self.rewards.items())}

    # --- rewards -------------------------------------------------------------

    def _totals(self, currency: str) -> RewardTotals:
        totals = self.rewards.get(currency)
        if totals is None:
            totals = self.rewards[currency] = RewardTotals()
        return totals

    def _expire_until(self, now: str) -> None:
        # Unexpired means expires_at > now (as the state counts reward_balance).
        expiring = self._expiring
        while expiring and expiring[0][0] <= now:
            expires_at, reward_id = heapq.heappop(expiring)
            reward = self._drop(reward_id)
            if reward is not None and reward.remaining:
                self._totals(reward.currency).expired += reward.remaining
                self._record(reward.currency, expires_at[:10])

    def _drop(self, reward_id: str) -> _Reward | None:
        """Stop holding a reward (so that memory follows the rewards held)."""
        reward = self._active.pop(reward_id, None)
        if reward is not None:
            held = self._by_profile.get(reward.profile_id)
            if held is not None:
                held.discard(reward_id)
                if not held:
                    del self._by_profile[reward.profile_id]
        return reward

    def _record(self, currency: str, day: str) -> None:
        """The liability in `currency` changed on `day`."""
        series = self.liability.get(currency)
        if series is None:
            series = self.liability[currency] = []
        value = self._totals(currency).outstanding
        if series and series[-1][0] == day:
            series[-1] = (day, value)
        else:
            series.append((day, value))

    def _points(self, action: Action) -> None:
        fields = action.fields
        self.points[fields["kind"]] = self.points.get(fields["kind"], 0) + fields["points"]

    def _create(self, action: Action) -> None:
        self._expire_until(action.at)
        fields = action.fields
        amount, currency, expires_at = cents(fields["amount"]), str(fields["currency"]), fields["expires_at"]
        totals = self._totals(currency)
        totals.issued_count += 1
        totals.issued += amount
        if expires_at is not None and expires_at <= action.at:
            totals.expired += amount  # already over (a zero validity): never counted
            return
        self._active[action.id] = _Reward(currency, amount, expires_at, action.profile_id)
        self._by_profile.setdefault(action.profile_id, set()).add(action.id)
        if expires_at is not None:
            heapq.heappush(self._expiring, (expires_at, action.id))
        self._record(currency, action.at[:10])

    def _redeem(self, action: Action) -> None:
        self._expire_until(action.at)
        for part in action.fields.get("consumed") or ():
            reward = self._active.get(part["reward"])
            # A full replay sees every reward created, so an unknown one can
            # only be a reward this tally already counted as expired.
            if reward is None:
                continue
            taken = min(cents(part["amount"]), reward.remaining)
            reward.remaining -= taken
            self._totals(reward.currency).redeemed += taken
            if not reward.remaining:
                self._drop(part["reward"])
            self._record(reward.currency, action.at[:10])

    def _expire(self, action: Action) -> None:
        # `reward.expire` comes at the reward's expiry time, by which the
        # tally has already let it go; this only settles one it still holds.
        self._expire_until(action.at)
        reward = self._drop(action.fields["reward"])
        if reward is not None and reward.remaining:
            self._totals(reward.currency).expired += reward.remaining
            self._record(reward.currency, action.at[:10])

    def _forget(self, action: Action) -> None:
        self._expire_until(action.at)
        for reward_id in sorted(self._by_profile.pop(action.profile_id, ())):
            reward = self._active.pop(reward_id, None)
            if reward is not None and reward.remaining:
                self._totals(reward.currency).forgotten += reward.remaining
                self._record(reward.currency, action.at[:10])


def _nest(flat: dict[tuple[str, str], int]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for (key, day), n in flat.items():
        out.setdefault(key, {})[day] = n
    return out


#: The action types that count beyond their number.
_SPECIAL: dict[str, Callable[[Tally, Action], None]] = {
    "points.award": Tally._points,
    "reward.create": Tally._create,
    "reward.redeem": Tally._redeem,
    "reward.expire": Tally._expire,
    "profile.forget": Tally._forget,
}
