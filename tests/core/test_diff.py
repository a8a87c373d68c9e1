"""`reactor diff` on the bundled story: the bundled configuration against a
changed copy (tests/diff_story.py), every figure worked out by hand from
examples/events.jsonl.

How the figures were worked out (with jq and a few lines of Python over the
events file, none of it reactor): the file has 234 lines for 36 profiles,
192 of them `transaction.created`, all in AUD. Two of those do not count: p-008's
evt-0028 is delivered twice (the second is a duplicate event), and p-011
re-sends transaction `pos/t-dup-1`. That leaves 190 purchases. `spend_12m` at
each purchase is the running sum of the profile's totals (all within a
year; p-009's refund is -210; p-012 is deleted after its only purchase).

`spend-reward-12m` (`spend_12m >= threshold`, limit once per 365 days):

- at $1,000, profiles cross at p-006 evt-0019 (1,110), p-007 evt-0026 (1,150),
  p-015 evt-0063 (1,173), p-016 evt-0069 (1,218), p-023 evt-0127 (1,087.85),
  p-026 evt-0152 (1,016.95), p-030 evt-0183 (1,095.95), p-036 evt-0230
  (1,034.95); p-025 stops at 999.80. Purchases at or over the threshold:
  p-006 4, p-007 1, p-015 1, p-016 3, p-023 2, p-026 1, p-030 1, p-036 4 = 17
  matched, 8 fired (one per profile), 9 limited.
- at $800: p-006 evt-0018 (800.00 exactly: `>=`), p-007 evt-0026, p-013
  evt-0046 (813), p-015 evt-0062 (863), p-016 evt-0068 (908), p-019 evt-0094
  (896.80), p-020 evt-0104 (847.70), p-023 evt-0126 (888.85), p-024 evt-0135
  (882.95), p-025 evt-0145 (999.80), p-026 evt-0151 (817.95; 798 before it),
  p-030 evt-0181 (886.95), p-032 evt-0199 (868.90), p-036 evt-0228 (895).
  Purchases at or over: 5+1+4+2+4+1+1+3+1+1+2+3+2+6 = 36 matched, 14 fired,
  22 limited.

`big-basket-bonus` (total >= 300, no limit): p-006 5 (420, 380, 310, 690, 900),
p-007 2, p-012 1 (300 exactly), p-013 1, p-015 2, p-016 3, p-017 1, p-020 1,
p-023 2, p-024 1, p-025 1, p-026 2, p-030 1, p-032 2 = 25 purchases, each
fired: +25 points.award, +12,500 reward points (no status multiplies reward
points).

`black-friday-shopper`: six purchases carry the `black-friday` tag, one for each
of p-008, p-020, p-023, p-025, p-027, p-036, none of whom held the tag: 6
matched, 6 fired, 6 tag.add gone.

Which profiles get other actions: the reward moves from one purchase to an
earlier one for p-006, p-015, p-016, p-023, p-026, p-030, p-036, and is new for
p-013, p-019, p-020, p-024, p-025, p-032. p-007 fires on evt-0026 under both:
the same action ids, and the same payload (its balance is that one reward), so
only `config_version` differs and p-007 differs only by its two bonuses. Only
the `reward-issued` and win-back payloads read `reward_balance`, and no profile
whose rewards moved gets a win-back (the seven that do, p-004, p-005, p-007,
p-009, p-010, p-011, p-035, have the same rewards under both). Bonus points
add p-007, p-012, p-017; the Black Friday tag p-008, p-027: 18 profiles.
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
        "base": {"matched": 17, "fired": 8, "limited": 9, "failed": 0},
        "new": {"matched": 36, "fired": 14, "limited": 22, "failed": 0},
        "differs": True,
    }
    assert reactions["big-basket-bonus"] == {
        "kind": "reaction",
        "status": "added",
        "base": None,
        "new": {"matched": 25, "fired": 25, "limited": 0, "failed": 0},
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
    # each of the 190 purchases; the win-back automation, from the Monday 09:00
    # Sydney ticks (22:00 or 23:00 UTC on Sunday) between the first and the
    # last event, at which a profile's last purchase is over 90 days old and it
    # has no no-comms tag: 67 of them, p-010 twice 91+ days apart, p-004,
    # p-005, p-007, p-009, p-011 and p-035 once: 8 fired, 59 limited.
    assert reactions["points-on-transaction"]["base"] == {
        "matched": 190,
        "fired": 190,
        "limited": 0,
        "failed": 0,
    }
    assert reactions["win-back"]["kind"] == "automation"
    assert reactions["win-back"]["base"] == {"matched": 67, "fired": 8, "limited": 59, "failed": 0}
    same = {k for k, v in reactions.items() if v["status"] == "same"}
    assert same == {
        "staff-onboard",
        "staff-offboard",
        "influencer-upgrade",
        "media-status",
        "points-on-transaction",
        "vip-by-spend",
        "win-back",
    }
    for rule_id in same:
        assert reactions[rule_id]["base"] == reactions[rule_id]["new"], rule_id
        assert reactions[rule_id]["differs"] is False


def test_per_action_type_points_and_rewards(report):
    by_type = report["actions_by_type"]
    deltas = {t: v["new"] - v["base"] for t, v in by_type.items()}
    assert {t: d for t, d in deltas.items() if d} == {
        "points.award": 25,
        "reward.create": 6,
        "target.send": 6,
        "tag.add": -6,
    }
    points = report["points_by_kind"]
    assert points["reward"]["new"] - points["reward"]["base"] == 12_500
    assert points["tier"]["new"] == points["tier"]["base"]
    # Rewards: $20 for each spend reward, $10 for each of the 8 win-backs, all
    # AUD. p-007 holds VIP from its snapshot (+30 days); no other profile is
    # VIP when rewarded. At the last event (2026-11-24T05:00:30Z) these are
    # left: base, the spend rewards of p-015, p-023, p-026, p-030, p-036
    # (90 days not over) and the win-backs of p-005, p-007 (60 days), p-010's
    # second: 100 + 30; new, those of p-013, p-015, p-019, p-020, p-023, p-024,
    # p-025, p-026, p-036 and the same win-backs: 180 + 30.
    aud = report["rewards"]["AUD"]
    assert aud["base"] == {
        "count": 16,
        "issued": 240.0,
        "redeemed": 0.0,
        "expired": 110.0,
        "forgotten": 0.0,
        "outstanding": 130.0,
    }
    assert aud["new"] == {
        "count": 22,
        "issued": 360.0,
        "redeemed": 0.0,
        "expired": 150.0,
        "forgotten": 0.0,
        "outstanding": 210.0,
    }
    assert report["targets"]["comms-reward-issued"] == {
        "base": {"sent": 8, "limited": 0},
        "new": {"sent": 14, "limited": 0},
    }


def brief(actions: list[dict]) -> list[tuple[str, str, str]]:
    return sorted((a["type"], a["reaction_id"], a["event_id"]) for a in actions)


def test_profiles_whose_actions_differ(report):
    profiles = report["profiles"]
    assert profiles["differ"] == 18
    assert profiles["with_actions"] == 36
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
    reward, send, bonus = "reward.create", "target.send", "points.award"
    assert brief(first["p-006"]["added"]) == sorted(
        [(bonus, "big-basket-bonus", f"evt-00{n}") for n in (17, 18, 19, 20, 21)]
        + [(reward, "spend-reward-12m", "evt-0018"), (send, "spend-reward-12m", "evt-0018")]
    )
    assert brief(first["p-006"]["removed"]) == [
        (reward, "spend-reward-12m", "evt-0019"),
        (send, "spend-reward-12m", "evt-0019"),
    ]
    # p-007: the reward on evt-0026 under both is not a difference.
    assert brief(first["p-007"]["added"]) == [
        (bonus, "big-basket-bonus", "evt-0025"),
        (bonus, "big-basket-bonus", "evt-0026"),
    ]
    assert first["p-007"]["removed"] == []
    assert first["p-008"]["added"] == []
    assert brief(first["p-008"]["removed"]) == [("tag.add", "black-friday-shopper", "evt-0028")]
    assert brief(first["p-020"]["added"]) == sorted(
        [
            (bonus, "big-basket-bonus", "evt-0096"),
            (reward, "spend-reward-12m", "evt-0104"),
            (send, "spend-reward-12m", "evt-0104"),
        ]
    )
    assert brief(first["p-020"]["removed"]) == [("tag.add", "black-friday-shopper", "evt-0104")]
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
    assert result["profiles"] == {"differ": 0, "with_actions": 36, "first": []}
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
