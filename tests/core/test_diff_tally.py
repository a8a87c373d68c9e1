"""The tally behind `diff` and the report: what a stream of actions adds up
to. Synthetic streams of the actions CONTRACT §4, §7 and §8 define, values by
hand; and the bundled story, whose liability must equal what the engine's own
states hold."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from reactor.actions import Action
from reactor.config import load_config
from reactor.replay import Replay, read_lines
from reactor.report.tally import Tally
from support import REPO

EXAMPLES = REPO / "examples" / "events.jsonl"


def act(
    type_: str,
    at: str,
    profile: str = "p-1",
    reaction: str | None = None,
    id: str | None = None,
    event: str | None = "e-1",
    **fields: Any,
) -> Action:
    act.n += 1  # type: ignore[attr-defined]
    return Action(id or f"act-{act.n}", type_, profile, reaction, event, at, "v1", fields)  # type: ignore[attr-defined]


act.n = 0  # type: ignore[attr-defined]


def create(
    reward_id: str,
    at: str,
    amount: float,
    expires_at: str | None,
    currency: str = "AUD",
    profile: str = "p-1",
) -> Action:
    return act(
        "reward.create",
        at,
        profile,
        "r",
        id=reward_id,
        amount=amount,
        currency=currency,
        expires_at=expires_at,
        modifiers=[],
    )


def feed(*actions: Action, clock: str | None = None) -> Tally:
    tally = Tally()
    for action in actions:
        tally.add(action)
    tally.close(clock or actions[-1].at)
    return tally


def test_liability_follows_issue_redemption_and_expiry():
    tally = feed(
        create("A", "2026-01-01T10:00:00Z", 20, "2026-01-10T10:00:00Z"),
        create("B", "2026-01-02T10:00:00Z", 15.5, None),
        # 5 from A (nearest expiry first), then A's 15 left expires on the 10th.
        act(
            "reward.redeem",
            "2026-01-03T10:00:00Z",
            redemption_id="x",
            amount=5,
            consumed=[{"reward": "A", "amount": 5}],
        ),
        # Redeemed past B's balance? Never: the engine rejects that; 10.25 of B here.
        act(
            "reward.redeem",
            "2026-01-12T09:00:00Z",
            redemption_id="y",
            amount=10.25,
            consumed=[{"reward": "B", "amount": 10.25}],
        ),
        clock="2026-01-20T00:00:00Z",
    )
    assert tally.liability == {
        "AUD": [
            ("2026-01-01", 2000),
            ("2026-01-02", 3550),
            ("2026-01-03", 3050),
            ("2026-01-10", 1550),  # A's 15.00 left at its expiry
            ("2026-01-12", 525),
        ]
    }
    totals = tally.rewards["AUD"].as_dict()
    assert totals == {
        "count": 2,
        "issued": 35.5,
        "redeemed": 15.25,
        "expired": 15.0,
        "forgotten": 0.0,
        "outstanding": 5.25,
    }


def test_a_reward_expire_action_settles_the_reward_once():
    # `reward.expire` comes at the expiry time: the tally has already let the
    # reward go there, so it is not taken away twice.
    tally = feed(
        create("A", "2026-01-01T00:00:00Z", 10, "2026-01-05T00:00:00Z"),
        act("reward.expire", "2026-01-05T00:00:00Z", reward="A", remaining=10),
        create("B", "2026-01-06T00:00:00Z", 7, "2026-02-01T00:00:00Z"),
    )
    assert tally.liability["AUD"] == [("2026-01-01", 1000), ("2026-01-05", 0), ("2026-01-06", 700)]
    assert tally.rewards["AUD"].expired == 1000


def test_a_reward_counts_while_unexpired_only():
    # Unexpired means expires_at > now (as the state counts reward_balance): a
    # redemption at the very expiry instant finds nothing of it left.
    tally = feed(
        create("A", "2026-01-01T00:00:00Z", 10, "2026-01-05T00:00:00Z"),
        act(
            "reward.redeem",
            "2026-01-05T00:00:00Z",
            redemption_id="x",
            amount=3,
            consumed=[{"reward": "A", "amount": 3}],
        ),
    )
    assert tally.rewards["AUD"].redeemed == 0
    assert tally.rewards["AUD"].expired == 1000


def test_currencies_apart_and_purged_profiles_leave_the_liability():
    tally = feed(
        create("A", "2026-03-01T00:00:00Z", 10, None, currency="AUD", profile="p-1"),
        create("B", "2026-03-01T01:00:00Z", 4, None, currency="NZD", profile="p-1"),
        create("C", "2026-03-02T00:00:00Z", 6, None, currency="AUD", profile="p-2"),
        act("profile.forget", "2026-03-03T00:00:00Z", profile="p-1"),
    )
    assert tally.liability == {
        "AUD": [("2026-03-01", 1000), ("2026-03-02", 1600), ("2026-03-03", 600)],
        "NZD": [("2026-03-01", 400), ("2026-03-03", 0)],
    }
    assert tally.liability_at_end() == {"AUD": 6.0, "NZD": 0.0}
    assert tally.rewards["AUD"].forgotten == 1000


def test_expiries_after_the_last_action_run_at_the_end_clock():
    tally = feed(
        create("A", "2026-01-01T00:00:00Z", 10, "2026-01-03T00:00:00Z"), clock="2026-02-01T00:00:00Z"
    )
    assert tally.liability["AUD"] == [("2026-01-01", 1000), ("2026-01-03", 0)]
    assert (tally.first_day, tally.last_day) == ("2026-01-01", "2026-02-01")
    early = feed(
        create("A", "2026-01-01T00:00:00Z", 10, "2026-01-03T00:00:00Z"), clock="2026-01-02T00:00:00Z"
    )
    assert early.liability["AUD"] == [("2026-01-01", 1000)]
    assert early.liability_at_end() == {"AUD": 10.0}


def test_points_by_kind_are_net():
    tally = feed(
        act("points.award", "2026-01-01T00:00:00Z", kind="tier", points=130, modifiers=[]),
        act("points.award", "2026-01-01T00:00:00Z", kind="reward", points=1300, modifiers=[]),
        act("points.award", "2026-01-02T00:00:00Z", kind="tier", points=-30, modifiers=[]),  # a refund
        act(
            "points.award", "2026-01-03T00:00:00Z", kind="reward", points=-500, redemption_id="r", balance=800
        ),
        act("points.award", "2026-01-03T00:00:00Z", kind="action", points=7, modifiers=[]),
    )
    assert tally.points == {"tier": 100, "reward": 800, "action": 7}


def test_fires_are_runs_of_one_reaction_event_and_profile():
    day1, day2 = "2026-01-01T10:00:00Z", "2026-01-02T10:00:00Z"
    tally = feed(
        # r1 runs on e-1 for p-1: three actions, one fire.
        act("status.apply", day1, "p-1", "r1", event="e-1", status="vip", expires_at=None),
        act("benefit.create", day1, "p-1", "r1", event="e-1", benefit="b"),
        act("target.send", day1, "p-1", "r1", event="e-1", target="t", payload={}),
        # r2 on the same event; then r1 again on another profile's tick.
        act("tag.add", day1, "p-1", "r2", event="e-1", tag="x"),
        act("tag.add", day1, "p-2", "r1", event="auto@t", tag="x"),
        # An expiry (no reaction) between two runs of r1 for p-2 on the same tick id.
        act("status.remove", day2, "p-2", None, event=None, status="vip", reason="expired"),
        act("tag.add", day2, "p-2", "r1", event="e-9", tag="y"),
    )
    assert tally.fires == {"r1": {"2026-01-01": 2, "2026-01-02": 1}, "r2": {"2026-01-01": 1}}
    assert tally.types_by_day["tag.add"] == {"2026-01-01": 2, "2026-01-02": 1}
    assert tally.by_type == {
        "status.apply": 1,
        "benefit.create": 1,
        "target.send": 1,
        "tag.add": 3,
        "status.remove": 1,
    }
    assert tally.profiles == {"p-1", "p-2"}


@pytest.mark.parametrize(
    ("until", "ways"),
    [
        # p-006 has redeemed 15.00 of a 20.00 reward that expires on 30 September
        ("2026-08-01T00:00:00Z", {"reward.create", "reward.redeem"}),
        ("2027-03-01T00:00:00Z", {"reward.create", "reward.redeem", "reward.expire"}),
    ],
)
def test_the_liability_of_the_bundled_story_is_what_the_states_hold(until: str, ways: set[str]):
    # The tally knows rewards only from the actions (create, redeem, expire,
    # forget); the engine keeps each profile's rewards and what remains of
    # them. The story's events up to `until`, replayed to it: the two must
    # agree to the cent, per currency.
    tally, kinds = Tally(), set()

    def on_action(action: Action) -> None:
        tally.add(action)
        kinds.add(action.type)

    runner = Replay(load_config(REPO), on_action, lambda r: None, "examples/events.jsonl")
    with EXAMPLES.open("rb") as stream:
        runner.feed_lines(
            (n, raw) for n, raw in read_lines(stream) if orjson.loads(raw)["occurred_at"] <= until
        )
    runner.finish(until)
    tally.close(runner.clock)
    held: dict[str, int] = {}
    for state in runner.states.values():
        for _, _, remaining, currency, _, expires_at in state.rewards:
            assert expires_at is None or expires_at > until  # an expired one was let go
            held[currency] = held.get(currency, 0) + round(remaining * 100)
    assert ways <= kinds
    assert held  # some rewards are still held at the end
    assert {c: t.outstanding for c, t in tally.rewards.items() if t.outstanding} == held
