"""What reactor remembers about one customer profile.

`ProfileState` is one small record per profile: the latest snapshot, the tags,
statuses, benefits, rewards and points reactor holds, reaction and target limit
counters, the purchases of the last 365 days for the aggregations, and the ids
of recent events and transactions for dedupe. Everything in it is plain JSON
(times as canonical UTC strings), so it serialises compactly for a Faust table
and `process` can share it, copying only the fields it changes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import orjson

from reactor.clock import DAY, shift

__all__ = ["COPY", "SEEN_EVENTS", "SEEN_TRANSACTIONS", "WINDOW_12M", "ProfileState", "round_money"]

#: How many recent event ids / transaction keys a profile remembers for dedupe.
SEEN_EVENTS = 64
SEEN_TRANSACTIONS = 64
#: The `…_12m` aggregations cover the 365 days ending at `now`.
WINDOW_12M = 365 * DAY


def round_money(value: float) -> float:
    """Amounts to the cent, so sums do not show float noise (259.00000000000003)."""
    return round(value + 0.0, 2)


#: Field name -> key in the stored JSON (short keys keep the stored state small).
_KEYS: tuple[tuple[str, str], ...] = (
    ("profile_id", "p"),
    ("snapshot", "s"),
    ("tags", "t"),
    ("statuses", "st"),
    ("benefits", "b"),
    ("rewards", "r"),
    ("point_balance", "pb"),
    ("tier_points", "tp"),
    ("fired", "f"),
    ("sent", "se"),
    ("purchases", "pu"),
    ("spend_all", "sa"),
    ("shop_count", "sc"),
    ("first_spend_at", "fs"),
    ("last_spend_at", "ls"),
    ("locations", "l"),
    ("seen_events", "e"),
    ("seen_transactions", "x"),
    ("clock", "c"),
    ("partition", "pt"),
)


@dataclass(slots=True)
class ProfileState:
    """Held state of one profile. Lists of records are `[field, …]` tuples in
    JSON form to keep the serialised state small:

    - statuses: handle -> `[applied_at, expires_at|None]`
    - benefits: `[benefit, issued_at, expires_at|None, granted_by|None]`
    - rewards: `[amount, currency, issued_at, expires_at]`
    - tier_points: `[at, points]` within 365 days
    - purchases: `[at, total]` within 365 days (refunds have a negative total)
    - fired / sent: reaction or target id -> times it fired / sent, at most the
      limit's `per_profile` of them
    """

    profile_id: str
    snapshot: dict[str, Any] | None = None
    tags: list[str] = field(default_factory=list)
    statuses: dict[str, list[Any]] = field(default_factory=dict)
    benefits: list[list[Any]] = field(default_factory=list)
    rewards: list[list[Any]] = field(default_factory=list)
    point_balance: float = 0
    tier_points: list[list[Any]] = field(default_factory=list)
    fired: dict[str, list[str]] = field(default_factory=dict)
    sent: dict[str, list[str]] = field(default_factory=dict)
    purchases: list[list[Any]] = field(default_factory=list)
    spend_all: float = 0
    shop_count: int = 0
    first_spend_at: str | None = None
    last_spend_at: str | None = None
    locations: list[str] = field(default_factory=list)
    seen_events: list[str] = field(default_factory=list)
    seen_transactions: list[str] = field(default_factory=list)
    clock: str | None = None
    #: The input partition the worker saw this profile on (worker bookkeeping,
    #: so that time-driven work finds a partition's profiles after a restart).
    partition: int | None = None
    #: The snapshot as rules see it, and the snapshot it was made from: not
    #: stored, made again only when the snapshot is replaced (see `profile`).
    _profile: tuple[Any, dict[str, Any]] | None = field(default=None, compare=False, repr=False)

    # --- persistence -------------------------------------------------------

    def to_json(self) -> bytes:
        """Compact JSON; empty fields are left out."""
        out = {}
        for name, short in _KEYS:
            value = getattr(self, name)
            if value or name == "profile_id" or (name == "partition" and value is not None):
                out[short] = value
        return orjson.dumps(out)

    @classmethod
    def from_json(cls, raw: bytes | str) -> ProfileState:
        data = orjson.loads(raw)
        return cls(**{name: data[short] for name, short in _KEYS if short in data})

    def derive(self) -> ProfileState:
        """A new state sharing every field with this one, for `process` to work
        on without changing this one (copy-on-write). The methods below never
        change a field in place: they put a new list or dict in its place. The
        engine copies a field (with `COPY`) before it changes it in place."""
        return ProfileState(
            self.profile_id,
            self.snapshot,
            self.tags,
            self.statuses,
            self.benefits,
            self.rewards,
            self.point_balance,
            self.tier_points,
            self.fired,
            self.sent,
            self.purchases,
            self.spend_all,
            self.shop_count,
            self.first_spend_at,
            self.last_spend_at,
            self.locations,
            self.seen_events,
            self.seen_transactions,
            self.clock,
            self.partition,
            self._profile,
        )

    def profile(self, make: Callable[[dict[str, Any] | None, str], dict[str, Any]]) -> dict[str, Any]:
        """`make(snapshot, profile_id)` (the view of the snapshot rules see),
        made once per snapshot: states derived from this one share it, and
        events that do not replace the snapshot do not make it again. The
        view is never changed in place."""
        memo = self._profile
        if memo is None or memo[0] is not self.snapshot:
            memo = self._profile = (self.snapshot, make(self.snapshot, self.profile_id))
        return memo[1]

    # --- dedupe ------------------------------------------------------------

    def seen_event(self, event_id: str) -> bool:
        return event_id in self.seen_events

    def remember_event(self, event_id: str) -> None:
        self.seen_events = [*self.seen_events[1 - SEEN_EVENTS :], event_id]

    def seen_transaction(self, key: str) -> bool:
        return key in self.seen_transactions

    # --- purchases and aggregations ------------------------------------------

    def record_transaction(self, key: str, at: str, total: float, location: str | None) -> None:
        """Count a transaction (after dedupe) in the aggregations."""
        self.seen_transactions = [*self.seen_transactions[1 - SEEN_TRANSACTIONS :], key]
        purchases = self.purchases
        if purchases and at < purchases[-1][0]:  # out of order: keep them sorted by time
            self.purchases = sorted([*purchases, [at, total]], key=lambda p: p[0])
        else:
            self.purchases = [*purchases, [at, total]]
        self.spend_all = round_money(self.spend_all + total)
        if total >= 0:
            self.shop_count += 1
            if self.first_spend_at is None or at < self.first_spend_at:
                self.first_spend_at = at
            if self.last_spend_at is None or at > self.last_spend_at:
                self.last_spend_at = at
        if location is not None and location not in self.locations:
            self.locations = sorted([*self.locations, location])

    def advance_clock(self, now: str) -> None:
        """Move this profile's clock forward and forget what fell out of 365 days.
        Purchases are kept in time order, so only the oldest needs a look."""
        if self.clock is not None and now <= self.clock:
            return
        self.clock = now
        cutoff = shift(now, -WINDOW_12M)
        purchases, tier_points = self.purchases, self.tier_points
        if purchases and purchases[0][0] <= cutoff:
            self.purchases = [p for p in purchases if p[0] > cutoff]
        if tier_points and tier_points[0][0] <= cutoff:
            # Awarded in event order, so nearly always in time order; one out
            # of order waits for the next prune (the sums check the window).
            self.tier_points = [p for p in tier_points if p[0] > cutoff]
        if self.rewards:
            self.rewards = [r for r in self.rewards if r[3] is None or r[3] > now]
        if self.benefits:
            self.benefits = [b for b in self.benefits if b[2] is None or b[2] > now]

    def aggregations(self, now: str, days_since: int | None) -> dict[str, Any]:
        cutoff = shift(now, -WINDOW_12M)
        spend_12m = 0.0
        shops_12m = 0
        for at, total in self.purchases:
            if at > cutoff:
                spend_12m += total
                if total >= 0:
                    shops_12m += 1
        return {
            "spend_all": self.spend_all,
            "spend_12m": round_money(spend_12m),
            "spend_atv_12m": round_money(spend_12m / shops_12m) if shops_12m else 0,
            "shop_count": self.shop_count,
            "shop_count_12m": shops_12m,
            "location_count": len(self.locations),
            "first_spend_at": self.first_spend_at,
            "last_spend_at": self.last_spend_at,
            "days_since_last_spend": days_since,
        }

    def tier_points_12m(self, now: str) -> float:
        cutoff = shift(now, -WINDOW_12M)
        return float(sum(points for at, points in self.tier_points if at > cutoff))

    def reward_balance(self, now: str) -> float:
        return round_money(
            sum(amount for amount, _, _, expires in self.rewards if expires is None or expires > now)
        )

    # --- limits --------------------------------------------------------------

    @staticmethod
    def _within(times: list[str], now: str, window: timedelta | None) -> list[str]:
        if window is None:
            return times
        cutoff = shift(now, -window)
        return [t for t in times if t > cutoff]

    def limit_reached(
        self, table: str, key: str, now: str, per_profile: int, window: timedelta | None
    ) -> bool:
        times = getattr(self, table).get(key)
        return bool(times) and len(self._within(times, now, window)) >= per_profile

    def count_use(self, table: str, key: str, now: str, per_profile: int, window: timedelta | None) -> None:
        counters: dict[str, list[str]] = getattr(self, table)
        times = [*self._within(counters.get(key, []), now, window), now]
        setattr(self, table, {**counters, key: times[-per_profile:]})


def _list_of_lists(records: list[list[Any]]) -> list[list[Any]]:
    return [r[:] for r in records]


def _dict_of_lists(table: dict[str, list[Any]]) -> dict[str, list[Any]]:
    return {k: v[:] for k, v in table.items()}


#: How to copy each field that the engine changes in place (records changed in
#: place are copied too), before it changes it (copy-on-write, see `derive`).
COPY: dict[str, Any] = {
    "tags": list.copy,
    "statuses": _dict_of_lists,
    "benefits": _list_of_lists,
    "rewards": list.copy,
    "tier_points": list.copy,
    "point_balance": lambda value: value,
    "fired": _dict_of_lists,
    "sent": _dict_of_lists,
}
