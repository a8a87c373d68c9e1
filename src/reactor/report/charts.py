"""The series the HTML report draws, from tallies: per period, per reaction,
per action type, per currency.

Periods follow one rule, so that a chart never has more than about a hundred
bars: a history of up to 92 days is drawn by day, up to two years (731 days)
by ISO week (Monday to Sunday), longer by calendar month; all in UTC, the time
zone of every time in actions. A year of history is 53 weekly bars.

A chart with 100 reactions stacked would be unreadable: the fires chart draws
the ten reactions that fired most (in a diff, those whose fires changed
first) and sums the rest as one "other" series; every reaction still gets its
own small line (a sparkline) in the reactions table.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Literal

from reactor.report.tally import Tally

__all__ = [
    "DAYS_BY_DAY",
    "DAYS_BY_WEEK",
    "SERIES_SHOWN",
    "Periods",
    "chart_data",
    "day_index",
    "periods_between",
    "top_keys",
]

DAYS_BY_DAY = 92
DAYS_BY_WEEK = 731
#: Series drawn one by one in a chart; the rest are summed as "other".
SERIES_SHOWN = 10

Unit = Literal["day", "week", "month"]


@dataclass(frozen=True, slots=True)
class Periods:
    """Consecutive periods covering a range of UTC days."""

    unit: Unit
    starts: tuple[date, ...]

    @property
    def labels(self) -> list[str]:
        if self.unit == "month":
            return [d.strftime("%Y-%m") for d in self.starts]
        return [d.isoformat() for d in self.starts]

    def index(self, day: str) -> int:
        """The period holding `day` (YYYY-MM-DD); days outside the range are
        clamped to the first or last period."""
        moment = date.fromisoformat(day)
        first = self.starts[0]
        if self.unit == "day":
            i = (moment - first).days
        elif self.unit == "week":
            i = (moment - first).days // 7
        else:
            i = (moment.year - first.year) * 12 + moment.month - first.month
        return min(max(i, 0), len(self.starts) - 1)

    def ends(self) -> list[date]:
        """The last day of each period."""
        out = [start - timedelta(days=1) for start in self.starts[1:]]
        last = self.starts[-1]
        if self.unit == "day":
            out.append(last)
        elif self.unit == "week":
            out.append(last + timedelta(days=6))
        else:
            following = date(last.year + last.month // 12, last.month % 12 + 1, 1)
            out.append(following - timedelta(days=1))
        return out

    def describe(self) -> str:
        return {
            "day": "by day (UTC)",
            "week": "by ISO week, Monday to Sunday (UTC); each label is the Monday",
            "month": "by calendar month (UTC)",
        }[self.unit]


def periods_between(first_day: str, last_day: str) -> Periods:
    """The periods from `first_day` to `last_day` (inclusive), by the rule in
    the module docstring."""
    first, last = date.fromisoformat(first_day), date.fromisoformat(last_day)
    if last < first:
        first, last = last, first
    span = (last - first).days + 1
    starts: list[date] = []
    if span <= DAYS_BY_DAY:
        unit: Unit = "day"
        starts = [first + timedelta(days=i) for i in range(span)]
    elif span <= DAYS_BY_WEEK:
        unit = "week"
        monday = first - timedelta(days=first.weekday())
        while monday <= last:
            starts.append(monday)
            monday += timedelta(days=7)
    else:
        unit = "month"
        month = date(first.year, first.month, 1)
        while month <= last:
            starts.append(month)
            month = date(month.year + month.month // 12, month.month % 12 + 1, 1)
    return Periods(unit, tuple(starts))


def per_period(
    periods: Periods, by_day: Mapping[str, int], index: Mapping[str, int] | None = None
) -> list[int]:
    """Counts by day summed by period (`index`: day -> period, if known)."""
    out = [0] * len(periods.starts)
    for day, count in by_day.items():
        i = index.get(day) if index is not None else None
        out[periods.index(day) if i is None else i] += count
    return out


def day_index(periods: Periods) -> dict[str, int]:
    """Every day of the periods -> its period."""
    out = {}
    for i, (start, end) in enumerate(zip(periods.starts, periods.ends(), strict=True)):
        day = start
        while day <= end:
            out[day.isoformat()] = i
            day += timedelta(days=1)
    return out


def at_period_ends(periods: Periods, records: Sequence[tuple[str, int]]) -> list[float]:
    """A step function given as (day, cents at the end of that day), read at
    the end of each period, in currency units."""
    out = []
    value, k = 0, 0
    for end in periods.ends():
        limit = end.isoformat()
        while k < len(records) and records[k][0] <= limit:
            value = records[k][1]
            k += 1
        out.append(value / 100)
    return out


def top_keys(totals: Iterable[Mapping[str, int]], prefer: Iterable[str] = ()) -> list[str]:
    """Up to SERIES_SHOWN keys to draw one by one: those in `prefer` first
    (in its order), then the largest totals over all `totals` (ties by key)."""
    combined: dict[str, int] = {}
    for mapping in totals:
        for key, value in mapping.items():
            combined[key] = max(combined.get(key, 0), value)
    chosen = [k for k in prefer if k in combined][:SERIES_SHOWN]
    rest = sorted((k for k in combined if k not in chosen), key=lambda k: (-combined[k], k))
    return chosen + rest[: SERIES_SHOWN - len(chosen)]


def _series(
    periods: Periods,
    index: Mapping[str, int],
    by_key: Mapping[str, Mapping[str, int]],
    shown: Sequence[str],
    other_label: str,
) -> list[dict[str, Any]]:
    """One series per shown key (class `s<i>`, the same key always the same
    colour), and the others summed (class `s-other`)."""
    out = [
        {"name": key, "cls": f"s{i}", "data": per_period(periods, by_key.get(key, {}), index)}
        for i, key in enumerate(shown)
    ]
    others = [k for k in by_key if k not in shown]
    if others:
        total = [0] * len(periods.starts)
        for key in others:
            for i, n in enumerate(per_period(periods, by_key[key], index)):
                total[i] += n
        out.append({"name": other_label.format(n=len(others)), "cls": "s-other", "data": total})
    return out


def _totals(by_key: Mapping[str, Mapping[str, int]]) -> dict[str, int]:
    return {key: sum(days.values()) for key, days in by_key.items()}


def chart_data(
    tallies: Mapping[str, Tally], prefer_reactions: Sequence[str] = (), prefer_types: Sequence[str] = ()
) -> dict[str, Any]:
    """Everything the page's script draws, for one or several runs (`base`
    and `new` in a diff) over the same periods and with the same series and
    colours, so that side-by-side charts compare at a glance."""
    days = [d for t in tallies.values() for d in (t.first_day, t.last_day) if d is not None]
    if not days:
        return {"unit": "day", "describe": "", "labels": [], "sides": {}, "spark": {}}
    periods = periods_between(min(days), max(days))
    index = day_index(periods)
    fires = {name: t.fires for name, t in tallies.items()}  # computed once: they are properties
    by_type = {name: t.types_by_day for name, t in tallies.items()}
    reactions = top_keys([_totals(f) for f in fires.values()], prefer_reactions)
    types = top_keys([_totals(t) for t in by_type.values()], prefer_types)
    currencies = sorted({c for t in tallies.values() for c in t.liability})
    sides = {
        name: {
            "fires": _series(periods, index, fires[name], reactions, "other reactions ({n})"),
            "types": _series(periods, index, by_type[name], types, "other types ({n})"),
            "liability": [
                {
                    "name": currency,
                    "cls": f"s{i}",
                    "data": at_period_ends(periods, tally.liability.get(currency, [])),
                }
                for i, currency in enumerate(currencies)
            ],
        }
        for name, tally in tallies.items()
    }
    every = sorted({r for f in fires.values() for r in f})
    spark = {
        reaction: {name: per_period(periods, f.get(reaction, {}), index) for name, f in fires.items()}
        for reaction in every
    }
    return {
        "unit": periods.unit,
        "describe": periods.describe(),
        "labels": periods.labels,
        "sides": sides,
        "spark": spark,
    }
