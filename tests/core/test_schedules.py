"""Automation schedules: cron in a time zone, `every`, and `at`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from reactor.schedules import Schedule


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def test_cron_in_a_time_zone_follows_daylight_saving():
    # 09:00 on Mondays in Sydney: AEST (+10) until 2026-10-04, AEDT (+11) after.
    schedule = Schedule(cron="0 9 * * MON", timezone="Australia/Sydney")
    ticks = list(schedule.ticks_between(utc("2026-09-20T00:00:00+00:00"), utc("2026-10-13T00:00:00+00:00")))
    assert ticks == [
        utc("2026-09-20T23:00:00+00:00"),  # Mon 21 Sep 09:00 +10
        utc("2026-09-27T23:00:00+00:00"),  # Mon 28 Sep 09:00 +10
        utc("2026-10-04T22:00:00+00:00"),  # Mon 5 Oct 09:00 +11
        utc("2026-10-11T22:00:00+00:00"),  # Mon 12 Oct 09:00 +11
    ]


def test_ticks_are_after_the_start_and_up_to_the_end_inclusive():
    schedule = Schedule(cron="0 0 * * *")
    ticks = list(schedule.ticks_between(utc("2026-01-01T00:00:00+00:00"), utc("2026-01-03T00:00:00+00:00")))
    assert ticks == [utc("2026-01-02T00:00:00+00:00"), utc("2026-01-03T00:00:00+00:00")]


def test_every_is_aligned_to_the_epoch_so_every_run_sees_the_same_ticks():
    schedule = Schedule(every=timedelta(hours=6))
    ticks = list(schedule.ticks_between(utc("2026-01-01T05:00:00+00:00"), utc("2026-01-01T19:00:00+00:00")))
    assert ticks == [
        utc("2026-01-01T06:00:00+00:00"),
        utc("2026-01-01T12:00:00+00:00"),
        utc("2026-01-01T18:00:00+00:00"),
    ]


def test_at_fires_once():
    schedule = Schedule(at=utc("2026-12-01T09:00:00+00:00"))
    assert list(
        schedule.ticks_between(utc("2026-01-01T00:00:00+00:00"), utc("2027-01-01T00:00:00+00:00"))
    ) == [utc("2026-12-01T09:00:00+00:00")]
    assert (
        list(schedule.ticks_between(utc("2026-12-01T09:00:00+00:00"), utc("2027-01-01T00:00:00+00:00"))) == []
    )


def test_cron_fires_once_in_a_repeated_hour_and_still_fires_on_a_skipped_one():
    schedule = Schedule(cron="30 2 * * *", timezone="Australia/Sydney")
    # 5 Apr 2026: 03:00 AEDT falls back to 02:00 AEST, so 02:30 happens twice: one tick.
    assert list(
        schedule.ticks_between(utc("2026-04-03T00:00:00+00:00"), utc("2026-04-06T00:00:00+00:00"))
    ) == [
        utc("2026-04-03T15:30:00+00:00"),  # 4 Apr 02:30 +11
        utc("2026-04-04T15:30:00+00:00"),  # 5 Apr 02:30 +11 (the first of the two)
        utc("2026-04-05T16:30:00+00:00"),  # 6 Apr 02:30 +10
    ]
    # 4 Oct 2026: 02:00 AEST jumps to 03:00 AEDT, so 02:30 does not exist: it runs at 03:30.
    assert list(
        schedule.ticks_between(utc("2026-10-02T00:00:00+00:00"), utc("2026-10-05T00:00:00+00:00"))
    ) == [
        utc("2026-10-02T16:30:00+00:00"),  # 3 Oct 02:30 +10
        utc("2026-10-03T16:30:00+00:00"),  # 4 Oct 03:30 +11
        utc("2026-10-04T15:30:00+00:00"),  # 5 Oct 02:30 +11
    ]
