"""The event context: what `when`, amounts and templates see.

As in Omneo, the profile's own fields sit at the root, so conditions written
for Omneo read the same here; reactor's own keys (CONTRACT §3) sit beside them
and win over profile fields of the same name. The context is plain JSON.

`ContextView` computes each key only when something reads it: most events meet
rules that read a handful of keys, and a template, which may read anything,
gets the full context.
"""

from __future__ import annotations

import calendar
import functools
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from reactor.actions import round_points
from reactor.clock import whole_days
from reactor.events import DERIVED_TYPES, REDEMPTION_TYPES, REMINDER, TRANSACTION_CREATED, Event
from reactor.state import ProfileState

if TYPE_CHECKING:
    from reactor.config import Config

__all__ = [
    "PARTS",
    "ROOT_KEYS",
    "ContextView",
    "active_statuses",
    "build_context",
    "days_until_birthday",
    "local_date",
    "next_birthday",
    "profile_view",
]

#: What a step can change, and the context keys each change touches.
PARTS: dict[str, tuple[str, ...]] = {
    "tags": ("flattened_tags",),
    "statuses": ("statuses", "flattened_statuses", "best_status", "best_customer_facing_status", "benefits"),
    "benefits": ("benefits",),
    "points": ("point_balance", "points"),
    "tier_points": ("tier_points_12m", "points"),
    "rewards": ("reward_balance", "rewards"),
    "tiers": ("tiers", "tier_handle"),
    "achievements": ("achievements",),
}


def profile_view(snapshot: Mapping[str, Any] | None, profile_id: str) -> dict[str, Any]:
    """The snapshot as rules see it: always with `id`, and `identities` as an
    object keyed by `handle` (the first identity of a handle wins)."""
    view = dict(snapshot) if snapshot else {}
    view["id"] = profile_id
    identities = view.get("identities")
    if isinstance(identities, list):
        keyed: dict[str, Any] = {}
        for identity in identities:
            if isinstance(identity, Mapping) and "handle" in identity:
                keyed.setdefault(identity["handle"], identity)
        view["identities"] = keyed
    return view


def active_statuses(state: ProfileState, config: Config, now: str) -> list[dict[str, Any]]:
    """Held, unexpired statuses, best rank first (ties by handle). A status the
    configuration does not define (set upstream) ranks after all defined ones."""
    out = []
    for handle, (applied_at, expires_at) in state.statuses.items():
        if expires_at is not None and expires_at <= now:
            continue
        spec = config.statuses.get(handle)
        out.append(
            {
                "handle": handle,
                "name": spec.name if spec else handle,
                "rank": spec.rank if spec else None,
                "group": spec.group if spec else None,
                "customer_facing": spec.customer_facing if spec else True,
                "applied_at": applied_at,
                "expires_at": expires_at,
                "meta": dict(spec.meta) if spec else {},
            }
        )
    out.sort(key=lambda s: (s["rank"] is None, s["rank"] or 0, s["handle"]))
    return out


@functools.lru_cache(maxsize=4096)  # one event asks several times (context, reminders)
def local_date(now: str, timezone: str) -> date:
    """The programme-local date of a canonical instant."""
    moment = datetime.fromisoformat(now)
    return moment.date() if timezone == "UTC" else moment.astimezone(ZoneInfo(timezone)).date()


def _occurrence(year: int, month: int, day: int) -> date:
    if month == 2 and day == 29 and not calendar.isleap(year):
        return date(year, 2, 28)  # 29 February counts as 28 February in other years
    return date(year, month, day)


def next_birthday(today: date, birthday: Any) -> date | None:
    """The next occurrence of `birthday` (`YYYY-MM-DD`, its year ignored) on
    or after `today`; None without a valid birthday."""
    if not isinstance(birthday, str) or len(birthday) < 10:
        return None
    try:
        born = date.fromisoformat(birthday[:10])
    except ValueError:
        return None
    next_one = _occurrence(today.year, born.month, born.day)
    if next_one < today:
        next_one = _occurrence(today.year + 1, born.month, born.day)
    return next_one


def days_until_birthday(today: date, birthday: Any) -> int | None:
    """Whole days from `today` to the next `birthday`, 0 on the day; None
    without a valid birthday."""
    next_one = next_birthday(today, birthday)
    return None if next_one is None else (next_one - today).days


def _days_since(earlier: str | None, now: str) -> int | None:
    return None if earlier is None else whole_days(earlier, now)


def reward_item(reward: list[Any]) -> dict[str, Any]:
    """A held reward (`[id, amount, remaining, currency, issued_at,
    expires_at]`) as the context shows it."""
    reward_id, amount, remaining, currency, issued, expires = reward
    return {
        "id": reward_id,
        "amount": amount,
        "remaining": remaining,
        "currency": currency,
        "issued_at": issued,
        "expires_at": expires,
    }


class ContextView:
    """The context of one event over a profile's state that changes as steps
    run. Keys are computed on first read and dropped when the part of the
    state they come from changes (`invalidate`)."""

    __slots__ = ("_full", "_values", "config", "event", "now", "previous_spend_at", "profile", "state")

    def __init__(
        self,
        state: ProfileState,
        event: Event,
        config: Config,
        profile: Mapping[str, Any],
        previous_profile: Mapping[str, Any] | None,
    ) -> None:
        self.state = state
        self.event = event
        self.config = config
        self.now = event.occurred_at
        self.profile = profile
        #: `aggregations.previous_spend_at`: the last purchase before this
        #: event's purchase (set by the engine), or before this event.
        self.previous_spend_at = state.last_spend_at
        self._values: dict[str, Any] = {}
        self._full: dict[str, Any] | None = None
        self.reset(profile, previous_profile)

    def reset(self, profile: Mapping[str, Any], previous_profile: Mapping[str, Any] | None) -> None:
        """Forget every computed key (much of the state changed)."""
        self.profile = profile
        self._values = {"now": self.now, "profile": profile, "previous_profile": previous_profile}
        self._full = None

    def invalidate(self, keys: tuple[str, ...]) -> None:
        """Drop `keys` (one of `PARTS`): their part of the state changed."""
        values = self._values
        for key in keys:
            values.pop(key, None)
        self._full = None

    def get(self, key: str) -> Any:
        values = self._values
        if key not in values:
            compute = _COMPUTED.get(key)
            if compute is None:
                return self.profile.get(key)
            values.update(compute(self))
        return values[key]

    def subset(self, keys: Iterable[str]) -> dict[str, Any]:
        """The context restricted to `keys` (keys absent from it are left out)."""
        out = {}
        values, profile = self._values, self.profile
        for key in keys:
            if key in values:
                out[key] = values[key]
            elif key in _COMPUTED:
                values.update(_COMPUTED[key](self))
                out[key] = values[key]
            elif key in profile:
                out[key] = profile[key]
        return out

    def full(self) -> dict[str, Any]:
        """The whole context (cached until the state changes)."""
        if self._full is None:
            context = dict(self.profile)
            for key in ROOT_KEYS:
                context[key] = self.get(key)
            self._full = context
        return self._full

    # --- the computed keys ---------------------------------------------------

    def _event(self) -> dict[str, Any]:
        event = self.event
        return {"event": {**event.extra, "id": event.id, "type": event.type, "occurred_at": self.now}}

    def _transaction(self) -> dict[str, Any]:
        event = self.event
        return {"transaction": event.data.get("transaction") if event.type == TRANSACTION_CREATED else None}

    def _tags(self) -> dict[str, Any]:
        return {"flattened_tags": list(self.state.tags)}

    def _statuses(self) -> dict[str, Any]:
        statuses = active_statuses(self.state, self.config, self.now)
        facing = [s["handle"] for s in statuses if s["customer_facing"]]
        return {
            "statuses": statuses,
            "flattened_statuses": [s["handle"] for s in statuses],
            "best_status": statuses[0]["handle"] if statuses else None,
            "best_customer_facing_status": facing[0] if facing else None,
        }

    def _benefits(self) -> dict[str, Any]:
        now = self.now
        return {
            "benefits": [
                {
                    "benefit": b,
                    "issued_at": issued,
                    "expires_at": expires,
                    "granted_by": granted,
                    "claimed_at": claimed,
                }
                for b, issued, expires, granted, _, claimed in self.state.benefits
                if expires is None or expires > now
            ]
        }

    # Each balance on its own: a rule that reads `point_balance` (as most do)
    # does not pay for the sums behind the other two after every award.
    def _point_balance(self) -> dict[str, Any]:
        return {"point_balance": self.state.point_balance}

    def _tier_points(self) -> dict[str, Any]:
        return {"tier_points_12m": self.state.tier_points_12m()}

    def _reward_balance(self) -> dict[str, Any]:
        return {"reward_balance": self.state.reward_balance()}

    def _points(self) -> dict[str, Any]:
        state = self.state
        balances: dict[str, Any] = {kind: state.points.get(kind, 0) for kind in self.config.point_kinds}
        balances["tier"] = round_points(state.tier_points_12m())
        return {"points": balances}

    def _rewards(self) -> dict[str, Any]:
        return {"rewards": [reward_item(reward) for reward in self.state.rewards if reward[2] > 0]}

    def _tiers(self) -> dict[str, Any]:
        tiers: dict[str, Any] = {}
        for program in self.config.tiers:
            held = self.state.tiers.get(program.program)
            level = program.level(held[0]) if held is not None else None
            if held is None:
                tiers[program.program] = None
                continue
            tiers[program.program] = {
                "handle": held[0],
                "name": level.name if level is not None else held[0],
                "since": held[1],
                "review_at": held[2],
                "meta": dict(level.meta) if level is not None else {},
            }
        first = self.config.tiers[0].program if self.config.tiers else None
        handle = tiers[first]["handle"] if first is not None and tiers.get(first) else None
        return {"tiers": tiers, "tier_handle": handle}

    def _achievements(self) -> dict[str, Any]:
        held = self.state.achievements
        return {
            "achievements": {
                handle: {"total": held.get(handle, [0, 0])[0], "level": held.get(handle, [0, 0])[1]}
                for handle in self.config.achievements
            }
        }

    def _today(self) -> dict[str, Any]:
        today = local_date(self.now, self.config.programme.timezone)
        birthday = self.profile.get("birthday")
        return {"today": today.isoformat(), "days_until_birthday": days_until_birthday(today, birthday)}

    def _trigger(self) -> dict[str, Any]:
        event = self.event
        return {"trigger": event.data.get("trigger") if event.type in DERIVED_TYPES else None}

    def _redemption(self) -> dict[str, Any]:
        event = self.event
        return {"redemption": event.data if event.type in REDEMPTION_TYPES else None}

    def _reminder(self) -> dict[str, Any]:
        event = self.event
        return {"reminder": event.data.get("reminder") if event.type == REMINDER else None}

    def _aggregations(self) -> dict[str, Any]:
        state, now, previous = self.state, self.now, self.previous_spend_at
        aggregations = state.aggregations(now, _days_since(state.last_spend_at, now))
        aggregations["previous_spend_at"] = previous
        aggregations["days_since_previous_spend"] = _days_since(previous, now)
        return {"aggregations": aggregations}


_COMPUTED: dict[str, Callable[[ContextView], dict[str, Any]]] = {
    "event": ContextView._event,
    "transaction": ContextView._transaction,
    "flattened_tags": ContextView._tags,
    "statuses": ContextView._statuses,
    "flattened_statuses": ContextView._statuses,
    "best_status": ContextView._statuses,
    "best_customer_facing_status": ContextView._statuses,
    "benefits": ContextView._benefits,
    "point_balance": ContextView._point_balance,
    "tier_points_12m": ContextView._tier_points,
    "reward_balance": ContextView._reward_balance,
    "aggregations": ContextView._aggregations,
    "points": ContextView._points,
    "rewards": ContextView._rewards,
    "tiers": ContextView._tiers,
    "tier_handle": ContextView._tiers,
    "achievements": ContextView._achievements,
    "today": ContextView._today,
    "days_until_birthday": ContextView._today,
    "trigger": ContextView._trigger,
    "reminder": ContextView._reminder,
    "redemption": ContextView._redemption,
}
#: Reactor's own keys, in the order they are listed in CONTRACT §3.
ROOT_KEYS = (
    "event",
    "now",
    "profile",
    "previous_profile",
    "transaction",
    "flattened_tags",
    "flattened_statuses",
    "statuses",
    "best_status",
    "best_customer_facing_status",
    "benefits",
    "point_balance",
    "tier_points_12m",
    "reward_balance",
    "aggregations",
    "points",
    "rewards",
    "tiers",
    "tier_handle",
    "achievements",
    "today",
    "days_until_birthday",
    "trigger",
    "reminder",
    "redemption",
)


def build_context(
    state: ProfileState,
    event: Event,
    config: Config,
    previous_profile: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The full context of `event` over `state` as it stands."""
    return ContextView(
        state, event, config, profile_view(state.snapshot, state.profile_id), previous_profile
    ).full()
