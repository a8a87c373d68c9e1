"""Event-time order across two input topics (the worker's merge)."""

from __future__ import annotations

from dataclasses import dataclass

from reactor.kafka.ordering import EventTimeMerge

P, T = "profile.updated", "transaction.created"


@dataclass(frozen=True)
class Msg:
    topic: str
    partition: int
    offset: int


def merge() -> EventTimeMerge[Msg]:
    return EventTimeMerge([P, T], max_idle=1.0)


def add(m: EventTimeMerge[Msg], topic: str, offset: int, at: str | None, partition: int = 0) -> None:
    m.add((topic, partition), Msg(topic, partition, offset), at, f"{topic}@{offset}")


def everything_caught_up(topic: str, partition: int) -> bool:
    return True


def nothing_caught_up(topic: str, partition: int) -> bool:
    return False


def test_two_topics_are_merged_in_event_time_order_each_keeping_its_own_order():
    m = merge()
    add(m, T, 0, "2026-01-01T00:00:02Z")
    add(m, T, 1, "2026-01-01T00:00:01Z")  # a late event: still after offset 0 of its own topic
    add(m, P, 0, "2026-01-01T00:00:00Z")
    add(m, P, 1, "2026-01-01T00:00:03Z")
    order = [payload for _, payload in m.release(everything_caught_up, now=0)]
    assert order == [f"{P}@0", f"{T}@0", f"{T}@1", f"{P}@1"]


def test_events_wait_for_a_topic_that_has_more_in_kafka_but_not_for_ever():
    m = merge()
    add(m, T, 0, "2026-01-01T00:00:05Z")
    assert m.release(nothing_caught_up, now=10.0) == []  # the profile topic may hold an earlier event
    assert m.overdue(10.5) == []
    assert m.overdue(11.0) == [0]
    # It came: the earlier snapshot runs first; the transaction waits again,
    # for what else the profile topic may hold, until that topic catches up.
    add(m, P, 0, "2026-01-01T00:00:04Z")
    assert [p for _, p in m.release(nothing_caught_up, now=10.6)] == [f"{P}@0"]
    assert [p for _, p in m.release(everything_caught_up, now=10.7)] == [f"{T}@0"]


def test_after_waiting_max_idle_every_waiting_event_runs():
    m = merge()
    for offset in range(3):
        add(m, T, offset, f"2026-01-01T00:00:0{offset}Z")
    assert m.release(nothing_caught_up, now=0.0) == []
    assert len(m.release(nothing_caught_up, now=1.0)) == 3


def test_a_caught_up_topic_does_not_hold_the_other_back():
    m = merge()
    add(m, T, 0, "2026-01-01T00:00:05Z")
    released = m.release(lambda topic, partition: topic == P, now=0.0)
    assert [p for _, p in released] == [f"{T}@0"]


def test_partitions_are_independent_and_undecodable_messages_go_first():
    m = merge()
    add(m, T, 0, "2026-01-01T00:00:05Z", partition=1)
    add(m, P, 0, "2026-01-01T00:00:09Z", partition=0)
    add(m, T, 0, None, partition=0)
    order = [payload for _, payload in m.release(lambda topic, partition: partition == 0, now=0.0)]
    assert order == [f"{T}@0", f"{P}@0"]  # partition 1 waits for its profile topic
    assert list(m.queues[(T, 1)])


def test_dropped_messages_are_forgotten():
    m = merge()
    add(m, T, 0, "2026-01-01T00:00:01Z")
    add(m, T, 1, "2026-01-01T00:00:02Z")
    m.drop(lambda msg: msg.offset != 0)
    assert [p for _, p in m.release(everything_caught_up, now=0)] == [f"{T}@1"]
    add(m, P, 0, "2026-01-01T00:00:03Z")
    m.drop_partitions([(P, 0)])
    assert m.release(everything_caught_up, now=0) == []


def test_an_event_waits_settle_behind_a_caught_up_topic_unless_that_topic_never_held_a_record():
    m: EventTimeMerge[Msg] = EventTimeMerge([P, T], max_idle=1.0, settle=0.02)
    m.add((T, 0), Msg(T, 0, 0), "2026-01-01T00:00:05Z", "t0", arrived=10.0)
    assert m.release(everything_caught_up, now=10.01) == []  # the profile topic's records may still land
    assert m.holding
    assert [p for _, p in m.release(everything_caught_up, now=10.03)] == ["t0"]
    assert not m.holding
    m.add((T, 0), Msg(T, 0, 1), "2026-01-01T00:00:06Z", "t1", arrived=20.0)
    unused = m.release(everything_caught_up, now=20.0, never_written=lambda topic, partition: topic == P)
    assert [p for _, p in unused] == ["t1"]


def test_the_idle_clock_restarts_while_the_consumer_has_more_queued():
    m = merge()
    add(m, T, 0, "2026-01-01T00:00:05Z")
    assert m.release(nothing_caught_up, now=0.0) == []
    # 5 s later, but the consumer had a full batch: what we wait for may be in it.
    assert m.release(nothing_caught_up, now=5.0, drained=False) == []
    assert m.release(nothing_caught_up, now=5.5) == []
    assert [p for _, p in m.release(nothing_caught_up, now=6.0)] == [f"{T}@0"]
