"""Rules ops can trust (CONTRACT §11), in the core: limits that count only
chains that emitted an action, dedupe by time, the aggregations that let
"first purchase after 90 days away" be written, and the best customer-facing
status. Expected values are worked out by hand from the inputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from reactor.config import load_config
from support import brief, profile_updated, run, transaction, write_config

CATALOG = """
statuses:
  - {handle: staff, name: Staff, rank: 1, customer_facing: false}
  - {handle: vip, name: VIP, rank: 2}
  - {handle: media, name: Media, rank: 4}
"""


@pytest.fixture
def cfg(tmp_path: Path):
    counter = iter(range(100))

    def make(reactions: str):
        root = write_config(
            tmp_path / f"c{next(counter)}",
            {"reactions/catalog.yaml": CATALOG, "reactions/rules.yaml": reactions},
        )
        return load_config(root)

    return make


def test_a_chain_stopped_by_its_filter_does_not_use_up_the_limit(cfg):
    config = cfg("""
    reactions:
      - id: welcome
        on: [profile.updated]
        limit: {per_profile: 1}
        actions:
          - {type: filter, when: {"var": "attributes.comms.email_opt_in"}}
          - {type: tag.add, tag: welcomed}
    """)
    opted_out = profile_updated(attributes={"comms": {"email_opt_in": False}}, at="2026-11-01T00:00:00Z")
    opted_in = profile_updated(attributes={"comms": {"email_opt_in": True}}, at="2026-11-02T00:00:00Z")
    again = profile_updated(attributes={"comms": {"email_opt_in": True}}, at="2026-11-03T00:00:00Z")
    _, actions, outcomes = run(config, opted_out, opted_in, again)
    # Opted out: stopped by the filter, nothing emitted, the limit untouched;
    # opted in: welcomed; a third time: the limit (once) holds.
    assert brief(actions) == [("tag.add", {"tag": "welcomed"})]
    assert [o.verdicts for o in outcomes] == [
        (("welcome", "matched"),),
        (("welcome", "fired"),),
        (("welcome", "limited"),),
    ]


def test_a_chain_that_emits_nothing_does_not_use_up_the_limit(cfg):
    config = cfg("""
    reactions:
      - id: tag-once
        on: [profile.updated]
        limit: {per_profile: 1}
        actions: [{type: tag.add, tag: hello}]
    """)
    # The tag already comes from upstream: tag.add does nothing, no action, no use.
    # Upstream then drops it: the reaction adds it, and that uses the limit.
    _, actions, outcomes = run(
        config,
        profile_updated(tags=["hello"], at="2026-11-01T00:00:00Z"),
        profile_updated(tags=[], at="2026-11-02T00:00:00Z"),
        profile_updated(tags=[], at="2026-11-03T00:00:00Z"),
    )
    assert brief(actions) == [("tag.add", {"tag": "hello"})]
    assert [o.verdicts[0][1] for o in outcomes] == ["matched", "fired", "limited"]


def test_a_resent_transaction_is_skipped_however_many_events_came_between(cfg):
    config = cfg("""
    reactions:
      - {id: points, on: [transaction.created], actions: [{type: points.award, kind: reward, points: 1}]}
    """)
    first = transaction(30, txn_id="t-original", at="2026-01-05T10:00:00Z")
    between = [transaction(1, at=f"2026-02-{d:02d}T10:{m:02d}:00Z") for d in range(1, 15) for m in range(5)]
    resent = transaction(
        30, txn_id="t-original", at="2026-06-01T10:00:00Z"
    )  # new event id, same (system, id)
    state, _, outcomes = run(config, first, *between, resent)
    assert len(between) == 70
    assert outcomes[-1].skipped == "duplicate_transaction"
    assert state.point_balance == 71 and state.spend_all == 100  # 30 + 70, counted once


def test_a_transaction_key_is_kept_365_days_from_when_it_was_transacted(cfg):
    config = cfg("""
    reactions:
      - {id: points, on: [transaction.created], actions: [{type: points.award, kind: reward, points: 1}]}
    """)
    # Re-sent 364 days and 23 h after it was transacted: still known, skipped.
    # Re-sent exactly 365 days after: forgotten with the purchase, counted again.
    _, _, outcomes = run(
        config,
        transaction(10, txn_id="t-1", at="2026-01-01T00:00:00Z"),
        transaction(10, txn_id="t-1", at="2026-12-31T23:00:00Z"),
        transaction(10, txn_id="t-1", at="2027-01-01T00:00:00Z"),
    )
    assert [o.skipped for o in outcomes] == [None, "duplicate_transaction", None]


def test_event_ids_are_remembered_for_the_dedupe_window(cfg):
    config = cfg("""
    reactions:
      - {id: hello, on: [profile.updated], actions: [{type: points.award, kind: reward, points: 1}]}
    """)
    event = profile_updated(id="e-redelivered", at="2026-11-01T00:00:00Z")
    later = profile_updated(id="e-redelivered", at="2026-11-08T00:00:00Z")
    # The same id 6 days later (as a redelivery carries its old time, the
    # clock has moved on with other events): skipped. 7 days after it
    # occurred, the id is forgotten (default dedupe window: 7 days).
    state, _, outcomes = run(
        config,
        event,
        profile_updated(at="2026-11-07T00:00:00Z"),
        event,
        profile_updated(at="2026-11-08T00:00:00Z"),
        later,
    )
    assert [o.skipped for o in outcomes] == [None, None, "duplicate_event", None, None]
    assert state.point_balance == 4


def test_time_driven_work_forgets_event_ids_past_the_dedupe_window(cfg):
    # A state stored after time-driven work alone (a status expiring 8 days
    # on) holds the event ids of the dedupe window only, as after an event.
    from reactor.engine import run_due
    from reactor.state import ProfileState

    config = cfg("""
    reactions:
      - {id: vip, on: [profile.updated], actions: [{type: status.apply, status: vip, duration: 8d}]}
    """)
    state, _, _ = run(config, profile_updated(id="e-1", at="2026-11-01T00:00:00Z"))
    assert "e-1" in state.seen_events
    outcome = run_due(state, config, "2026-11-09T00:00:00Z")
    assert [a.type for a in outcome.actions] == ["status.remove"]
    stored = ProfileState.from_json(outcome.state.to_json())
    assert "e-1" not in stored.seen_events and len(stored.seen_events) == 0


def test_first_purchase_after_90_days_away_can_be_written_on_the_transaction(cfg):
    config = cfg("""
    reactions:
      - id: welcome-back
        on: [transaction.created]
        when: {">": [{"var": "aggregations.days_since_previous_spend"}, 90]}
        actions: [{type: tag.add, tag: welcomed-back}]
    """)
    _, actions, outcomes = run(
        config,
        transaction(50, at="2026-01-10T09:00:00Z"),
        transaction(-20, at="2026-03-01T09:00:00Z"),  # a refund: not a purchase
        transaction(20, at="2026-04-10T09:00:00Z"),  # 90 days after 10 January: not more than 90
        transaction(20, at="2026-07-10T09:00:01Z"),  # 91 days (and a second) after 10 April
    )
    assert brief(actions) == [("tag.add", {"tag": "welcomed-back"})]
    assert actions[0]["event_id"] == outcomes[3].actions[0].event_id


def test_previous_spend_on_other_events_is_the_last_spend(cfg):
    config = cfg("""
    reactions:
      - id: look
        on: [profile.updated, transaction.created]
        actions: [{type: tag.add, tag: seen}]
    """)
    state, _, _ = run(config, transaction(50, at="2026-01-10T09:00:00Z"))
    from reactor.context import build_context
    from reactor.events import decode_event

    snapshot = decode_event(profile_updated(at="2026-02-09T09:00:00Z"))
    aggregations = build_context(state, snapshot, config)["aggregations"]
    assert aggregations["previous_spend_at"] == aggregations["last_spend_at"] == "2026-01-10T09:00:00Z"
    assert aggregations["days_since_previous_spend"] == 30


def test_a_late_purchase_sees_the_purchase_before_it_in_time(cfg):
    config = cfg("""
    reactions:
      - id: look
        on: [transaction.created]
        actions: [{type: points.award, kind: reward, points: {"var": "aggregations.days_since_previous_spend"}}]
    """)
    # Synced late: transacted on 1 March, after purchases on 1 February and 1 April.
    _, actions, _ = run(
        config,
        transaction(10, at="2026-02-01T00:00:00Z"),
        transaction(10, at="2026-04-01T00:00:00Z"),
        transaction(10, at="2026-04-02T00:00:00Z", transacted_at="2026-03-01T00:00:00Z"),
    )
    # The late one's previous purchase is 1 February; days from it to now (2 April): 60.
    assert [a["points"] for a in actions] == [59, 60]  # (the first has none: no points)


def test_best_customer_facing_status_skips_statuses_customers_do_not_see(cfg):
    config = cfg("""
    reactions:
      - id: look
        on: [profile.updated]
        when: {"==": [{"var": "best_customer_facing_status"}, "vip"]}
        actions: [{type: tag.add, tag: show-vip}]
    """)
    statuses = [{"handle": "staff", "expires_at": None}, {"handle": "vip", "expires_at": None}]
    _, actions, _ = run(config, profile_updated(statuses=statuses))
    assert brief(actions) == [("tag.add", {"tag": "show-vip"})]  # best_status is staff
