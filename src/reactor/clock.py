"""Time as reactor sees it: RFC 3339 instants and `30d`/`12h`/`15m` durations.

Every instant inside reactor (state, context, actions) is a UTC string of one
fixed shape, `YYYY-MM-DDTHH:MM:SSZ`, so that comparing two of them as strings,
in Python or in a JSON Logic rule, compares them in time order. Sub-second
precision in input is dropped: loyalty rules work in seconds at the finest.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, date, datetime, timedelta

__all__ = [
    "DAY",
    "format_instant",
    "instant_from_canonical",
    "normalize_instant",
    "parse_duration",
    "parse_instant",
    "seconds",
    "shift",
    "whole_days",
]

DAY = timedelta(days=1)
_DURATION = re.compile(r"^\s*(\d+)\s*([dhm])\s*$")
_UNITS = {"d": "days", "h": "hours", "m": "minutes"}


def parse_instant(text: str) -> datetime:
    """Parse an RFC 3339 date-time that carries a zone (`Z` or `±hh:mm`).

    Raises ValueError, whose message says what is wrong, for anything else.
    """
    if not isinstance(text, str) or len(text) < 19 or text[10] not in "Tt ":
        raise ValueError(f"{text!r} is not an RFC 3339 date-time such as 2026-11-20T10:00:00Z")
    try:
        value = datetime.fromisoformat(text.upper().replace(" ", "T", 1))
    except ValueError:
        raise ValueError(f"{text!r} is not an RFC 3339 date-time such as 2026-11-20T10:00:00Z") from None
    if value.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone: add Z or an offset such as +10:00")
    return value.astimezone(UTC).replace(microsecond=0)


def format_instant(value: datetime) -> str:
    """The canonical UTC form, e.g. `2026-11-20T10:00:00Z`."""
    v = value.astimezone(UTC)
    return f"{v.year:04d}-{v.month:02d}-{v.day:02d}T{v.hour:02d}:{v.minute:02d}:{v.second:02d}Z"


def normalize_instant(text: str) -> str:
    """Parse any RFC 3339 date-time and return it in the canonical UTC form."""
    if len(text) == 20 and text[19] == "Z" and text[10] == "T" and text[4] == "-":
        # Already canonical, as most upstream systems send it: check, keep.
        try:
            datetime.fromisoformat(text)
        except ValueError:
            pass
        else:
            return text
    return format_instant(parse_instant(text))


def instant_from_canonical(text: str) -> datetime:
    """Fast path for strings already in the canonical form."""
    return datetime.fromisoformat(text)


def shift(canonical: str, delta: timedelta) -> str:
    """`canonical` moved by `delta`, in canonical form."""
    if not delta.seconds and not delta.microseconds:
        # Whole days (the 365-day window, `30d` expiries) keep the time of day in
        # UTC: only the date moves, and events of one day share that work.
        return _shift_date(canonical[:10], delta.days) + canonical[10:]
    return _shift(canonical, delta)


@functools.lru_cache(maxsize=4096)
def _shift_date(day: str, days: int) -> str:
    return (date.fromisoformat(day) + timedelta(days=days)).isoformat()


@functools.lru_cache(maxsize=1024)  # one event asks for the same cut-offs many times
def _shift(canonical: str, delta: timedelta) -> str:
    return format_instant(instant_from_canonical(canonical) + delta)


def whole_days(earlier: str, now: str) -> int:
    """Whole days from `earlier` to `now` (canonical instants), rounded down:
    the days between the two dates, less one if `now` is earlier in its day."""
    days = _day_number(now[:10]) - _day_number(earlier[:10])
    return days - 1 if now[11:] < earlier[11:] else days


_EPOCH_DAY = date(1970, 1, 1).toordinal()


def seconds(canonical: str) -> int:
    """Seconds since the Unix epoch of a canonical instant (UTC has no leap
    seconds there, so 365 days are exactly 365 x 86,400 of them)."""
    days = _day_number(canonical[:10]) - _EPOCH_DAY
    return days * 86_400 + int(canonical[11:13]) * 3600 + int(canonical[14:16]) * 60 + int(canonical[17:19])


@functools.lru_cache(maxsize=4096)
def _day_number(day: str) -> int:
    return date.fromisoformat(day).toordinal()


def parse_duration(text: object) -> timedelta:
    """Parse `30d`, `12h` or `15m`. Raises ValueError naming the accepted forms."""
    match = _DURATION.match(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"{text!r} is not a duration: write a whole number and d, h or m (30d, 12h, 15m)")
    amount, unit = int(match.group(1)), match.group(2)
    if amount <= 0:
        raise ValueError(f"{text!r} must be longer than zero")
    return timedelta(**{_UNITS[unit]: amount})
