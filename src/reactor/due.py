"""Time-driven work (CONTRACT §4, §7): what comes due for a profile with time.

A status or a reward that expires, a tier review, a reminder. Each item runs
at its own due time, in time order (at one instant: statuses, then rewards,
then reviews in program order, then reminders by priority and id), with the
profile's windows moved to that time first, whoever runs it: replay as event
time crosses it, the worker on its ticks, `process` before the profile's next
event. So the actions (and their
ids, which depend only on what came due) are the same however ticks fall.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from reactor.events import SCHEDULE, Event
from reactor.reminders import Due, due_reminders, first_due
from reactor.steps import remove_status
from reactor.tiers import reviewed

if TYPE_CHECKING:
    from reactor.config import Config
    from reactor.engine import Run
    from reactor.state import ProfileState

__all__ = ["MEMO_FIELDS", "earliest_reminder", "forget_fired", "forget_source", "next_due_at", "run_due_work"]

#: The state's fields reminders' due times are worked out from (`ReminderRule.source`):
#: `Run.touch` forgets what the memo knows of one about to change in place.
MEMO_FIELDS = ("rewards", "benefits", "statuses", "tiers", "snapshot")


def _items(state: ProfileState, config: Config, until: str) -> list[tuple[str, int, Any, str]]:
    """(due at, order at one instant, what, kind) for each item that will come
    due, reminders up to `until` (see also `next_due_at`)."""
    items: list[tuple[str, int, Any, str]] = []
    for handle, (_, expires) in state.statuses.items():
        if expires is not None:
            items.append((expires, 0, handle, "status"))
    if state.rewards and state.rewards[0][5] is not None:
        items.append((state.rewards[0][5], 1, state.rewards[0][0], "reward"))
    for order, program in enumerate(config.tiers):
        held = state.tiers.get(program.program)
        if held is not None and held[2] is not None:
            items.append((held[2], 2 + order, program.program, "review"))
    if config.enabled_reminders and state.clock is not None:
        late = 2 + len(config.tiers)  # at one instant, reminders come last
        earliest = earliest_reminder(state, config)
        if earliest is None or earliest > until:
            return items  # none due by then: most of the time, at the cost of a memo
        assert state.due_memo is not None  # `earliest_reminder` left it up to date
        # Only the reminders next due by then have items due by then.
        due_by = [
            reminder
            for reminder, part in zip(config.enabled_reminders, state.due_memo[1], strict=True)
            if part[5] is not None and part[5] <= until
        ]
        for reminder in due_reminders(state, config, state.clock, until, due_by):
            items.append((reminder.due, late, reminder, "reminder"))
    return items


#: Per enabled reminder: its id, its `source` field's name, that field's
#: object, the snapshot field it reads (`profile.*`, else None) and that
#: field's value, its next due time.
Part = tuple[str, str, Any, str | None, Any, str | None]
#: config version, the parts, the earliest of their due times.
Memo = tuple[str, tuple[Part, ...], str | None]


def _read(source: Any, key: str | None) -> Any:
    """What a reminder reads of its source: the snapshot field `key` (None
    for a reminder that reads a whole field)."""
    return (source or {}).get(key) if key is not None else None


def earliest_reminder(state: ProfileState, config: Config) -> str | None:
    """When the reminder due first for `state` (not fired yet) is due, or None.

    Remembered on the state (`due_memo`), per reminder, with what its due
    times were worked out from: its `source` field, by identity (a field is
    replaced when it changes, or changed in place after `Run.touch`, which
    forgets that part of the memo), and for `profile.*` the snapshot field it
    reads, by value (a new snapshot with the same birthday changes nothing,
    and the memo then holds the new snapshot, so the next look is by identity
    again). A reminder that fires forgets its own part (`forget_fired`). So
    an event that changes none of what a reminder reads costs it a look, and
    one that does works out that reminder again."""
    memo = state.due_memo
    parts: tuple[Part, ...] | None = None
    if memo is not None and memo[0] == config.version:
        for part in memo[1]:
            if getattr(state, part[1]) is not part[2]:
                parts = memo[1]
                break
        else:
            return memo[2]
    assert state.clock is not None
    fresh: list[Part] = []
    for index, reminder in enumerate(config.enabled_reminders):
        rule = reminder.reminder
        assert rule is not None
        source = getattr(state, rule.source)
        known = parts[index] if parts is not None else None
        if known is not None and source is known[2]:
            fresh.append(known)
            continue
        value = _read(source, rule.key)
        if known is not None and known[3] is not None and value == known[4]:
            due = known[5]  # a new snapshot, the same value
        else:
            due = first_due(reminder, state, config, state.clock)
        fresh.append((reminder.id, rule.source, source, rule.key, value, due))
    dues = [part[5] for part in fresh if part[5] is not None]
    earliest = min(dues) if dues else None
    state.due_memo = (config.version, tuple(fresh), earliest)
    return earliest


#: Never the object a field holds: a memo part to work out again.
_STALE: Any = object()


def forget_source(memo: Memo, name: str) -> Memo:
    """`memo` less what the state's field `name`, about to change in place,
    was the source of."""
    parts = tuple((p[0], p[1], _STALE, *p[3:]) if p[1] == name else p for p in memo[1])
    return (memo[0], parts, memo[2])


def forget_fired(memo: Memo | None, reminder_id: str) -> Memo | None:
    """`memo` less the part of the reminder that just fired (its next due
    time moves on; the others' do not, whatever else `reminded` holds)."""
    if memo is None:
        return None
    parts = tuple((p[0], p[1], _STALE, None, None, None) if p[0] == reminder_id else p for p in memo[1])
    return (memo[0], parts, memo[2])


def _order(item: tuple[str, int, Any, str]) -> tuple[str, int, str]:
    # At one instant: by kind, then by name (a reminder's: already in order).
    return item[0], item[1], item[2] if isinstance(item[2], str) else ""


def next_due_at(state: ProfileState, config: Config) -> str | None:
    """The earliest of `_items`' due times (spelt out without making the
    items: this runs for every event)."""
    dues = [expires for _, expires in state.statuses.values() if expires is not None]
    rewards = state.rewards
    if rewards and rewards[0][5] is not None:
        dues.append(rewards[0][5])
    for program in config.tiers:
        held = state.tiers.get(program.program)
        if held is not None and held[2] is not None:
            dues.append(held[2])
    if config.enabled_reminders and state.clock is not None:
        earliest = earliest_reminder(state, config)
        if earliest is not None:
            dues.append(earliest)
    return min(dues) if dues else None


def run_due_work(run: Run, until: str) -> None:
    """Run every item of `run.state` due at or before `until`, in time order."""
    while True:
        items = _items(run.state, run.config, until)
        if not items:
            break
        at, _, key, kind = min(items, key=_order)
        if at > until:
            break
        run.state.advance_clock(at, run.config.programme.dedupe_window)
        _HANDLERS[kind](run, at, key)
    run.state.drop_expired(until)


def _frame(run: Run, at: str, cause: str, id_key: str) -> tuple[Any, ...]:
    return run.enter(Event(cause, SCHEDULE, at, run.state.profile_id, {}, {}), None, id_key, cause)


def _expire_status(run: Run, at: str, handle: str) -> None:
    # Expiry is not caused by an event: `event_id` is null and the action ids
    # depend only on what expired, whoever notices it first.
    saved = _frame(run, at, f"expire@{at}", f"expired:{handle}:{at}")
    try:
        remove_status(run, handle, "expired")
        run.state.drop_expired(at)
        run.dispatch()
        run.check_attain()
        run.fire_reminders(at)
    finally:
        run.leave(saved)


def _expire_reward(run: Run, at: str, reward_id: str) -> None:
    saved = _frame(run, at, f"expire@{at}", f"reward-expired:{reward_id}")
    try:
        run.touch("rewards", "reward_cents")
        record = run.state.drop_reward(0)
        if record[2] > 0:
            run.emit("reward.expire", {"reward": reward_id, "remaining": record[2]})
            run.raise_event("reward.expired", {"reward": reward_id})
        run.changed("rewards")
        run.dispatch()
        run.check_attain()
        run.fire_reminders(at)
    finally:
        run.leave(saved)


def _review(run: Run, at: str, name: str) -> None:
    program = next(p for p in run.config.tiers if p.program == name)
    cause = f"review:{name}@{at}"
    saved = _frame(run, at, cause, cause)
    try:
        held = run.state.tiers[name]
        run.assign(program, reviewed(program, held[0], run.measure(program)))
        run.dispatch()
        run.check_attain()
        run.fire_reminders(at)
    finally:
        run.leave(saved)


def _remind(run: Run, at: str, due: Due) -> None:
    run.fire_reminder(due, at)
    run.fire_reminders(at)


_HANDLERS: dict[str, Callable[[Run, str, Any], None]] = {
    "status": _expire_status,
    "reward": _expire_reward,
    "review": _review,
    "reminder": _remind,
}
