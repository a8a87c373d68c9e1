"""What reactor remembers about one customer profile.

`ProfileState` is one small record per profile: the latest snapshot, the tags,
statuses, benefits, rewards and points reactor holds, reaction and target limit
counters, the purchases of the last 365 days for the aggregations, and the ids
of recent events for dedupe. Everything in it is plain JSON (times as
canonical UTC strings), so it serialises compactly for the changelog, and
`process` can share it, copying only the fields it changes.

Every figure that covers a window (spend and shops in 12 months, tier points
in 12 months) is a running sum over a `windows.Log`, kept as events arrive and
as the clock expires old records: no per-event cost grows with a profile's
history. Money is summed exactly, in millionths (see `micro`), and rounded to
the cent when shown.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import orjson

from reactor.clock import DAY, format_instant, seconds, shift
from reactor.windows import Log, collapse, spread

if TYPE_CHECKING:
    from reactor.due import Memo

__all__ = [
    "COPY",
    "DEDUPE_WINDOW",
    "FORMAT",
    "WINDOW_12M",
    "ProfileState",
    "benefit_order",
    "micro",
    "money",
    "purchase_key",
    "round_money",
]

#: The `…_12m` aggregations cover the 365 days ending at `now`; transaction
#: keys are kept as long (CONTRACT §11).
WINDOW_12M = 365 * DAY
#: How long event ids are remembered for dedupe, by default (CONTRACT §11).
DEDUPE_WINDOW = 7 * DAY
_WINDOW_12M = int(WINDOW_12M.total_seconds())
#: The version of the stored form (`to_json`); a state of another version is
#: refused by `from_json` rather than misread. Version 2 (what a purchase
#: earned as one JSON value per purchase) is still read.
FORMAT = 3
_READ = (2, FORMAT)

_MICRO = 1_000_000
_INT64 = 2**63


def round_money(value: float) -> float:
    """Amounts to the cent, so sums do not show float noise (259.00000000000003)."""
    return round(value + 0.0, 2)


def micro(amount: float) -> int:
    """An amount in millionths, exactly summable (money has at most 3 decimals)."""
    return round(amount * _MICRO)


def money(micros: int, divisor: int = 1) -> float:
    """`micros / divisor`, in cents, rounded half away from zero, as a number.
    In integers, so exact: with `unit` millionths to the cent, the cents are
    floor(|micros| / unit + 1/2) = (2 |micros| + unit) // (2 unit)."""
    unit = 10_000 * divisor
    if micros >= 0:
        return (2 * micros + unit) // (2 * unit) / 100
    return -((unit - 2 * micros) // (2 * unit)) / 100


def purchase_key(system: str, txn_id: str) -> str:
    """A transaction's dedupe key: its source system and id (CONTRACT §11)."""
    return f"{system}\x1f{txn_id}"


def _purchase_key(record: list[Any]) -> str:
    return purchase_key(record[3], record[2])


def _event_key(record: tuple[Any, ...]) -> str:
    return str(record[1])


def _expiry(record: list[Any], at: int) -> str:
    """A record's expiry for sorting: none sorts last."""
    return record[at] or "~"


def benefit_order(record: list[Any]) -> str:
    """The order benefits are kept in: by expiry, none last."""
    return _expiry(record, 2)


#: Field name -> key in the stored JSON (short keys keep the stored state small).
_KEYS: tuple[tuple[str, str], ...] = (
    ("profile_id", "p"),
    ("snapshot", "s"),
    ("tags", "t"),
    ("statuses", "st"),
    ("benefits", "b"),
    ("rewards", "r"),
    ("reward_cents", "rc"),
    ("points", "po"),
    ("tiers", "ti"),
    ("achievements", "ac"),
    ("reversed", "rv"),
    ("reminded", "rm"),
    ("fired", "f"),
    ("sent", "se"),
    ("spend_micro", "sa"),
    ("shop_count", "sc"),
    ("first_spend_at", "fs"),
    ("last_spend_at", "ls"),
    ("locations", "l"),
    ("clock", "c"),
    ("partition", "pt"),
    ("deleted_at", "dl"),
)
#: Logs, stored as their list of records.
_LOGS: tuple[tuple[str, str], ...] = (
    ("purchases", "pu"),
    ("tier_points", "tp"),
    ("seen_events", "e"),
    ("redemptions", "rd"),
)


def _purchases(columns: dict[str, Any] | None = None) -> Log:
    return Log.from_columns(columns or {}, _purchase_key, _purchase_measure)


def _tier_points(columns: dict[str, Any] | None = None) -> Log:
    return Log.from_columns(columns or {}, None, _points_measure, tuple)


def _seen_events(columns: dict[str, Any] | None = None) -> Log:
    return Log.from_columns(columns or {}, _event_key, None, tuple)


def _purchase_measure(record: list[Any]) -> tuple[int, int]:
    return _spent(record[1])


def _spent(total: float) -> tuple[int, int]:
    """(millionths spent, shops) of a purchase's total: a refund is not a shop."""
    return micro(total), 1 if total >= 0 else 0


def _points_measure(record: tuple[Any, ...]) -> tuple[int, int]:
    return int(record[1]), 0


_MAKE_LOG: dict[str, Callable[[dict[str, Any]], Log]] = {
    "purchases": _purchases,
    "tier_points": _tier_points,
    "seen_events": _seen_events,
    "redemptions": _seen_events,  # [at, redemption or claim id], keyed by id
}


@dataclass(slots=True)
class ProfileState:
    """Held state of one profile. Records are `[field, …]` lists in JSON form
    to keep the serialised state small:

    - statuses: handle -> `[applied_at, expires_at|None]`
    - benefits: `[benefit, issued_at, expires_at|None, granted_by|None, id,
      claimed_at|None]`, by expiry
    - rewards: `[id, amount, remaining, currency, issued_at, expires_at]`, by
      expiry (`id` is the `reward.create` action's); `reward_cents` is the sum
      of what remains, in cents
    - points: kind -> balance, for `reward` and the declared kinds (`tier`
      points are counted over 12 months in `tier_points`)
    - tiers: program -> `[level, since, review_at|None]`
    - achievements: handle -> `[total, level]`
    - reversed: purchase key -> kind -> points its refunds took back
    - reminded: reminder event id (`<reminder>@<item>@<due>`) -> due, fired
    - benefits' records go on with `[…, id, claimed_at|None]`: the
      `benefit.create` action's id (the instance), and when it was claimed
    - tier_points (a Log): `(at, points)` tuples within 365 days, summed
    - purchases (a Log keyed by `system␟id`): `[at, total, id, system,
      earned]` within 365 days by `transacted_at` (refunds have a negative
      total), summed; `earned` is `[awarded at, {kind: [points, *statuses]}]`,
      what the purchase earned (for refunds), or None
    - seen_events (a Log keyed by id): `(occurred_at, id)` tuples within the
      dedupe window (tuples: never changed in place, and the cyclic collector
      stops looking at a tuple of plain values)
    (times in Logs are whole seconds since the epoch: cheap to compare, and
    stored as differences, see `Log.columns`)
    - fired / sent: reaction or target id -> times it fired / sent, at most the
      limit's `per_profile` of them
    - spend_micro: every purchase ever (less refunds), in millionths
    """

    profile_id: str
    snapshot: dict[str, Any] | None = None
    tags: list[str] = field(default_factory=list)
    statuses: dict[str, list[Any]] = field(default_factory=dict)
    benefits: list[list[Any]] = field(default_factory=list)
    rewards: list[list[Any]] = field(default_factory=list)
    reward_cents: int = 0
    points: dict[str, int] = field(default_factory=dict)
    tiers: dict[str, list[Any]] = field(default_factory=dict)
    achievements: dict[str, list[Any]] = field(default_factory=dict)
    reversed: dict[str, dict[str, int]] = field(default_factory=dict)
    reminded: dict[str, str] = field(default_factory=dict)
    tier_points: Log = field(default_factory=_tier_points)
    fired: dict[str, list[str]] = field(default_factory=dict)
    sent: dict[str, list[str]] = field(default_factory=dict)
    purchases: Log = field(default_factory=_purchases)
    spend_micro: int = 0
    shop_count: int = 0
    first_spend_at: str | None = None
    last_spend_at: str | None = None
    locations: list[str] = field(default_factory=list)
    seen_events: Log = field(default_factory=_seen_events)
    #: `redemption_id`s and `claim_id`s seen, kept 365 days (CONTRACT §8): `(at, id)` tuples.
    redemptions: Log = field(default_factory=_seen_events)
    clock: str | None = None
    #: The input partition the worker saw this profile on (worker bookkeeping,
    #: so that time-driven work finds a partition's profiles after a restart).
    partition: int | None = None
    #: Set on the marker a deleted profile leaves (CONTRACT §8): nothing else is
    #: held, and events that occurred at or before it are skipped.
    deleted_at: str | None = None
    #: The snapshot as rules see it, and the snapshot it was made from: not
    #: stored, made again only when the snapshot is replaced (see `profile`).
    _profile: tuple[Any, dict[str, Any]] | None = field(default=None, compare=False, repr=False)
    #: The next reminder due, and each reminder's, with what they were worked
    #: out from (`due.earliest_reminder`): not stored.
    due_memo: Memo | None = field(default=None, compare=False, repr=False)
    #: `(config version, engine.next_due of this very state)`: not stored, and not
    #: given to a derived state (which `process` goes on to change). A state is
    #: never changed once `process` returned it, so the next event's `process`
    #: reads here whether anything came due before it, without working it out.
    next_due_memo: tuple[str, str | None] | None = field(default=None, compare=False, repr=False)

    # --- persistence -------------------------------------------------------

    def to_json(self) -> bytes:
        """Compact JSON; empty fields are left out."""
        out: dict[str, Any] = {"v": FORMAT}
        for name, short in _KEYS:
            value = getattr(self, name)
            if value or name == "profile_id" or (name == "partition" and value is not None):
                out[short] = value
        if not -_INT64 <= self.spend_micro < _INT64:
            out["sa"] = str(self.spend_micro)  # a lifetime past 9.2 x 10^12 in millionths: JSON holds 64 bits
        for name, short in _LOGS:
            log: Log = getattr(self, name)
            if log:
                out[short] = log.columns()
        if "pu" in out:
            _pack_earned(out["pu"])
        return orjson.dumps(out)

    @classmethod
    def from_json(cls, raw: bytes | str) -> ProfileState:
        """The state `to_json` wrote. Raises ValueError for another format."""
        data = orjson.loads(raw)
        if not isinstance(data, dict) or data.get("v") not in _READ:
            raise ValueError(f"not a profile state of format {FORMAT}")
        if data["v"] == FORMAT and "pu" in data:
            _unpack_earned(data["pu"])
        fields: dict[str, Any] = {name: data[short] for name, short in _KEYS if short in data}
        if isinstance(fields.get("spend_micro"), str):
            fields["spend_micro"] = int(fields["spend_micro"])
        for name, short in _LOGS:
            fields[name] = _MAKE_LOG[name](data.get(short, {}))
        return cls(**fields)

    def derive(self) -> ProfileState:
        """A new state sharing every field with this one, for `process` to work
        on without changing this one (copy-on-write). The methods below never
        change a field in place: they put a new list, dict or Log view in its
        place. The engine copies a field (with `COPY`) before it changes it.
        (Each field set on a bare instance: the dataclass's `__init__`, with
        its 29 arguments and default-factory checks, cost twice as much, for
        every event.)"""
        new = _bare_state(ProfileState)
        new.profile_id = self.profile_id
        new.snapshot = self.snapshot
        new.tags = self.tags
        new.statuses = self.statuses
        new.benefits = self.benefits
        new.rewards = self.rewards
        new.reward_cents = self.reward_cents
        new.points = self.points
        new.tiers = self.tiers
        new.achievements = self.achievements
        new.reversed = self.reversed
        new.reminded = self.reminded
        new.tier_points = self.tier_points
        new.fired = self.fired
        new.sent = self.sent
        new.purchases = self.purchases
        new.spend_micro = self.spend_micro
        new.shop_count = self.shop_count
        new.first_spend_at = self.first_spend_at
        new.last_spend_at = self.last_spend_at
        new.locations = self.locations
        new.seen_events = self.seen_events
        new.redemptions = self.redemptions
        new.clock = self.clock
        new.partition = self.partition
        new.deleted_at = self.deleted_at
        new._profile = self._profile
        new.due_memo = self.due_memo
        new.next_due_memo = None
        return new

    def profile(self, make: Callable[[dict[str, Any] | None, str], dict[str, Any]]) -> dict[str, Any]:
        """`make(snapshot, profile_id)` (the view of the snapshot rules see),
        made once per snapshot: states derived from this one share it, and
        events that do not replace the snapshot do not make it again. The
        view is never changed in place."""
        memo = self._profile
        if memo is None or memo[0] is not self.snapshot:
            memo = self._profile = (self.snapshot, make(self.snapshot, self.profile_id))
        return memo[1]

    @property
    def point_balance(self) -> int:
        """The `reward` points balance (CONTRACT §3)."""
        return self.points.get("reward", 0)

    @property
    def spend_all(self) -> float:
        """Every purchase ever, less refunds, to the cent."""
        return money(self.spend_micro)

    # --- dedupe ------------------------------------------------------------

    def seen_event(self, event_id: str, now: str, window: timedelta = DEDUPE_WINDOW) -> bool:
        """Whether `event_id` was processed within the dedupe window ending at `now`."""
        record = self.seen_events.get(event_id)
        return record is not None and record[0] > seconds(now) - int(window.total_seconds())

    def remember_event(self, event_id: str, at: str) -> None:
        self.seen_events = self.seen_events.appended((seconds(at), event_id), event_id)

    def remember_redemption(self, identity: str, at: int) -> None:
        self.redemptions = self.redemptions.appended((at, identity))

    def seen_transaction(self, key: str) -> bool:
        return key in self.purchases

    # --- purchases and aggregations ------------------------------------------

    def record_transaction(
        self, system: str, txn_id: str, at: str, total: float, location: str | None
    ) -> list[Any] | None:
        """Count a transaction (after dedupe) in the aggregations; it is kept
        (for the 12-month figures and its key) only if it is within 365 days
        of the profile's clock. Returns the record kept (the caller may set
        its `earned`, this once: no other state can see it yet), or None."""
        when, spent = seconds(at), _spent(total)
        record = None
        if self.clock is None or when > seconds(self.clock) - _WINDOW_12M:
            record = [when, total, txn_id, system, None]
            self.purchases = self.purchases.appended(record, purchase_key(system, txn_id), spent)
        self.spend_micro += spent[0]
        if total >= 0:
            self.shop_count += 1
            if self.first_spend_at is None or at < self.first_spend_at:
                self.first_spend_at = at
            if self.last_spend_at is None or at > self.last_spend_at:
                self.last_spend_at = at
        if location is not None:
            locations = self.locations
            at_index = bisect.bisect_left(locations, location)
            if at_index == len(locations) or locations[at_index] != location:
                self.locations = [*locations[:at_index], location, *locations[at_index:]]
        return record

    def last_purchase_before(self, at: str) -> str | None:
        """The time of the latest purchase (not a refund) at or before `at`,
        among those counted; a purchase older than the 365 days kept is not
        known, unless it is the latest one."""
        last = self.last_spend_at
        if last is None or last <= at:
            return last
        when = seconds(at)
        records = self.purchases.records()
        for index in range(len(records) - 1, -1, -1):  # a late purchase: rare
            record = records[index]
            if record[0] <= when and record[1] >= 0:
                return format_instant(datetime.fromtimestamp(record[0], UTC))
        return None

    def advance_clock(self, now: str, dedupe_window: timedelta = DEDUPE_WINDOW) -> None:
        """Move this profile's clock forward and forget what fell out of its
        windows: purchases, tier points and redemption ids of 365 days, event
        ids of the dedupe window (also when only time-driven work moves the
        clock, so a stored state holds no more than its windows). Each is kept
        in time order, so only the oldest records need a look."""
        if self.clock is not None and now <= self.clock:
            return
        self.clock = now
        clock = seconds(now)
        cutoff = clock - _WINDOW_12M
        # (`head <= cutoff`: `expire` would drop a record)
        if self.purchases.head <= cutoff:
            self.purchases = self.purchases.expired(cutoff)
        if self.tier_points.head <= cutoff:
            self.tier_points = self.tier_points.expired(cutoff)
        if self.redemptions.head <= cutoff:
            self.redemptions = self.redemptions.expired(cutoff)
        forget = clock - int(dedupe_window.total_seconds())
        if self.seen_events.head <= forget:
            self.seen_events = self.seen_events.expired(forget)

    def aggregations(self, now: str, days_since: int | None) -> dict[str, Any]:
        spend, shops = self.purchases.sums
        return {
            "spend_all": self.spend_all,
            "spend_12m": money(spend),
            "spend_atv_12m": money(spend, shops) if shops else 0,
            "shop_count": self.shop_count,
            "shop_count_12m": shops,
            "location_count": len(self.locations),
            "first_spend_at": self.first_spend_at,
            "last_spend_at": self.last_spend_at,
            "days_since_last_spend": days_since,
        }

    def tier_points_12m(self) -> float:
        return float(self.tier_points.sums[0])

    def reward_balance(self) -> float:
        """What remains of the rewards held, to the cent."""
        return self.reward_cents / 100

    # --- rewards and benefits, kept by expiry ----------------------------------

    def drop_expired(self, now: str) -> None:
        """Forget benefits that expired at or before `now` (after the statuses
        that granted benefits were removed, so that their removal revokes
        them first). Kept by expiry: only the first needs a look. (Rewards
        expire as time-driven work: `reward.expire`.)"""
        benefits = self.benefits
        if benefits and benefits[0][2] is not None and benefits[0][2] <= now:
            self.benefits = [b for b in benefits if b[2] is None or b[2] > now]

    def add_reward(self, record: list[Any]) -> None:
        """Hold a reward (`[id, amount, remaining, currency, issued_at,
        expires_at]`); the list is the engine's copy (see `COPY`)."""
        bisect.insort(self.rewards, record, key=lambda r: _expiry(r, 5))
        self.reward_cents += round(record[2] * 100)

    def drop_reward(self, index: int) -> list[Any]:
        """Stop holding the reward at `index` (expired, or used up)."""
        record = self.rewards.pop(index)
        self.reward_cents -= round(record[2] * 100)
        return record

    def add_benefit(self, record: list[Any]) -> None:
        """Hold a benefit (`[benefit, issued_at, expires_at, granted_by, id,
        claimed_at]`); the list is the engine's copy (see `COPY`)."""
        bisect.insort(self.benefits, record, key=benefit_order)

    def sort_benefits(self) -> None:
        """Put benefits back in expiry order after their expiries changed."""
        self.benefits.sort(key=benefit_order)

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
        """Count one use of `key` now. The table is replaced, never changed in
        place (so its `COPY` is the value itself: nothing to copy first)."""
        counters: dict[str, list[str]] = getattr(self, table)
        times = [*self._within(counters.get(key, []), now, window), now]
        setattr(self, table, {**counters, key: times[-per_profile:]})


#: A bare state to fill in (`derive`); `ProfileState.__new__`, as the
#: compiled build refuses `object.__new__` for its classes.
_bare_state = ProfileState.__new__


def _pack_earned(columns: dict[str, Any]) -> None:
    """Store what each purchase earned (`[awarded at, {kind: [points,
    *statuses]}]` or None) as columns too: `"4"` the seconds from the
    purchase's time to the award's (nearly always 0: one value for all), and
    `"k"` per kind one column of points (a list when statuses multiplied
    them), None where that purchase earned none of it. About 8 bytes a
    purchase instead of 40."""
    times = list(itertools.accumulate(columns["0"]))
    earned = spread(columns["4"], len(times))
    offsets = []
    kinds: dict[str, list[Any]] = {}
    for index, (at, record) in enumerate(zip(times, earned, strict=True)):
        offsets.append(0 if record is None else record[0] - at)
        for kind, value in (record[1] if record is not None else {}).items():
            column = kinds.setdefault(kind, [None] * len(times))
            column[index] = value[0] if len(value) == 1 else value
    columns["4"] = collapse(offsets)
    if kinds:
        columns["k"] = kinds


def _unpack_earned(columns: dict[str, Any]) -> None:
    """The inverse of `_pack_earned`: `"4"` as `Log.from_columns` reads it."""
    times = list(itertools.accumulate(columns["0"]))
    kinds: dict[str, list[Any]] = columns.pop("k", {})
    earned = []
    for index, (at, offset) in enumerate(zip(times, spread(columns["4"], len(times)), strict=True)):
        record = {
            kind: value if isinstance(value, list) else [value]
            for kind, column in kinds.items()
            if (value := column[index]) is not None
        }
        earned.append([at + offset, record] if record else None)
    columns["4"] = earned


def _list_of_lists(records: list[list[Any]]) -> list[list[Any]]:
    return [r[:] for r in records]


def _dict_of_lists(table: dict[str, list[Any]]) -> dict[str, list[Any]]:
    return {k: v[:] for k, v in table.items()}


def _dict_of_dicts(table: dict[str, dict[str, int]]) -> dict[str, dict[str, int]]:
    return {k: dict(v) for k, v in table.items()}


#: How to copy each field that the engine changes in place (records changed in
#: place are copied too), before it changes it (copy-on-write, see `derive`);
#: None for a field that is replaced whole, never changed in place.
COPY: dict[str, Any] = {
    "tags": list.copy,
    "statuses": _dict_of_lists,
    "benefits": _list_of_lists,
    "rewards": _list_of_lists,
    "reward_cents": None,
    "points": dict.copy,
    "tiers": _dict_of_lists,
    "achievements": _dict_of_lists,
    "reversed": _dict_of_dicts,
    "reminded": dict.copy,
    # Replaced whole (by `count_use`, by a `Log.appended` view), never changed
    # in place: touched only so that a reaction that fails puts the value it
    # had back.
    "tier_points": None,
    "fired": None,
    "sent": None,
}
