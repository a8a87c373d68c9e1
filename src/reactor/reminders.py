"""Reminders (CONTRACT §8): steps that run at a time relative to one of a
profile's own dates.

A reminder is `of` a kind of item (each unexpired reward, each benefit or
status with an expiry, each program's next review, the next birthday, a date
in the profile) and `before` or `after` it by a duration. Each item gives
one due time; the reminder fires at most once per profile, item and due
time: its event id is `<reminder>@<item>@<due>`, remembered in the state.
An item gone by its due time (used up, expired, removed) gives no due time,
so it does not fire. A due time already past when the item appears (a
reward issued 10 days before it expires, with `before: 14d`) fires at once,
at the event that made it appear.

Birthdays are yearly, in the programme's time zone: the occurrence
considered is the next one on or after `today` (for `after`: on or after
`today` less its whole days, so its due date is today or later); its due date
is that date less `before` (or plus `after`) in whole local days, at `at`
(local time, default 00:00); 29 February counts as 28 February in other years. A
date-only `profile.<field>` is a local date in the same way (not yearly).
Every other time is shifted by the exact duration, in UTC.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple
from zoneinfo import ZoneInfo

from reactor.clock import format_instant, shift
from reactor.context import local_date, next_birthday, reward_item

if TYPE_CHECKING:
    from reactor.config import Config, Reaction
    from reactor.state import ProfileState

__all__ = ["Due", "ReminderRule", "due_reminders", "first_due", "reminder_event_id"]


@dataclass(frozen=True, slots=True)
class ReminderRule:
    """When a reminder is due: `of` an item, `offset` from its time (negative:
    before), at `at` local time for dates."""

    of: str
    offset: timedelta
    at: str | None = None
    #: The state's field its items come from (`rewards`, `benefits`, `statuses`,
    #: `tiers`, or `snapshot` for `profile.*`), and for `profile.*` the
    #: snapshot's field it reads: what its due times depend on (see
    #: `due.earliest_reminder`).
    source: str = field(init=False)
    key: str | None = field(init=False)

    def __post_init__(self) -> None:
        key = self.of.split(".", 1)[1] if self.of.startswith("profile.") else None
        object.__setattr__(self, "source", _SOURCES.get(self.of, "snapshot"))
        object.__setattr__(self, "key", key)

    @property
    def field(self) -> str | None:
        """The snapshot field of a `profile.<field>` reminder (not birthday)."""
        return self.key if self.key != "birthday" else None


_SOURCES = {
    "reward.expires_at": "rewards",
    "benefit.expires_at": "benefits",
    "status.expires_at": "statuses",
    "tier.review_at": "tiers",
}


class Due(NamedTuple):
    """One due time of one reminder for one item (a tuple: made for every
    item looked at when reminders come due)."""

    reminder: Reaction
    item_key: str
    due: str
    item: Any
    #: The reminder's event id (`reminder_event_id`), and what the state
    #: remembers it by.
    key: str


def _local(day: date, at: str | None, timezone: str) -> str:
    """The UTC instant of a local date at a local time of day."""
    hours, minutes = (int(at[:2]), int(at[3:])) if at else (0, 0)
    zone = UTC if timezone == "UTC" else ZoneInfo(timezone)
    moment = datetime.combine(day, time(hours, minutes), tzinfo=zone)
    return format_instant(moment)


def _on_local_days(day: date, rule: ReminderRule, timezone: str) -> str:
    return _shifted_local(day, rule.offset, rule.at, timezone)


@functools.lru_cache(maxsize=8192)  # birthdays of one day, asked for event after event
def _shifted_local(day: date, offset: timedelta, at: str | None, timezone: str) -> str:
    days = offset.days if not offset.seconds else 0
    due = _local(day + timedelta(days=days), at, timezone)
    rest = offset - timedelta(days=days)
    return shift(due, rest) if rest else due


def reminder_event_id(reminder_id: str, item_key: str, due: str) -> str:
    """`<reminder>@<item>@<due>`: a firing's event id, what `reminded` holds."""
    return f"{reminder_id}@{item_key}@{due}"


#: (item key, due time, the state's record of the item): the record is made
#: into the item the reminder's context shows (`_item`) only for a `Due`, as
#: most scans only look for the first due time.
Items = Iterator[tuple[str, str, Any]]


def _rewards(rule: ReminderRule, state: ProfileState, config: Config, now: str, until: str | None) -> Items:
    for reward in state.rewards:
        expires = reward[5]
        if expires is not None and reward[2] > 0:
            yield reward[0], shift(expires, rule.offset), reward


def _benefits(rule: ReminderRule, state: ProfileState, config: Config, now: str, until: str | None) -> Items:
    for benefit in state.benefits:
        if benefit[2] is not None and benefit[5] is None:  # expires, not claimed
            yield benefit[4], shift(benefit[2], rule.offset), benefit


def _statuses(rule: ReminderRule, state: ProfileState, config: Config, now: str, until: str | None) -> Items:
    for handle, held in state.statuses.items():
        if held[1] is not None:
            yield handle, shift(held[1], rule.offset), (handle, *held)


def _reviews(rule: ReminderRule, state: ProfileState, config: Config, now: str, until: str | None) -> Items:
    for program, held in state.tiers.items():
        if held[2] is not None:
            yield program, shift(held[2], rule.offset), (program, *held)


def _benefit_item(record: Any) -> dict[str, Any]:
    benefit, issued, expires, granted, instance, _ = record
    return {
        "id": instance,
        "benefit": benefit,
        "issued_at": issued,
        "expires_at": expires,
        "granted_by": granted,
    }


def _status_item(record: Any) -> dict[str, Any]:
    handle, applied, expires = record
    return {"handle": handle, "applied_at": applied, "expires_at": expires}


def _review_item(record: Any) -> dict[str, Any]:
    program, level, since, review_at = record
    return {"program": program, "handle": level, "since": since, "review_at": review_at}


#: The item a reminder's context shows, from what `_items` yields (a date,
#: for birthdays and `profile.*`, is its own item).
_ITEM: dict[str, Callable[[Any], Any]] = {
    "reward.expires_at": reward_item,
    "benefit.expires_at": _benefit_item,
    "status.expires_at": _status_item,
    "tier.review_at": _review_item,
}


def _item(rule: ReminderRule, record: Any) -> Any:
    make = _ITEM.get(rule.of)
    return make(record) if make is not None else record


def _items(rule: ReminderRule, state: ProfileState, config: Config, now: str, until: str | None) -> Items:
    """(item key, due time, record) for each item of the reminder's kind."""
    of = _OF.get(rule.of)
    if of is not None:
        return of(rule, state, config, now, until)
    value = (state.snapshot or {}).get(rule.field or "")
    return _profile_date(rule, value, config.programme.timezone)


def _birthdays(rule: ReminderRule, state: ProfileState, config: Config, now: str, until: str | None) -> Items:
    """The next birthday on or after `today`, and the ones after it whose
    due time is at or before `until` (a long gap between events)."""
    birthday = (state.snapshot or {}).get("birthday")
    timezone = config.programme.timezone
    # `after`: from the occurrence whose due date is today or later (the next
    # birthday on or after today less the whole days after), so that between a
    # birthday and its `after` reminder the reminder is still the one ahead.
    after = rule.offset.days if rule.offset > timedelta(0) else 0
    occurrence = next_birthday(local_date(now, timezone) - timedelta(days=after), birthday)
    for count in range(200):  # at most a couple of centuries of birthdays
        if occurrence is None:
            return
        day = occurrence.isoformat()
        due = _on_local_days(occurrence, rule, timezone)
        yield day, due, day
        # Without `until`, the next two: this year's may have fired already.
        if (until is None and count == 1) or (until is not None and due > until):
            return
        occurrence = next_birthday(occurrence + timedelta(days=1), birthday)


def _profile_date(rule: ReminderRule, value: Any, timezone: str) -> Items:
    if not isinstance(value, str):
        return
    if len(value) == 10:  # a date: a local date, like a birthday (not yearly)
        try:
            day = date.fromisoformat(value)
        except ValueError:
            return
        yield value, _on_local_days(day, rule, timezone), value
        return
    from reactor.clock import normalize_instant

    try:
        instant = normalize_instant(value)
    except ValueError:
        return
    yield instant, shift(instant, rule.offset), value


_OF: dict[str, Callable[[ReminderRule, ProfileState, Config, str, str | None], Items]] = {
    "reward.expires_at": _rewards,
    "benefit.expires_at": _benefits,
    "status.expires_at": _statuses,
    "tier.review_at": _reviews,
    "profile.birthday": _birthdays,
}


def due_reminders(
    state: ProfileState,
    config: Config,
    now: str,
    until: str | None = None,
    reminders: Sequence[Reaction] | None = None,
) -> list[Due]:
    """Every due time of every enabled reminder (or of `reminders`) for the
    items `state` holds, not yet fired, by due time, then priority and id:
    birthdays from `today` (at `now`) on, up to `until` (None: the next one only)."""
    out = []
    reminded = state.reminded
    for reminder in config.enabled_reminders if reminders is None else reminders:
        rule = reminder.reminder
        assert rule is not None
        for item_key, due, record in _items(rule, state, config, now, until):
            key = reminder_event_id(reminder.id, item_key, due)
            if key not in reminded:
                out.append(Due(reminder, item_key, due, _item(rule, record), key))
    out.sort(key=lambda d: (d.due, d.reminder.priority, d.reminder.id))
    return out


def first_due(reminder: Reaction, state: ProfileState, config: Config, now: str) -> str | None:
    """When `reminder` is next due for `state` (not fired yet), or None."""
    rule = reminder.reminder
    assert rule is not None
    reminded, first = state.reminded, None
    for item_key, due, _ in _items(rule, state, config, now, None):
        if (first is None or due < first) and reminder_event_id(reminder.id, item_key, due) not in reminded:
            if rule.key is not None:
                return due  # `profile.*` items come in due order: the first not fired
            first = due
    return first
