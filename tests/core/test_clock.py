"""Instants move by durations in UTC; expected values counted on a calendar."""

from __future__ import annotations

from datetime import timedelta

import pytest

from reactor.clock import shift, whole_days


@pytest.mark.parametrize(
    ("start", "delta", "expected"),
    [
        # 2025-03-01 to 2026-03-01 is 365 days (2025 has no 29 February).
        ("2026-03-01T10:00:00Z", timedelta(days=-365), "2025-03-01T10:00:00Z"),
        # 2023-03-01 to 2024-03-01 is 366 days (29 February 2024), so 365 back lands on 2 March.
        ("2024-03-01T00:00:00Z", timedelta(days=-365), "2023-03-02T00:00:00Z"),
        ("2026-11-20T10:00:00Z", timedelta(days=30), "2026-12-20T10:00:00Z"),
        ("2028-02-28T23:59:59Z", timedelta(days=1), "2028-02-29T23:59:59Z"),
        ("2026-12-31T23:30:00Z", timedelta(hours=1), "2027-01-01T00:30:00Z"),
        ("2026-01-31T05:06:07Z", timedelta(days=1, minutes=-1), "2026-02-01T05:05:07Z"),
        ("2026-01-01T00:10:00Z", timedelta(minutes=-15), "2025-12-31T23:55:00Z"),
    ],
)
def test_shift_moves_an_instant_in_utc(start: str, delta: timedelta, expected: str):
    assert shift(start, delta) == expected


@pytest.mark.parametrize(
    ("earlier", "now", "expected"),
    [
        ("2026-11-18T08:00:00Z", "2026-11-20T09:00:00Z", 2),  # 2 days 1 hour
        ("2026-11-18T10:00:00Z", "2026-11-20T09:00:00Z", 1),  # 1 day 23 hours
        ("2026-11-20T09:00:00Z", "2026-11-20T09:00:00Z", 0),
        ("2026-11-20T09:00:01Z", "2026-11-20T09:00:00Z", -1),  # a second in the future: rounded down
        ("2025-12-31T23:59:59Z", "2026-01-01T00:00:00Z", 0),
        ("2024-02-28T12:00:00Z", "2024-03-01T12:00:00Z", 2),  # 29 February 2024
        ("2025-11-20T09:00:00Z", "2026-11-20T09:00:00Z", 365),
    ],
)
def test_whole_days_between_two_instants_rounded_down(earlier: str, now: str, expected: int):
    assert whole_days(earlier, now) == expected
