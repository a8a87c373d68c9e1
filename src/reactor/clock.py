"""Time as reactor sees it: RFC 3339 instants and `30d`/`12h`/`15m` durations.

Every instant inside reactor (state, context, actions) is a UTC string of one
fixed shape, `YYYY-MM-DDTHH:MM:SSZ`, so that comparing two of them as strings,
in Python or in a JSON Logic rule, compares them in time order. Sub-second
precision in input is dropped: loyalty rules work in seconds at the finest.

Instants lie in the years `limits.YEAR_MIN`-`YEAR_MAX` (UTC) and durations are
at most `limits.DURATION_MAX`, so no date arithmetic reactor does can overflow.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, date, datetime, timedelta

from reactor.limits import DURATION_MAX_DAYS, YEAR_MAX, YEAR_MIN, OutOfRange

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
#: The longest duration, per unit (100 years).
_MOST = {"d": DURATION_MAX_DAYS, "h": DURATION_MAX_DAYS * 24, "m": DURATION_MAX_DAYS * 24 * 60}
#: RFC 3339's date-time (its ABNF, with its note's space for T), ASCII digits only.
_RFC3339 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})\Z"
)
_LOCAL = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?\Z")
_EARLIEST = f"{YEAR_MIN:04d}"
_LATEST = f"{YEAR_MAX:04d}"


def _out_of_range(text: str) -> OutOfRange:
    return OutOfRange(f"{text!r} is outside the years {YEAR_MIN}-{YEAR_MAX} (UTC) that reactor accepts")


def parse_instant(text: str) -> datetime:
    """Parse an RFC 3339 date-time that carries a zone (`Z` or `±hh:mm`).

    Raises ValueError, whose message says what is wrong, for anything else;
    `OutOfRange` (a ValueError) for an instant outside the years
    `YEAR_MIN`-`YEAR_MAX` in UTC.
    """
    if not isinstance(text, str) or len(text) > 64 or _RFC3339.match(text) is None:
        if isinstance(text, str) and _LOCAL.match(text) is not None:
            raise ValueError(f"{text!r} has no time zone: add Z or an offset such as +10:00")
        shown = repr(text) if not isinstance(text, str) or len(text) <= 64 else repr(text[:64]) + "..."
        raise ValueError(f"{shown} is not an RFC 3339 date-time such as 2026-11-20T10:00:00Z")
    try:
        value = datetime.fromisoformat(text.upper().replace(" ", "T", 1))
    except ValueError:  # 30 February, hour 24, a leap second (Python has none)
        raise ValueError(f"{text!r} is not a valid date-time") from None
    # Checked before the conversion to UTC, which overflows in years 1 and 9999.
    if not YEAR_MIN - 1 <= value.year <= YEAR_MAX + 1:
        raise _out_of_range(text)
    utc = value.astimezone(UTC).replace(microsecond=0)
    if not YEAR_MIN <= utc.year <= YEAR_MAX:
        raise _out_of_range(text)
    return utc


def format_instant(value: datetime) -> str:
    """The canonical UTC form, e.g. `2026-11-20T10:00:00Z`."""
    v = value.astimezone(UTC)
    return f"{v.year:04d}-{v.month:02d}-{v.day:02d}T{v.hour:02d}:{v.minute:02d}:{v.second:02d}Z"


def normalize_instant(text: str) -> str:
    """Parse any RFC 3339 date-time and return it in the canonical UTC form.
    Raises ValueError (or `OutOfRange`) as `parse_instant` does."""
    if len(text) == 20 and text[4::3] == "--T::Z":  # the separators at 4, 7, 10, 13, 16, 19
        # Already canonical, as most upstream systems send it: check, keep (with
        # the separators in place, fromisoformat takes only ASCII digits between).
        try:
            datetime.fromisoformat(text)
        except ValueError:
            pass
        else:
            if not _EARLIEST <= text[:4] <= _LATEST:
                raise _out_of_range(text)
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


@functools.lru_cache(maxsize=8192)  # an event asks for its own instant several times
def seconds(canonical: str) -> int:
    """Seconds since the Unix epoch of a canonical instant (UTC has no leap
    seconds there, so 365 days are exactly 365 x 86,400 of them)."""
    return int(datetime.fromisoformat(canonical).timestamp())  # exact: whole seconds, far below 2^53


@functools.lru_cache(maxsize=4096)
def _day_number(day: str) -> int:
    return date.fromisoformat(day).toordinal()


def parse_duration(text: object) -> timedelta:
    """Parse `30d`, `12h` or `15m`, longer than zero and at most 100 years.
    Raises ValueError naming the accepted forms (`OutOfRange` past 100 years)."""
    match = _DURATION.match(text) if isinstance(text, str) and len(text) <= 64 else None
    if match is None:
        shown = repr(text) if not isinstance(text, str) or len(text) <= 64 else repr(text[:64]) + "..."
        raise ValueError(f"{shown} is not a duration: write a whole number and d, h or m (30d, 12h, 15m)")
    digits, unit = match.group(1), match.group(2)
    amount = int(digits) if len(digits) <= 12 else _MOST[unit] + 1
    if amount <= 0:
        raise ValueError(f"{text!r} must be longer than zero")
    if amount > _MOST[unit]:
        raise OutOfRange(f"{text!r} is longer than 100 years ({DURATION_MAX_DAYS}d)")
    return timedelta(**{_UNITS[unit]: amount})
