"""Redemptions from upstream (CONTRACT §8): rewards redeemed nearest expiry
first, points redeemed, benefits claimed, and their rejects. Expected values
worked out by hand."""

from __future__ import annotations

from pathlib import Path

import pytest

from reactor.config import load_config
from reactor.context import build_context
from reactor.engine import process, run_due
from reactor.events import decode_event
from support import event, profile_updated, run, write_config

RULES = """
points:
  - {handle: action, name: Action points}
benefits:
  - {handle: gift, name: Gift, kind: free_product, valid_for: 30d}
reactions:
  - id: stock-up
    on: [profile.updated]
    actions:
      - {type: reward.create, amount: 10, currency: AUD, valid_for: 30d}
      - {type: reward.create, amount: 5, currency: AUD, valid_for: 14d}
      - {type: reward.create, amount: 20, currency: AUD, valid_for: 58d}
      - {type: points.award, kind: reward, points: 100}
      - {type: points.award, kind: action, points: 7}
      - {type: benefit.create, benefit: gift}
  - id: thanks
    on: [reward.redeemed]
    actions: [{type: points.award, kind: action, points: {"var": "reward_balance"}}]
reminders:
  - {id: use-it, of: reward.expires_at, before: 3d, actions: [{type: tag.add, tag: use-it}]}
"""


@pytest.fixture
def config(tmp_path: Path):
    return load_config(write_config(tmp_path / "cfg", {"reactions/r.yaml": RULES}))


def redeemed(event_type: str, at: str = "2026-01-05T00:00:00Z", id: str | None = None, **data) -> bytes:
    return event(event_type, "p-1", at, id, **data)


@pytest.fixture
def stocked(config):
    state, actions, _ = run(config, profile_updated(at="2026-01-01T00:00:00Z"))
    rewards = {a["amount"]: a["id"] for a in actions if a["type"] == "reward.create"}
    return state, rewards, actions


def test_a_redemption_consumes_rewards_nearest_expiry_first_partly_if_need_be(config, stocked):
    state, rewards, _ = stocked
    after, actions, _ = run(
        config, redeemed("reward.redeemed", id="red-1", redemption_id="r-1", amount=18), state=state
    )
    (redeem, thanks) = actions
    # 5 (expires 15 Jan), then 10 (31 Jan), then 3 of the 20 (28 Feb).
    assert (redeem["type"], redeem["reaction_id"], redeem["event_id"]) == ("reward.redeem", None, "red-1")
    assert redeem["amount"] == 18 and redeem["redemption_id"] == "r-1"
    assert redeem["consumed"] == [
        {"reward": rewards[5.0], "amount": 5.0},
        {"reward": rewards[10.0], "amount": 10.0},
        {"reward": rewards[20.0], "amount": 3.0},
    ]
    # A reaction on the redemption sees the balance after it: 35 - 18 = 17.
    assert (thanks["reaction_id"], thanks["points"]) == ("thanks", 17)
    context = build_context(after, decode_event(profile_updated(at="2026-01-06T00:00:00Z")), config)
    assert context["reward_balance"] == 17.0
    assert [(r["id"], r["remaining"]) for r in context["rewards"]] == [(rewards[20.0], 17.0)]


@pytest.mark.parametrize(
    ("data", "code"),
    [
        ({"redemption_id": "r-1", "amount": 36}, "insufficient_balance"),  # 35 held
        ({"redemption_id": "r-1", "amount": 5, "currency": "USD"}, "insufficient_balance"),  # none in USD
    ],
)
def test_a_redemption_of_more_than_is_held_is_rejected_and_changes_nothing(config, stocked, data, code):
    state, _, _ = stocked
    outcome = process(decode_event(redeemed("reward.redeemed", **data)), state, config)
    assert outcome.rejected["code"] == code and outcome.rejected["path"] == "data.amount"
    assert outcome.actions == () and outcome.state is state


def test_a_repeated_redemption_id_is_rejected_first(config, stocked):
    state, _, _ = stocked
    after, _, _ = run(config, redeemed("reward.redeemed", redemption_id="r-1", amount=1), state=state)
    # The repeat is checked before the balance: 500 would be too much too.
    again = process(decode_event(redeemed("reward.redeemed", redemption_id="r-1", amount=500)), after, config)
    assert again.rejected["code"] == "duplicate_redemption" and again.state is after


def test_points_redeemed_spend_a_kind(config, stocked):
    state, _, _ = stocked
    after, actions, _ = run(
        config,
        redeemed("points.redeemed", id="pr-1", redemption_id="p-r1", points=30),
        redeemed("points.redeemed", id="pr-2", redemption_id="p-r2", points=5, kind="action"),
        state=state,
    )
    assert [
        (a["type"], a["kind"], a["points"], a["redemption_id"], a["balance"], a["reaction_id"])
        for a in actions
    ] == [
        ("points.award", "reward", -30, "p-r1", 70, None),
        ("points.award", "action", -5, "p-r2", 2, None),
    ]
    too_much = process(
        decode_event(redeemed("points.redeemed", redemption_id="p-r3", points=71)), after, config
    )
    assert too_much.rejected["code"] == "insufficient_balance"
    tier = process(
        decode_event(redeemed("points.redeemed", redemption_id="p-r4", points=1, kind="tier")), after, config
    )
    assert tier.rejected["code"] == "invalid_value" and tier.rejected["path"] == "data.kind"


def test_a_claim_marks_the_instance_expiring_first(config):
    state, actions, _ = run(
        config,
        profile_updated(at="2026-01-01T00:00:00Z"),  # a gift expiring 31 January
        profile_updated(at="2026-01-10T00:00:00Z"),  # and another, 9 February
    )
    first, second = [a["id"] for a in actions if a["type"] == "benefit.create"]
    after, claims, _ = run(
        config,
        redeemed("benefit.claimed", id="c-1", claim_id="claim-1", benefit="gift", at="2026-01-12T00:00:00Z"),
        redeemed("benefit.claimed", id="c-2", claim_id="claim-2", benefit="gift", at="2026-01-13T00:00:00Z"),
        state=state,
    )
    assert [(a["type"], a["instance"], a["claim_id"]) for a in claims if a["type"] == "benefit.claim"] == [
        ("benefit.claim", first, "claim-1"),
        ("benefit.claim", second, "claim-2"),
    ]
    context = build_context(after, decode_event(profile_updated(at="2026-01-14T00:00:00Z")), config)
    assert [b["claimed_at"] for b in context["benefits"]] == ["2026-01-12T00:00:00Z", "2026-01-13T00:00:00Z"]
    none_left = process(
        decode_event(redeemed("benefit.claimed", claim_id="claim-3", benefit="gift")), after, config
    )
    assert none_left.rejected["code"] == "not_held"
    unknown = process(
        decode_event(redeemed("benefit.claimed", claim_id="claim-4", benefit="spa")), after, config
    )
    assert unknown.rejected["code"] == "not_held"


def test_a_reminder_whose_reward_is_redeemed_before_it_is_due_does_not_fire(config, stocked):
    state, rewards, _ = stocked
    # The 5 expires 15 January: its reminder is due 12 January. Redeemed on the 5th, it is gone.
    after, _, _ = run(config, redeemed("reward.redeemed", redemption_id="r-1", amount=5), state=state)
    due = run_due(after, config, "2026-01-29T00:00:00Z")
    reminded = [a.event_id for a in due.actions if a.type == "tag.add"]
    # Only the 10 (due 28 January) is reminded of; not the 5.
    assert reminded == [f"use-it@{rewards[10.0]}@2026-01-28T00:00:00Z"]
