"""`reactor diff` on the bundled story: the bundled configuration against a
changed copy (tests/diff_story.py), every figure worked out by hand from
examples/events.jsonl.

How the figures were worked out (with jq and a few lines of Python over the
events file, none of it reactor): the file has 246 lines for 40 profiles, 200
of them `transaction.created`, all in AUD. Two of those do not count: p-008's
evt-0028 is delivered twice (the second is a duplicate event), and p-011
re-sends transaction `pos/t-dup-1`. That leaves 198 transactions: 195
purchases and 3 refunds (p-009 -210, p-042 -150, p-043 -200). `spend_12m` at
each purchase is the running sum of the profile's totals (all within a
year; p-012 is deleted after its only purchase).

`spend-reward-12m` (`spend_12m >= threshold`, limit once per 365 days):

- at $1,000, profiles cross at p-006 evt-0019 (1,110), p-007 evt-0026 (1,150),
  p-015 evt-0063 (1,173), p-016 evt-0069 (1,218), p-023 evt-0127 (1,087.85),
  p-026 evt-0152 (1,016.95), p-030 evt-0183 (1,095.95), p-036 evt-0230
  (1,034.95), p-040 evt-0237 (1,060), p-041 evt-0239 (2,600); p-025 stops at
  999.80. Purchases at or over the threshold: p-006 4, p-007 1, p-015 1,
  p-016 3, p-023 2, p-026 1, p-030 1, p-036 4, p-040 1, p-041 1 = 19 matched,
  10 fired (one per profile), 9 limited.
- at $800: p-006 evt-0018 (800.00 exactly: `>=`), p-007 evt-0026, p-013
  evt-0046 (813), p-015 evt-0062 (863), p-016 evt-0068 (908), p-019 evt-0094
  (896.80), p-020 evt-0104 (847.70), p-023 evt-0126 (888.85), p-024 evt-0135
  (882.95), p-025 evt-0145 (999.80), p-026 evt-0151 (817.95; 798 before it),
  p-030 evt-0181 (886.95), p-032 evt-0199 (868.90), p-036 evt-0228 (895),
  p-040 evt-0236 (800 exactly), p-041 evt-0239. Purchases at or over:
  5+1+4+2+4+1+1+3+1+1+2+3+2+6+2+1 = 39 matched, 16 fired, 23 limited.

`big-basket-bonus` (total >= 300, no limit): p-006 5 (420, 380, 310, 690, 900),
p-007 2, p-012 1 (300 exactly), p-013 1, p-015 2, p-016 3, p-017 1, p-020 1,
p-023 2, p-024 1, p-025 1, p-026 2, p-030 1, p-032 2, p-040 2, p-041 1, p-042
1 (300) = 29 purchases, each fired: +29 points.award, +14,500 reward points (no
status multiplies reward points; p-042's refund of half its $300 takes back
half of what the purchase earned, the bonus included: -250 more).

`black-friday-shopper`: six purchases carry the `black-friday` tag, one for each
of p-008, p-020, p-023, p-025, p-027, p-036, none of whom held the tag: 6
matched, 6 fired, 6 tag.add gone.

`reward-expiring` (14 days before a reward's expiry, not for no-comms
profiles): a reminder comes due before the last event (2026-11-24T05:00:30Z)
for the new configuration's rewards of p-026 (due 11-14), p-030 (10-27) and
p-032 (10-29), which the base configuration rewards later or not at all; p-036's
would too, but p-036 is no-comms. So target.send: +6 reward mails, +3
reminders.

Which profiles get other actions: the reward moves to an earlier purchase for
p-006, p-015, p-016, p-023, p-026, p-030, p-036, p-040, and is new for p-013,
p-019, p-020, p-024, p-025, p-032. p-007 and p-041 fire on the same purchase
under both: the same action ids, the same payload, so only `config_version`
differs; they differ by their bonuses (and what reads the point balance: the
`balance` of later points.award, the tier-welcome payload). Bonus points add
p-007, p-012, p-017, p-041, p-042; the Black Friday tag p-008, p-027: 21
profiles. (p-043, with neither, does not differ.)
"""

from __future__ import annotations

from pathlib import Path

import pytest

from diff_story import changed_copy
from reactor.actions import Action
from reactor.config import Config, load_config
from reactor.diff import (
    MISSING,
    as_dict,
    comparable,
    definition_changes,
    profile_actions,
    run_diff,
)
from reactor.replay import Replay, read_lines
from support import REPO

EXAMPLES = REPO / "examples" / "events.jsonl"
#: After the last event, so that expiries and win-back ticks run on.
UNTIL = "2027-03-01T00:00:00Z"


@pytest.fixture(scope="module")
def configs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Config, Config]:
    return load_config(REPO), load_config(changed_copy(tmp_path_factory.mktemp("changed")))


def diff(configs: tuple[Config, Config], until: str | None = None, keep: int = 10):
    with EXAMPLES.open("rb") as stream:
        return run_diff(
            *configs, read_lines(stream), file_name="examples/events.jsonl", until=until, keep=keep
        )


@pytest.fixture(scope="module")
def report(configs):
    return as_dict(diff(configs))


def test_rules_added_removed_and_changed_with_what_changed(report):
    rules = report["rules"]
    assert rules["added"] == [{"id": "big-basket-bonus", "kind": "reaction"}]
    assert rules["removed"] == [{"id": "black-friday-shopper", "kind": "reaction"}]
    assert rules["changed"] == [
        {
            "id": "spend-reward-12m",
            "kind": "reaction",
            "changes": [
                {
                    "path": "name",
                    "base": "$20 reward when 12-month spend reaches $1,000",
                    "new": "$20 reward when 12-month spend reaches $800",
                },
                {"path": "when.>=[1]", "base": 1000, "new": 800},
            ],
        }
    ]
    assert report["configuration"] == {"added": [], "removed": [], "changed": []}


def test_per_reaction_counts_under_each(report):
    reactions = report["reactions"]
    assert reactions["spend-reward-12m"] == {
        "kind": "reaction",
        "status": "changed",
        "base": {"matched": 19, "fired": 10, "limited": 9, "failed": 0},
        "new": {"matched": 39, "fired": 16, "limited": 23, "failed": 0},
        "differs": True,
    }
    assert reactions["big-basket-bonus"] == {
        "kind": "reaction",
        "status": "added",
        "base": None,
        "new": {"matched": 29, "fired": 29, "limited": 0, "failed": 0},
        "differs": True,
    }
    assert reactions["black-friday-shopper"] == {
        "kind": "reaction",
        "status": "removed",
        "base": {"matched": 6, "fired": 6, "limited": 0, "failed": 0},
        "new": None,
        "differs": True,
    }
    # Untouched rules count the same under both. Two checked by hand: points on
    # each of the 195 purchases; the win-back automation, from the Monday 09:00
    # Sydney ticks (22:00 or 23:00 UTC on Sunday) between the first and the
    # last event, at which a profile's last purchase is over 90 days old and it
    # has no no-comms tag: 95 of them, p-010 twice 91+ days apart, p-004,
    # p-005, p-007, p-009, p-011, p-035, p-041, p-042 and p-043 once: 11 fired,
    # 84 limited.
    assert reactions["points-on-transaction"]["base"] == {
        "matched": 195,
        "fired": 195,
        "limited": 0,
        "failed": 0,
    }
    assert reactions["win-back"]["kind"] == "automation"
    assert reactions["win-back"]["base"] == {"matched": 95, "fired": 11, "limited": 84, "failed": 0}
    assert reactions["reward-expiring"]["kind"] == "reminder"
    assert reactions["reward-expiring"]["new"]["fired"] - reactions["reward-expiring"]["base"]["fired"] == 3
    changed = {"big-basket-bonus", "black-friday-shopper", "spend-reward-12m", "reward-expiring"}
    same = {k for k, v in reactions.items() if v["status"] == "same"} - changed
    assert {k for k, v in reactions.items() if v["differs"]} == changed
    for rule_id in same:
        assert reactions[rule_id]["base"] == reactions[rule_id]["new"], rule_id
        assert reactions[rule_id]["differs"] is False


def test_per_action_type_points_and_rewards(report):
    by_type = report["actions_by_type"]
    deltas = {t: v["new"] - v["base"] for t, v in by_type.items()}
    # reward.expire: three more $20 rewards run out before the end (p-030,
    # p-032 and p-040's, issued earlier), as the rewards below say.
    assert {t: d for t, d in deltas.items() if d} == {
        "points.award": 29,
        "reward.create": 6,
        "reward.expire": 3,
        "target.send": 9,
        "tag.add": -6,
    }
    points = report["points_by_kind"]
    assert points["reward"]["new"] - points["reward"]["base"] == 14_500 - 250
    assert points["tier"]["new"] == points["tier"]["base"]
    # Rewards: $20 for each spend reward, $10 for each of the 11 win-backs, all
    # AUD, 90 and 30 days; p-007 holds VIP from its snapshot, p-041 from its
    # $2,600 purchase (after its reward): +30 days. At the last event
    # (2026-11-24T05:00:30Z) these are left: base, the spend rewards of p-015,
    # p-023, p-026, p-030, p-036, p-040 (90 days not over) and the win-backs of
    # p-005, p-007 (60 days), p-010's second: 120 + 30; new, those of p-013,
    # p-015, p-019, p-020, p-023, p-024, p-025, p-026, p-036 and the same
    # win-backs: 180 + 30. Nothing is purged with a reward left. p-006 redeems
    # $15 on 20 July of the reward nearest expiry: under both, his first spend
    # reward (2 July at $1,000, or 11 June at $800), which then expires with $5.
    aud = report["rewards"]["AUD"]
    assert aud["base"] == {
        "count": 21,
        "issued": 310.0,
        "redeemed": 15.0,
        "expired": 145.0,
        "forgotten": 0.0,
        "outstanding": 150.0,
    }
    assert aud["new"] == {
        "count": 27,
        "issued": 430.0,
        "redeemed": 15.0,
        "expired": 205.0,
        "forgotten": 0.0,
        "outstanding": 210.0,
    }
    assert report["targets"]["comms-reward-issued"] == {
        "base": {"sent": 10, "limited": 0},
        "new": {"sent": 16, "limited": 0},
    }


def brief(actions: list[dict]) -> list[tuple[str, str, str]]:
    return sorted((a["type"], a["reaction_id"] or "", a["event_id"] or "") for a in actions)


def test_profiles_whose_actions_differ(report):
    profiles = report["profiles"]
    assert profiles["differ"] == 21
    assert profiles["with_actions"] == 40
    first = {p["profile_id"]: p for p in profiles["first"]}
    assert list(first) == [
        "p-006",
        "p-007",
        "p-008",
        "p-012",
        "p-013",
        "p-015",
        "p-016",
        "p-017",
        "p-019",
        "p-020",
    ]
    reward, send, bonus, points = "reward.create", "target.send", "points.award", "points-on-transaction"
    added, removed = brief(first["p-006"]["added"]), brief(first["p-006"]["removed"])
    assert {(bonus, "big-basket-bonus", f"evt-00{n}") for n in (17, 18, 19, 20, 21)} <= set(added)
    assert {(reward, "spend-reward-12m", "evt-0018"), (send, "spend-reward-12m", "evt-0018")} <= set(added)
    assert {(reward, "spend-reward-12m", "evt-0019"), (send, "spend-reward-12m", "evt-0019")} <= set(removed)
    # Its reward's reminder moves with it: due 14 days before 2026-09-09 instead of 2026-09-30.
    reminders = {
        a["event_id"].rsplit("@", 1)[1]
        for a in first["p-006"]["added"]
        if a["reaction_id"] == "reward-expiring"
    }
    assert reminders == {"2026-08-26T13:07:30Z"}
    # p-007: the same reward on evt-0026 under both is no difference. Its
    # bonuses (650 on evt-0025, 500 on evt-0026) raise the reward points that
    # what comes after reports: evt-0026's points.award balance (6,500 + 5,000
    # = 11,500 before, 12,000 now), and the Gold welcome's reward_points
    # (11,500, now 12,500: both bonuses).
    assert brief(first["p-007"]["added"]) == sorted(
        [
            (bonus, "big-basket-bonus", "evt-0025"),
            (bonus, "big-basket-bonus", "evt-0026"),
            (bonus, points, "evt-0026"),
            (send, "tier-welcome", "evt-0026/tier.changed/1"),
        ]
    )
    assert brief(first["p-007"]["removed"]) == sorted(
        [(bonus, points, "evt-0026"), (send, "tier-welcome", "evt-0026/tier.changed/1")]
    )
    welcome = {
        side: next(a for a in first["p-007"][side] if a["type"] == send) for side in ("added", "removed")
    }
    assert welcome["added"]["id"] == welcome["removed"]["id"]
    assert (
        welcome["removed"]["payload"]["data"]["reward_points"],
        welcome["added"]["payload"]["data"]["reward_points"],
    ) == (11_500, 12_500)
    assert first["p-008"]["added"] == []
    assert brief(first["p-008"]["removed"]) == [("tag.add", "black-friday-shopper", "evt-0028")]
    assert (
        brief(first["p-012"]["added"]) == [(bonus, "big-basket-bonus", "evt-0038")]
        and first["p-012"]["removed"] == []
    )
    assert {
        (bonus, "big-basket-bonus", "evt-0096"),
        (reward, "spend-reward-12m", "evt-0104"),
        (send, "spend-reward-12m", "evt-0104"),
    } <= set(brief(first["p-020"]["added"]))
    assert ("tag.add", "black-friday-shopper", "evt-0104") in brief(first["p-020"]["removed"])
    for entry in first.values():  # each action appears as the replay of its side printed it
        for action in entry["added"] + entry["removed"]:
            assert action["profile_id"] == entry["profile_id"]


def replay_all(config: Config, until: str | None) -> list[Action]:
    actions: list[Action] = []
    runner = Replay(config, actions.append, lambda r: None, "examples/events.jsonl")
    with EXAMPLES.open("rb") as stream:
        runner.feed_lines(read_lines(stream))
    runner.finish(until)
    return actions


def multiset_minus(these: list[Action], those: list[Action]) -> list[tuple]:
    left = [comparable(a) for a in those]
    out = []
    for action in these:
        key = comparable(action)
        if key in left:
            left.remove(key)
        else:
            out.append(key)
    return sorted(out)


def test_the_lockstep_comparison_equals_comparing_two_whole_replays(configs):
    # The straightforward way, with everything in memory: replay twice, compare
    # the outputs as multisets. The lockstep run must find the same, action for
    # action, also with time-driven work after the last event.
    result = diff(configs, until=UNTIL, keep=1000)
    base, new = replay_all(configs[0], UNTIL), replay_all(configs[1], UNTIL)
    added = sorted(comparable(a) for p in result.profiles for a in p.added)
    removed = sorted(comparable(a) for p in result.profiles for a in p.removed)
    assert added == multiset_minus(new, base)
    assert removed == multiset_minus(base, new)
    assert result.differing == len({key[2] for key in added + removed}) == len(result.profiles)
    assert result.base.summary == replay_summary(configs[0], UNTIL)


def replay_summary(config: Config, until: str | None) -> dict:
    runner = Replay(config, lambda a: None, lambda r: None, "examples/events.jsonl")
    with EXAMPLES.open("rb") as stream:
        runner.feed_lines(read_lines(stream))
    runner.finish(until)
    return runner.summary()


def test_a_profile_replayed_alone_gets_the_actions_of_the_full_replay(configs):
    # The HTML lists each differing profile's actions from a replay of its own
    # lines: for every profile and both configurations, they are those of the
    # full replay, win-back ticks and expiries after the last event included.
    for config in configs:
        full = replay_all(config, UNTIL)
        profiles = sorted({a.profile_id for a in full})
        with EXAMPLES.open("rb") as stream:
            alone = profile_actions(config, read_lines(stream), profiles, UNTIL)
        for profile_id in profiles:
            assert alone[profile_id] == [a for a in full if a.profile_id == profile_id], profile_id


def test_the_same_configuration_differs_in_nothing(configs, tmp_path: Path):
    copy = load_config(changed_copy(tmp_path / "again"))
    result = as_dict(diff((configs[1], copy)))
    assert result["profiles"] == {"differ": 0, "with_actions": 40, "first": []}
    assert result["rules"] == {"added": [], "removed": [], "changed": []}
    assert not any(row["differs"] for row in result["reactions"].values())


def test_fires_over_time_add_up_to_the_fired_counts(configs):
    # The charts' fires per day are counted from the actions (one fire = the
    # consecutive actions of one reaction, event and profile); they must add up
    # to the replay's own `fired`, which counts the engine's verdicts.
    result = diff(configs, until=UNTIL)
    for side in (result.base, result.new):
        fired = {r: c["fired"] for r, c in side.summary["reactions"].items() if c["fired"]}
        assert {r: sum(days.values()) for r, days in side.tally.fires.items()} == fired


@pytest.mark.parametrize(
    ("base", "new", "expected"),
    [
        ({"a": 1}, {"a": 1}, []),
        ({"a": 1}, {"a": 2}, [("a", 1, 2)]),
        ({"a": 1}, {}, [("a", 1, MISSING)]),
        ({}, {"limit": {"per_profile": 1}}, [("limit", MISSING, {"per_profile": 1})]),
        (
            {"limit": {"per_profile": 1, "window": None}},
            {"limit": {"per_profile": 2, "window": "30d"}},
            [("limit.per_profile", 1, 2), ("limit.window", None, "30d")],
        ),
        # A step inserted in a chain is one change, not one per later step.
        (
            {"actions": [{"type": "tag.add"}, {"type": "target.send"}]},
            {"actions": [{"type": "filter"}, {"type": "tag.add"}, {"type": "target.send"}]},
            [("actions[0]", MISSING, {"type": "filter"})],
        ),
        (
            {"actions": [{"type": "tag.add", "tag": "a"}]},
            {"actions": [{"type": "tag.add", "tag": "b"}]},
            [("actions[0].tag", "a", "b")],
        ),
        (
            {"when": {">=": [{"var": "x"}, 1000]}},
            {"when": {"<": [{"var": "x"}, 1000]}},
            [("when.>=", [{"var": "x"}, 1000], MISSING), ("when.<", MISSING, [{"var": "x"}, 1000])],
        ),
        ({"on": ["a"]}, {"on": ["a", "b"]}, [("on[1]", MISSING, "b")]),
    ],
)
def test_what_changed_in_a_definition(base, new, expected):
    assert list(definition_changes(base, new)) == expected
