"""The incentive programme (CONTRACT §7), one rule at a time: tiers,
achievements, point kinds and the ledger, refunds, reactions on reactor's own
events. Every expected value is worked out by hand from the inputs."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from reactor.config import load_config
from reactor.context import build_context, days_until_birthday, local_date
from reactor.engine import next_due, run_due
from reactor.events import decode_event
from support import brief, event, profile_updated, run, transaction, write_config

TIERS = """
tiers:
  - program: loyalty
    measure: tier_points_12m
    review_after: 365d
    floor: member
    levels:
      - {handle: member, name: Member, attain: 0}
      - {handle: gold, name: Gold, attain: 1000, maintain: 800, meta: {lounge: false}}
      - {handle: platinum, name: Platinum, attain: 2500, maintain: 2000, meta: {lounge: true}}
"""

POINTS = """
reactions:
  - id: points
    on: [transaction.created]
    when: {">=": [{"var": "transaction.total"}, 0]}
    actions: [{type: points.award, kind: tier, points: {"var": "transaction.total"}}]
"""


@pytest.fixture
def cfg(tmp_path: Path):
    counter = iter(range(1000))

    def make(*parts: str):
        files = {f"reactions/p{i}.yaml": text for i, text in enumerate(parts)}
        return load_config(write_config(tmp_path / f"c{next(counter)}", files))

    return make


def tiers_of(actions):
    return [
        (a["tier"], a["previous"], a["reason"], a["review_at"]) for a in actions if a["type"] == "tier.assign"
    ]


# --- tiers ------------------------------------------------------------------------------


def test_the_first_event_joins_the_floor_and_a_large_purchase_goes_straight_to_the_highest_level(cfg):
    config = cfg(TIERS, POINTS)
    state, actions, _ = run(
        config,
        profile_updated(at="2026-01-10T09:00:00Z"),
        transaction(2600, at="2026-02-01T10:00:00Z"),
    )
    assert tiers_of(actions) == [
        ("member", None, "joined", None),  # the floor is never reviewed
        ("platinum", "member", "attained", "2027-02-01T10:00:00Z"),  # past gold, in one go
    ]
    assert state.tiers["loyalty"] == ["platinum", "2026-02-01T10:00:00Z", "2027-02-01T10:00:00Z"]
    first = next(a for a in actions if a["type"] == "tier.assign")
    assert first["reaction_id"] is None and first["event_id"] == actions[0]["event_id"]


def test_a_measure_that_falls_never_downgrades_before_the_review(cfg):
    config = cfg(
        TIERS,
        POINTS,
        """
    reactions:
      - {id: refund, on: [transaction.created], when: {"<": [{"var": "transaction.total"}, 0]}, actions: [{type: points.reverse}]}
    """,
    )
    buy = transaction(1200, at="2026-01-01T00:00:00Z", txn_id="t-big")
    refund = transaction(-1200, at="2026-01-05T00:00:00Z", original_id="t-big")
    state, actions, _ = run(config, buy, refund)
    assert state.tier_points_12m() == 0  # all taken back...
    assert state.tiers["loyalty"][0] == "gold"  # ...but gold stays until its review
    assert tiers_of(actions)[-1][:3] == ("gold", "member", "attained")


def review_setup(cfg, *totals_and_days):
    """A profile that attains gold on 1 Jan 2026 (1,000 tier points) and
    buys more as given; returns the config and state before the review."""
    config = cfg(TIERS, POINTS)
    events = [transaction(1000, at="2026-01-01T00:00:00Z")]
    events += [transaction(total, at=at) for total, at in totals_and_days]
    state, _, _ = run(config, *events)
    return config, state


def test_a_review_that_maintains_the_level_moves_the_review_on_from_the_old_one(cfg):
    # 850 more points in December: on 1 Jan 2027 the January purchase has left
    # the 12 months (the instant 365 days before is excluded); 850 >= 800 keeps gold.
    config, state = review_setup(cfg, (850, "2026-12-01T00:00:00Z"))
    assert next_due(state, config) == "2027-01-01T00:00:00Z"
    outcome = run_due(state, config, "2027-01-02T00:00:00Z")
    assert brief([a.as_dict() for a in outcome.actions]) == [
        (
            "tier.assign",
            {
                "program": "loyalty",
                "tier": "gold",
                "previous": "gold",
                "reason": "maintained",
                "review_at": "2028-01-01T00:00:00Z",
            },
        )
    ]
    assert outcome.actions[0].at == "2027-01-01T00:00:00Z" and outcome.actions[0].event_id is None


def test_a_review_below_maintain_drops_to_the_highest_level_kept_never_below_the_floor(cfg):
    # Platinum with 2,600 on 1 Feb; 900 more in December: at the review (1 Feb
    # 2027) 900 keeps gold (maintain 800) but not platinum (maintain 2,000).
    config = cfg(TIERS, POINTS)
    state, _, _ = run(
        config, transaction(2600, at="2026-02-01T00:00:00Z"), transaction(900, at="2026-12-01T00:00:00Z")
    )
    outcome = run_due(state, config, "2027-02-01T00:00:00Z")
    (assign,) = [a.as_dict() for a in outcome.actions]
    assert (assign["tier"], assign["previous"], assign["reason"], assign["review_at"]) == (
        "gold",
        "platinum",
        "downgraded",
        "2028-02-01T00:00:00Z",
    )
    # Nothing more bought: at gold's review a year later, the measure is 0: the floor, never reviewed.
    later = run_due(outcome.state, config, "2028-02-01T00:00:00Z")
    (floor,) = [a.as_dict() for a in later.actions]
    assert (floor["tier"], floor["reason"], floor["review_at"]) == ("member", "downgraded", None)
    assert next_due(later.state, config) is None


def test_two_programs_at_once(cfg):
    config = cfg(
        TIERS,
        POINTS,
        """
    tiers:
      - program: spenders
        measure: spend_12m
        review_after: 180d
        levels:
          - {handle: basic, name: Basic, attain: 0}
          - {handle: big, name: Big spender, attain: 500}
    """,
    )
    state, actions, _ = run(config, transaction(600, at="2026-03-01T00:00:00Z"))
    # 600 spent and 600 tier points: big spender, not gold (1,000).
    assert tiers_of(actions) == [
        ("member", None, "joined", None),
        ("basic", None, "joined", None),
        ("big", "basic", "attained", "2026-08-28T00:00:00Z"),  # 180 days on
    ]
    context = build_context(state, decode_event(profile_updated(at="2026-03-02T00:00:00Z")), config)
    assert context["tier_handle"] == "member"  # the first program's, in configuration order
    assert context["tiers"]["spenders"] == {
        "handle": "big",
        "name": "Big spender",
        "since": "2026-03-01T00:00:00Z",
        "review_at": "2026-08-28T00:00:00Z",
        "meta": {},
    }


def test_a_review_exactly_one_period_on_no_longer_counts_the_attaining_purchase(cfg):
    config, state = review_setup(cfg)  # 1,000 on 1 Jan 2026, nothing since
    outcome = run_due(state, config, "2027-01-01T00:00:00Z")
    (assign,) = [a.as_dict() for a in outcome.actions]
    assert (assign["tier"], assign["reason"]) == ("member", "downgraded")


def test_a_review_due_before_the_next_event_runs_first_at_its_own_time(cfg):
    config, state = review_setup(cfg, (900, "2026-12-15T00:00:00Z"))
    _, actions, _ = run(config, transaction(10, at="2027-03-01T00:00:00Z"), state=state)
    assert tiers_of(actions)[0] == ("gold", "gold", "maintained", "2028-01-01T00:00:00Z")
    assert actions[0]["at"] == "2027-01-01T00:00:00Z"
    # The same action, id for id, as a tick would have made it.
    ticked = run_due(state, config, "2027-01-01T00:00:00Z").actions[0]
    assert actions[0]["id"] == ticked.id


# --- achievements -----------------------------------------------------------------------

ACHIEVEMENTS = """
achievements:
  - {handle: coffee, name: Coffee lover, levels: [1, 5, 10, 25], meta: {badge: cup}}
reactions:
  - id: cups
    on: [transaction.created]
    actions: [{type: achievement.progress, achievement: coffee, count: {"var": "transaction.items.0.quantity"}}]
"""


def test_one_large_count_crosses_several_levels_at_once(cfg):
    config = cfg(ACHIEVEMENTS)
    state, actions, _ = run(
        config,
        transaction(5, items=[{"sku": "c", "quantity": 3}], at="2026-01-01T00:00:00Z"),
        transaction(20, items=[{"sku": "c", "quantity": 8}], at="2026-01-02T00:00:00Z"),
    )
    assert brief(actions) == [
        ("achievement.progress", {"achievement": "coffee", "count": 3, "total": 3}),
        ("achievement.level", {"achievement": "coffee", "level": 1, "threshold": 1, "total": 3}),
        ("achievement.progress", {"achievement": "coffee", "count": 8, "total": 11}),
        ("achievement.level", {"achievement": "coffee", "level": 2, "threshold": 5, "total": 11}),
        ("achievement.level", {"achievement": "coffee", "level": 3, "threshold": 10, "total": 11}),
    ]
    assert state.achievements["coffee"] == [11, 3]
    assert all(a["reaction_id"] == "cups" for a in actions)


@pytest.mark.parametrize("quantity", [0, -2])
def test_a_count_that_is_not_positive_fails_the_reaction(cfg, quantity):
    config = cfg(ACHIEVEMENTS)
    state, actions, outcomes = run(config, transaction(5, items=[{"sku": "c", "quantity": quantity}]))
    assert actions == [] and outcomes[0].failures[0].code == "invalid_count"
    assert state.achievements == {}


def test_levels_are_never_lost_refunds_included(cfg):
    config = cfg(ACHIEVEMENTS)
    state, _, _ = run(
        config,
        transaction(5, items=[{"sku": "c", "quantity": 6}], at="2026-01-01T00:00:00Z"),
        transaction(-5, items=[{"sku": "c", "quantity": 1}], at="2026-01-02T00:00:00Z"),  # counts again (>0)
    )
    assert state.achievements["coffee"] == [7, 2]


# --- points and the ledger -----------------------------------------------------------------

LEDGER = """
statuses:
  - {handle: influencer, name: Influencer, rank: 3, modifiers: {tier_points_multiplier: 2}}
  - {handle: vip, name: VIP, rank: 2, modifiers: {reward_points_multiplier: 1.5}}
points:
  - {handle: action, name: Action points}
reactions:
  - id: earn
    on: [transaction.created]
    when: {">=": [{"var": "transaction.total"}, 0]}
    actions:
      - {type: points.award, kind: tier, points: {"var": "transaction.total"}}
      - {type: points.award, kind: reward, points: {"*": [{"var": "transaction.total"}, 10]}}
      - {type: points.award, kind: action, points: 5}
  - id: refund
    on: [transaction.created]
    when: {"<": [{"var": "transaction.total"}, 0]}
    actions: [{type: points.reverse}]
"""


def test_every_points_action_carries_its_kinds_balance_and_declared_kinds_have_no_multiplier(cfg):
    config = cfg(LEDGER)
    influencer_vip = [{"handle": "influencer", "expires_at": None}, {"handle": "vip", "expires_at": None}]
    state, actions, _ = run(
        config,
        profile_updated(statuses=influencer_vip, at="2026-01-01T00:00:00Z"),
        transaction(100, at="2026-01-02T00:00:00Z"),
        transaction(50, at="2026-01-03T00:00:00Z"),
    )
    assert [(a["kind"], a["points"], a["modifiers"], a["balance"]) for a in actions] == [
        ("tier", 200, ["influencer"], 200),  # 100 x 2
        ("reward", 1500, ["vip"], 1500),  # 1,000 x 1.5
        ("action", 5, [], 5),  # declared kinds: no multiplier
        ("tier", 100, ["influencer"], 300),
        ("reward", 750, ["vip"], 2250),
        ("action", 5, [], 10),
    ]
    context = build_context(state, decode_event(profile_updated(at="2026-01-04T00:00:00Z")), config)
    assert context["points"] == {"tier": 300, "reward": 2250, "action": 10}
    assert context["point_balance"] == 2250  # the reward balance


def test_a_refund_takes_back_what_the_purchase_earned_at_the_multiplier_of_then(cfg):
    config = cfg(LEDGER)
    influencer = [{"handle": "influencer", "expires_at": "2026-02-01T00:00:00Z"}]
    state, actions, outcomes = run(
        config,
        profile_updated(statuses=influencer, at="2026-01-01T00:00:00Z"),
        transaction(200, txn_id="t-1", at="2026-01-10T00:00:00Z"),  # 400 tier (2x), 2,000 reward, 5 action
        # After the status ended (1 Feb), a quarter is refunded: a quarter of
        # what it earned comes back, 100 tier (not 50 at today's 1x).
        transaction(-50, txn_id="t-r1", original_id="t-1", at="2026-03-01T00:00:00Z"),
    )
    back = [
        (a["kind"], a["points"], a["modifiers"], a["reverses"], a["balance"])
        for a in actions
        if "reverses" in a
    ]
    assert back == [
        ("action", -1, [], "t-1", 4),  # 5 x 1/4 = 1.25 -> 1
        ("reward", -500, [], "t-1", 1500),
        ("tier", -100, ["influencer"], "t-1", 300),
    ]
    assert all(a["reaction_id"] == "refund" for a in actions if "reverses" in a)
    assert outcomes[-1].unmatched_reversals == 0
    # Two more refunds of 100 each: the second is capped at what is left.
    _, more, _ = run(
        config,
        transaction(-100, txn_id="t-r2", original_id="t-1", at="2026-03-02T00:00:00Z"),
        transaction(-100, txn_id="t-r3", original_id="t-1", at="2026-03-03T00:00:00Z"),
        state=state,
    )
    tier_back = [a["points"] for a in more if a.get("reverses") and a["kind"] == "tier"]
    assert tier_back == [-200, -100]  # half of 400, then only the 100 left (not 200)
    assert sum(a["points"] for a in actions + more if a.get("kind") == "tier") == 0


def test_a_refund_with_no_or_an_unknown_original_takes_back_nothing(cfg):
    config = cfg(LEDGER)
    _, actions, outcomes = run(
        config,
        transaction(100, txn_id="t-1", at="2026-01-01T00:00:00Z"),
        transaction(-100, txn_id="t-r1", at="2026-01-02T00:00:00Z"),  # no original_id
        transaction(-100, txn_id="t-r2", original_id="t-404", at="2026-01-03T00:00:00Z"),
        transaction(-100, txn_id="t-r3", original_id="t-1", system="shopify", at="2026-01-04T00:00:00Z"),
    )
    assert [a for a in actions if "reverses" in a] == []
    assert [o.unmatched_reversals for o in outcomes] == [0, 1, 1, 1]  # the last: another system


def test_an_original_older_than_the_365_days_kept_is_not_matched(cfg):
    config = cfg(LEDGER)
    _, actions, outcomes = run(
        config,
        transaction(100, txn_id="t-1", at="2025-01-01T00:00:00Z"),
        transaction(-100, txn_id="t-r", original_id="t-1", at="2026-01-01T00:00:00Z"),
    )
    assert outcomes[-1].unmatched_reversals == 1 and not [a for a in actions if "reverses" in a]


# --- reactions on reactor's own events -----------------------------------------------------

OWN_EVENTS = """
statuses:
  - {handle: trial, name: Trial, rank: 1, default_duration: 1d}
achievements:
  - {handle: visits, name: Visits, levels: [1, 2]}
reactions:
  - id: start
    on: [profile.updated]
    actions:
      - {type: status.apply, status: trial}
      - {type: achievement.progress, achievement: visits}
      - {type: reward.create, amount: 5, currency: AUD, valid_for: 2d}
  - {id: on-applied, on: [status.applied], actions: [{type: tag.add, tag: "applied"}]}
  - {id: on-removed, on: [status.removed], when: {"==": [{"var": "trigger.reason"}, "expired"]}, actions: [{type: tag.add, tag: "removed"}]}
  - {id: on-level, on: [achievement.level], actions: [{type: tag.add, tag: "level"}]}
  - {id: on-expired, on: [reward.expired], actions: [{type: tag.add, tag: "reward-gone"}]}
"""


def test_each_of_reactors_own_events_triggers_reactions_in_the_order_raised(cfg):
    config = cfg(OWN_EVENTS)
    state, actions, _ = run(config, profile_updated(id="e1", at="2026-01-01T00:00:00Z"))
    kinds = [(a["reaction_id"], a["type"], a.get("tag"), a["event_id"]) for a in actions]
    assert kinds == [
        ("start", "status.apply", None, "e1"),
        ("start", "achievement.progress", None, "e1"),
        ("start", "achievement.level", None, "e1"),
        ("start", "reward.create", None, "e1"),
        # After the chain, in the order raised: status.applied, then achievement.level.
        ("on-applied", "tag.add", "applied", "e1/status.applied/1"),
        ("on-level", "tag.add", "level", "e1/achievement.level/2"),
    ]
    # A day later the trial expires (status.removed, reason expired); a day
    # after that the reward expires with all of it left (reward.expired).
    later = run_due(state, config, "2026-01-04T00:00:00Z")
    got = [(a.type, a.fields.get("tag"), a.event_id, a.at) for a in later.actions]
    reward_id = actions[3]["id"]
    assert got == [
        ("status.remove", None, None, "2026-01-02T00:00:00Z"),
        ("tag.add", "removed", "expire@2026-01-02T00:00:00Z/status.removed/1", "2026-01-02T00:00:00Z"),
        ("reward.expire", None, None, "2026-01-03T00:00:00Z"),
        ("tag.add", "reward-gone", "expire@2026-01-03T00:00:00Z/reward.expired/1", "2026-01-03T00:00:00Z"),
    ]
    assert later.actions[2].fields == {"reward": reward_id, "remaining": 5.0}


def test_the_trigger_of_a_tier_change_and_a_gold_welcome(cfg):
    config = cfg(
        TIERS,
        POINTS,
        """
    reactions:
      - id: gold-welcome
        on: [tier.changed]
        when: {"==": [{"var": "trigger.tier"}, "gold"]}
        actions: [{type: tag.add, tag: welcomed-gold}]
      - id: see-trigger
        on: [tier.changed]
        actions: [{type: points.award, kind: reward, points: {"if": [{"==": [{"var": "trigger.previous"}, "member"]}, 1, 0]}}]
    """,
    )
    _, actions, _ = run(config, transaction(1000, id="buy", at="2026-01-01T00:00:00Z"))
    # Joined (tier.changed 1, previous null): see-trigger gives 0 points, so no action.
    # Then gold (tier.changed 2): both listen; same priority, so by id.
    assert [(a["reaction_id"], a["type"], a["event_id"]) for a in actions if a["reaction_id"]] == [
        ("points", "points.award", "buy"),
        ("gold-welcome", "tag.add", "buy/tier.changed/2"),
        ("see-trigger", "points.award", "buy/tier.changed/2"),
    ]


def test_a_cascade_deeper_than_8_stops_and_is_reported(cfg):
    config = cfg("""
    statuses:
      - {handle: a, name: A, rank: 1}
      - {handle: b, name: B, rank: 2}
    reactions:
      - {id: start, on: [profile.updated], actions: [{type: status.apply, status: a}]}
      # Each applies the other and removes itself: a ping-pong that never ends on its own.
      - {id: ping, on: [status.applied], when: {"==": [{"var": "trigger.status"}, "a"]}, actions: [{type: status.remove, status: a}, {type: status.apply, status: b}]}
      - {id: pong, on: [status.applied], when: {"==": [{"var": "trigger.status"}, "b"]}, actions: [{type: status.remove, status: b}, {type: status.apply, status: a}]}
    """)
    _, actions, outcomes = run(config, profile_updated(id="e1"))
    (failure,) = outcomes[0].failures
    assert failure.code == "cascade_depth" and failure.reaction_id in ("ping", "pong")
    # start (depth 0), then 8 levels of ping/pong, each applying one status.
    applies = [a for a in actions if a["type"] == "status.apply"]
    assert len(applies) == 1 + 8
    depths = [a["event_id"].count("/status.applied/") for a in applies]
    assert depths == list(range(9))


def test_derived_event_ids_do_not_depend_on_who_listens(cfg):
    base = """
    statuses:
      - {handle: s, name: S, rank: 1}
    achievements:
      - {handle: v, name: V, levels: [1]}
    reactions:
      - {id: start, on: [profile.updated], actions: [{type: status.apply, status: s}, {type: achievement.progress, achievement: v}]}
    """
    listening = cfg(
        base, "reactions:\n  - {id: lvl, on: [achievement.level], actions: [{type: tag.add, tag: x}]}\n"
    )
    both = cfg(
        base,
        "reactions:\n  - {id: lvl, on: [achievement.level], actions: [{type: tag.add, tag: x}]}\n  - {id: app, on: [status.applied], actions: [{type: tag.add, tag: y}]}\n",
    )
    one = [a for a in run(listening, profile_updated(id="e1"))[1] if a["reaction_id"] == "lvl"]
    two = [a for a in run(both, profile_updated(id="e1"))[1] if a["reaction_id"] == "lvl"]
    assert one[0]["event_id"] == two[0]["event_id"] == "e1/achievement.level/2"
    assert one[0]["id"] == two[0]["id"]


# --- today and birthdays ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("today", "birthday", "days"),
    [
        (date(2026, 4, 2), "1990-04-02", 0),  # on the day
        (date(2026, 4, 3), "1990-04-02", 364),  # the day after: next year (2027 has 365 days)
        (date(2026, 12, 31), "1990-01-01", 1),  # across the year end
        (date(2027, 2, 1), "1992-02-29", 27),  # 29 February counts as 28 February in 2027
        (date(2028, 2, 1), "1992-02-29", 28),  # 2028 is a leap year: 29 February itself
        (date(2027, 2, 28), "1992-02-29", 0),
        (date(2027, 3, 1), "1992-02-29", 365),  # next: 29 Feb 2028, 365 days on
        (date(2026, 5, 1), None, None),
        (date(2026, 5, 1), "not a date", None),
    ],
)
def test_days_until_birthday(today, birthday, days):
    assert days_until_birthday(today, birthday) == days


def test_today_is_the_programmes_local_date():
    # 14:30 UTC on 1 March is 01:30 on 2 March in Sydney (UTC+11 in daylight saving time).
    assert local_date("2026-03-01T14:30:00Z", "Australia/Sydney") == date(2026, 3, 2)
    assert local_date("2026-03-01T14:30:00Z", "UTC") == date(2026, 3, 1)


def test_today_and_days_until_birthday_in_the_context(cfg):
    config = cfg("programme: {timezone: Australia/Sydney}\n")
    state, _, _ = run(config, profile_updated(birthday="1990-03-05", at="2026-03-01T14:30:00Z"))
    context = build_context(
        state, decode_event(event("profile.updated", at="2026-03-01T14:30:00Z", profile={})), config
    )
    assert context["today"] == "2026-03-02" and context["days_until_birthday"] == 3


def test_rewards_in_the_context_nearest_expiry_first(cfg):
    config = cfg("""
    reactions:
      - id: two
        on: [profile.updated]
        actions:
          - {type: reward.create, amount: 10, currency: AUD, valid_for: 30d}
          - {type: reward.create, amount: 5, currency: AUD, valid_for: 7d}
    """)
    state, actions, _ = run(config, profile_updated(at="2026-01-01T00:00:00Z"))
    context = build_context(state, decode_event(profile_updated(at="2026-01-02T00:00:00Z")), config)
    assert [(r["id"], r["amount"], r["remaining"], r["expires_at"]) for r in context["rewards"]] == [
        (actions[1]["id"], 5.0, 5.0, "2026-01-08T00:00:00Z"),
        (actions[0]["id"], 10.0, 10.0, "2026-01-31T00:00:00Z"),
    ]
    assert context["reward_balance"] == 15.0
