"""When automations run: cron in a time zone, a fixed `every`, or once `at`.

A schedule is pure: `ticks_between(after, until)` lists the instants at which
it fires, so replay (driven by event time) and the worker (driven by the wall
clock, with the last tick recorded) fire exactly the same ticks.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import croniter

__all__ = ["Schedule", "cron_problem"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MACROS = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")


def cron_problem(expression: str) -> str | None:
    """Why `expression` cannot be an automation's `schedule`, or None.

    A schedule is standard cron: five fields (minute hour day month weekday) or
    one of the @yearly … @hourly macros; croniter's seconds and year fields are
    refused (ticks every second would run away; a year field can leave no future
    run). A valid expression that matches no date (`0 0 30 2 *`, 30 February)
    never fires, and is refused too: such a cron is periodic or never fires,
    so one run found from any start is enough.
    """
    fields = expression.split()
    if len(fields) == 1 and fields[0].startswith("@"):
        if fields[0].lower() in _MACROS:
            return None
        return f"unknown cron macro {expression!r}: use one of {', '.join(_MACROS)} or 5 fields"
    if len(fields) != 5:
        return (
            f"cron {expression!r} needs 5 fields (minute hour day month weekday), not {len(fields)}; "
            "seconds and years are not supported"
        )
    if not croniter.is_valid(expression):
        return f"invalid cron expression {expression!r}"
    try:
        croniter(expression, datetime(2000, 1, 1)).get_next(datetime)
    except (ValueError, OverflowError):  # croniter's errors are ValueErrors
        return f"cron {expression!r} never fires: no date matches it (such as 30 February)"
    return None


@dataclass(frozen=True, slots=True)
class Schedule:
    """Exactly one of `cron` (with `timezone`), `every` or `at` is set."""

    cron: str | None = None
    timezone: str = "UTC"
    every: timedelta | None = None
    at: datetime | None = None

    def describe(self) -> str:
        if self.cron is not None:
            return f"cron {self.cron!r} in {self.timezone}"
        if self.every is not None:
            return f"every {self.every}"
        return f"once at {self.at}"

    def next_after(self, after: datetime) -> datetime | None:
        """The first tick strictly after `after` (UTC), or None if there is none
        (a cron that no date matches, which `cron_problem` refuses at load)."""
        if self.cron is not None:
            return self._next_cron(after)
        if self.every is not None:
            # Aligned to the epoch, so every run, replay or live, sees the same ticks.
            step = self.every.total_seconds()
            elapsed = (after - _EPOCH).total_seconds()
            return _EPOCH + timedelta(seconds=(elapsed // step + 1) * step)
        assert self.at is not None
        return self.at if self.at > after else None

    def _next_cron(self, after: datetime) -> datetime | None:
        # croniter (5.x, which faust's `mode` pins) misplaces ticks across a DST
        # change when given an aware time; iterate in naive local wall-clock time
        # and attach the zone ourselves. Near a fall-back repeated hour a local
        # time can map before `after`: step past it.
        zone = ZoneInfo(self.timezone)
        cursor = after.astimezone(zone).replace(tzinfo=None)
        while True:
            try:
                cursor = croniter(self.cron, cursor).get_next(datetime)
            except (ValueError, OverflowError):  # croniter's errors are ValueErrors
                return None  # no more matching dates (within croniter's search)
            tick: datetime = cursor.replace(tzinfo=zone).astimezone(UTC)
            if tick > after:
                return tick

    def ticks_between(self, after: datetime, until: datetime) -> Iterator[datetime]:
        """Ticks `t` with `after < t <= until`, in order."""
        tick = self.next_after(after)
        while tick is not None and tick <= until:
            yield tick
            tick = self.next_after(tick)
