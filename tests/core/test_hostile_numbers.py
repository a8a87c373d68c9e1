"""Numbers and times at their bounds in the core: a computed amount or points
past the range fail their reaction (`out_of_range`), never the run, and the
largest values the bounds allow go through date arithmetic and out as JSON.

Every expected value is worked out by hand from `reactor.limits` and the inputs.
"""

from __future__ import annotations

from pathlib import Path

import orjson

from reactor.config import Config, load_config
from reactor.replay import Replay
from support import profile_updated, run, transaction, write_config

CATALOG = """
statuses:
  - {handle: vip, name: VIP, rank: 1, modifiers: {tier_points_multiplier: 1000, reward_extra_days: 36525}}
"""


def config(tmp_path: Path, reactions: str) -> Config:
    return load_config(
        write_config(tmp_path / "cfg", {"reactions/s.yaml": CATALOG, "reactions/r.yaml": reactions})
    )


def test_a_computed_reward_past_10_12_fails_its_reaction_and_the_others_run(tmp_path):
    cfg = config(
        tmp_path,
        """
        reactions:
          - id: a-tag
            on: [transaction.created]
            actions: [{type: tag.add, tag: buyer}]
          - id: b-reward
            on: [transaction.created]
            actions:
              - {type: tag.add, tag: rewarded}
              - {type: reward.create, amount: {"*": [{"var": "transaction.total"}, 10]}, valid_for: 30d}
          - id: c-tag
            on: [transaction.created]
            actions: [{type: tag.add, tag: after}]
        """,
    )
    # 200,000,000,000 x 10 = 2e12: past 1e12. The reaction's tag.add is rolled back with it.
    _, actions, outcomes = run(cfg, transaction(2e11, id="e1"))
    assert [(a["type"], a.get("tag")) for a in actions] == [("tag.add", "buyer"), ("tag.add", "after")]
    (failure,) = outcomes[0].failures
    assert (failure.reaction_id, failure.code) == ("b-reward", "out_of_range")
    assert failure.message.endswith("the amount 2000000000000.0 is outside ±10^12")
    assert failure.path == "reactions/r.yaml:9:9"  # the reward.create step: line 9, after "      - "
    # 100,000,000,000 x 10 = 1e12: the largest reward there is.
    _, actions, outcomes = run(cfg, transaction(1e11, id="e2"))
    assert [a["amount"] for a in actions if a["type"] == "reward.create"] == [1e12]
    assert outcomes[0].failures == ()


def test_a_computed_amount_that_overflows_fails_its_reaction(tmp_path):
    cfg = config(
        tmp_path,
        """
        reactions:
          - id: huge
            on: [transaction.created]
            actions: [{type: reward.create, amount: {"*": [1e300, 10]}, currency: AUD, valid_for: 30d}]
          - id: overflow
            on: [transaction.created]
            actions: [{type: points.award, kind: tier, points: {"*": [{"var": "transaction.total"}, 1e300, 1e300]}}]
        """,
    )
    _, actions, outcomes = run(cfg, transaction(5, id="e1"))
    assert actions == []  # never `"amount": null` or a number JSON cannot hold
    failures = [(f.reaction_id, f.code, f.message.split(": ", 1)[1]) for f in outcomes[0].failures]
    assert failures == [
        ("huge", "out_of_range", "the amount 1e+301 is outside ±10^12"),
        # datalogic gives null for a product past the largest double (5e600)
        ("overflow", "not_a_number", "evaluated to null, expected a number"),
    ]


def test_points_past_2_53_fail_their_reaction_and_the_balance_stays_within(tmp_path):
    cfg = config(
        tmp_path,
        """
        reactions:
          - id: half
            on: [transaction.created]
            actions: [{type: points.award, kind: reward, points: 4503599627370496}]
          - id: tier
            on: [transaction.created]
            actions: [{type: points.award, kind: tier, points: {"var": "transaction.total"}}]
        """,
    )
    # 2^52 reward points per purchase: two make 2^53 (the largest balance), a third is refused.
    state, actions, outcomes = run(
        cfg,
        profile_updated(id="e0", statuses=[{"handle": "vip", "expires_at": None}]),
        transaction(1e12, id="e1"),  # tier: 1e12 x 1000 (VIP) = 1e15, within 2^53 (9.007e15)
        transaction(10, id="e2"),
        transaction(10, id="e3"),
    )
    assert [(a["kind"], a["points"]) for a in actions if a["type"] == "points.award"] == [
        ("reward", 2**52),
        ("tier", 10**15),
        ("reward", 2**52),
        ("tier", 10_000),
        ("tier", 10_000),  # e3's reward award failed; its tier one still ran
    ]
    assert state is not None and state.point_balance == 2**53
    assert [(f.reaction_id, f.code) for f in outcomes[3].failures] == [("half", "out_of_range")]
    assert (
        outcomes[3].failures[0].message.endswith("the point balance 13510798882111488 is outside ±2^53")
    )  # 2^53 + 2^52


def test_the_longest_durations_and_extra_days_from_the_last_instant_stay_in_range(tmp_path):
    cfg = config(
        tmp_path,
        """
        statuses:
          - {handle: long, name: Long, rank: 2, default_duration: 36525d}
        reactions:
          - id: r
            on: [profile.updated]
            limit: {per_profile: 1, window: 36525d}
            actions:
              - {type: status.apply, status: long}
              - {type: reward.create, amount: 5, currency: AUD, valid_for: 36525d}
        """,
    )
    _, actions, _ = run(
        cfg,
        profile_updated(id="e1", at="2200-12-31T23:59:59Z", statuses=[{"handle": "vip", "expires_at": None}]),
    )
    # 2201-2300 holds 24 leap years (2204 to 2300 by fours is 25, but 2300 is not one), so
    # 2200-12-31 to 2300-12-31 is 100 x 365 + 24 = 36,524 days: 36,525 lands on 2301-01-01.
    # The reward adds VIP's 36,525 extra days: 2301-2400 holds 25 leap years (2400 is one),
    # so 2300-12-31 to 2400-12-31 is 36,525 days, and 73,050 in all lands on 2401-01-01.
    by_type = {a["type"]: a for a in actions}
    assert by_type["status.apply"]["expires_at"] == "2301-01-01T23:59:59Z"
    assert by_type["reward.create"]["expires_at"] == "2401-01-01T23:59:59Z"


def test_the_earliest_and_latest_instants_replay_with_every_window(tmp_path):
    cfg = config(
        tmp_path,
        """
        reactions:
          - id: spend
            on: [transaction.created]
            when: {">=": [{"var": "aggregations.spend_12m"}, 0]}
            limit: {per_profile: 5, window: 36525d}
            actions: [{type: tag.add, tag: spent}]
        automations:
          - {id: yearly, schedule: "@yearly", actions: [{type: tag.remove, tag: spent}]}
        """,
    )
    actions: list[bytes] = []
    rejects: list[dict] = []
    replay = Replay(cfg, on_action=lambda a: actions.append(a.to_json()), on_reject=rejects.append)
    replay.feed(transaction(1e12, id="a", at="1900-01-01T00:00:00Z"), {"line": 1})
    replay.feed(transaction(-1e12, id="b", at="1900-01-01T00:00:01Z"), {"line": 2})
    replay.finish("1902-01-01T00:00:00Z")
    assert rejects == []
    tags = [(orjson.loads(a)["type"], orjson.loads(a)["at"]) for a in actions]
    # tagged at the first purchase; the ticks of 1901-01-01 and 1902-01-01 remove it once
    assert tags == [("tag.add", "1900-01-01T00:00:00Z"), ("tag.remove", "1901-01-01T00:00:00Z")]
