"""The periods and series the report draws: the aggregation rule, by hand."""

from __future__ import annotations

import hashlib
import re
from datetime import date

import pytest

from reactor.report import charts
from reactor.report.charts import at_period_ends, per_period, periods_between, top_keys
from support import REPO


@pytest.mark.parametrize(
    ("first", "last", "unit", "count", "first_start", "last_start"),
    [
        ("2026-01-01", "2026-01-01", "day", 1, "2026-01-01", "2026-01-01"),
        # 92 days (1 Jan to 2 Apr 2026) are drawn by day; 93 by week.
        ("2026-01-01", "2026-04-02", "day", 92, "2026-01-01", "2026-04-02"),
        # 1 Jan 2026 is a Thursday: weeks start on Monday 29 Dec 2025; 3 Apr
        # 2026 is a Friday in the week of Monday 30 Mar: 14 weeks.
        ("2026-01-01", "2026-04-03", "week", 14, "2025-12-29", "2026-03-30"),
        # A year: 1 Jan to 31 Dec 2026 (a Thursday): 53 Mondays from 29 Dec 2025 to 28 Dec 2026.
        ("2026-01-01", "2026-12-31", "week", 53, "2025-12-29", "2026-12-28"),
        # 1 Jan 2026 to 1 Jan 2028 is 731 days (365 + 365 + 1): still by week, to
        # Saturday 1 Jan 2028 in the week of Monday 27 Dec 2027; 732 by month.
        ("2026-01-01", "2028-01-01", "week", 105, "2025-12-29", "2027-12-27"),
        ("2026-01-01", "2028-01-02", "month", 25, "2026-01-01", "2028-01-01"),
    ],
)
def test_the_aggregation_rule(first, last, unit, count, first_start, last_start):
    periods = periods_between(first, last)
    assert periods.unit == unit
    assert len(periods.starts) == count
    assert (periods.starts[0].isoformat(), periods.starts[-1].isoformat()) == (first_start, last_start)


def test_counts_land_in_their_period_and_liability_is_read_at_period_ends():
    periods = periods_between("2026-01-01", "2026-04-30")  # by week, from Mon 29 Dec 2025
    by_day = {"2026-01-01": 2, "2026-01-04": 1, "2026-01-05": 5, "2026-04-30": 1}
    counts = per_period(periods, by_day)
    assert counts[:2] == [3, 5]  # Thu 1 and Sun 4 Jan in the first week, Mon 5 Jan in the second
    assert counts[-1] == 1 and sum(counts) == 9
    ends = periods.ends()
    assert ends[0] == date(2026, 1, 4) and ends[-1] == date(2026, 5, 3)
    # Liability recorded at the end of the days it changed, read at each week's end.
    values = at_period_ends(periods, [("2026-01-02", 1000), ("2026-01-04", 1500), ("2026-01-06", 0)])
    assert values[:3] == [15.0, 0.0, 0.0]
    month = periods_between("2026-01-15", "2028-02-10")
    assert month.ends()[0] == date(2026, 1, 31) and month.ends()[-1] == date(2028, 2, 29)


def test_the_series_drawn_one_by_one():
    totals = {f"r{i:02d}": i for i in range(15)}
    assert top_keys([totals]) == [f"r{i:02d}" for i in range(14, 4, -1)]
    # In a diff, the reactions whose fires changed come first.
    assert top_keys([totals], prefer=["r01", "zz"])[:2] == ["r01", "r14"]
    assert len(top_keys([totals], prefer=["r01"])) == charts.SERIES_SHOWN


def test_the_vendored_chart_library_is_the_published_one():
    vendor = REPO / "src" / "reactor" / "report" / "vendor"
    table = (vendor / "README.md").read_text()
    recorded = dict(re.findall(r"\| `([\w.-]+)` \| [^|]+ \| `([0-9a-f]{64})` \|", table))
    assert set(recorded) == {"chartist.umd.js", "chartist.css"}
    for name, digest in recorded.items():
        assert hashlib.sha256((vendor / name).read_bytes()).hexdigest() == digest, name
