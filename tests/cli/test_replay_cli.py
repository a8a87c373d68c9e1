"""`reactor replay` as a user runs it: a real process, real files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from support import REPO, profile_updated, transaction, write_config

EXAMPLES = REPO / "examples" / "events.jsonl"


def reactor(*args: str, cwd: Path = REPO, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "reactor", *args], cwd=cwd, input=stdin, capture_output=True, timeout=120
    )


def lines(data: bytes) -> list[dict]:
    return [orjson.loads(line) for line in data.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def example_run() -> tuple[list[dict], list[dict], int]:
    done = reactor("replay", "examples/events.jsonl")
    return lines(done.stdout), lines(done.stderr), done.returncode


def test_replay_of_the_bundled_examples(example_run):
    actions, stderr, code = example_run
    assert code == 0
    assert len(stderr) == 1 and "summary" in stderr[0]  # no rejects, the summary last
    summary = stderr[0]["summary"]
    inputs = EXAMPLES.read_bytes().splitlines()
    assert summary["events"] == len(inputs)
    assert summary["rejected"] == 0 and summary["reaction_failures"] == 0
    assert summary["duplicates"] == 2  # p-008's event delivered twice, p-011's transaction re-sent
    assert summary["actions"] == len(actions)
    # Output order is event time first.
    assert [a["at"] for a in actions] == sorted(a["at"] for a in actions)


def of(actions: list[dict], profile: str, kind: str | None = None) -> list[dict]:
    return [a for a in actions if a["profile_id"] == profile and (kind is None or a["type"] == kind)]


def test_the_stories_in_the_examples(example_run):
    actions, _, _ = example_run
    events = [orjson.loads(line) for line in EXAMPLES.read_bytes().splitlines()]
    # p-002 has 30k followers and the no-comms tag: status and gift, but no message.
    assert [a["type"] for a in of(actions, "p-002") if a["reaction_id"] == "influencer-upgrade"] == [
        "status.apply",
        "benefit.create",
    ]
    # p-003 crosses 10k once and grows further: upgraded exactly once.
    assert len(of(actions, "p-003", "status.apply")) == 1
    # p-004: Staff with its discount, then Ex-Staff replaces it when the employee id goes.
    p4 = [
        (a["type"], a.get("status") or a.get("benefit"), a.get("reason"))
        for a in of(actions, "p-004")
        if a["type"].startswith(("status.", "benefit.", "tag."))
        and a["reaction_id"] not in ("win-back", "birthday-week")
    ]
    assert p4 == [
        ("status.apply", "staff", None),
        ("benefit.create", "staff-discount", None),
        ("tag.add", None, None),
        ("status.remove", "staff", "replaced"),
        ("benefit.revoke", "staff-discount", "replaced"),
        ("status.apply", "ex-staff", None),
        ("benefit.create", "store-credit", None),
        ("tag.remove", None, None),
    ]
    # p-005: Media for 180 days from the event that tagged her, then expired on its own.
    tagged = next(e for e in events if e["profile_id"] == "p-005" and e["type"] == "profile.updated")
    (apply,) = of(actions, "p-005", "status.apply")
    assert apply["at"] == tagged["occurred_at"]
    expired = [a for a in of(actions, "p-005") if a["event_id"] is None]
    assert [(a["type"], a.get("reason")) for a in expired] == [
        ("status.remove", "expired"),
        ("benefit.revoke", "expired"),
    ]
    assert expired[0]["at"] == apply["expires_at"]
    # p-008's Black Friday event came twice: tagged once.
    assert len(of(actions, "p-008", "tag.add")) == 1
    # p-011's transaction was re-sent under a new event id: points once.
    awards = [a for a in of(actions, "p-011", "points.award") if a["kind"] in ("tier", "reward")]
    assert len(awards) == 2  # one tier + one reward award
    # p-009 bought for 210 and returned it, naming the purchase: the points went back.
    assert sum(a["points"] for a in of(actions, "p-009", "points.award") if a["kind"] == "reward") == 0
    assert [a["reverses"] for a in of(actions, "p-009", "points.award") if "reverses" in a] == ["t-00030"] * 2


def test_the_programme_stories_in_the_examples(example_run):
    """The incentive programme (CONTRACT §7) as examples/events.jsonl acts it
    out; the figures are the stories' own (examples/generate_events.py)."""
    actions, _, _ = example_run
    tiers = lambda pid: [(a["tier"], a["previous"], a["reason"]) for a in of(actions, pid, "tier.assign")]  # noqa: E731
    # p-040: 420 + 380 + 260 = 1,060 tier points by 8 September: Gold (1,000),
    # reviewed a year after the purchase that reached it, and welcomed once.
    assert tiers("p-040") == [("member", None, "joined"), ("gold", "member", "attained")]
    (gold,) = [a for a in of(actions, "p-040", "tier.assign") if a["tier"] == "gold"]
    assert gold["at"] == "2026-09-08T12:54:30Z" and gold["review_at"] == "2027-09-08T12:54:30Z"
    (welcome,) = [a for a in of(actions, "p-040", "target.send") if a["target"] == "comms-tier-welcome"]
    assert welcome["event_id"] == "evt-0237/tier.changed/1"
    assert welcome["payload"]["data"]["tier"] == "Gold" and welcome["payload"]["data"]["tier_points"] == 1060
    # p-041: one order of 2,600 goes straight from Member to Platinum (2,500).
    assert tiers("p-041") == [("member", None, "joined"), ("platinum", "member", "attained")]
    # p-042: 300 bought (300 tier, 3,000 reward points), 150 refunded: half back.
    back = {
        a["kind"]: (a["points"], a["balance"])
        for a in of(actions, "p-042", "points.award")
        if "reverses" in a
    }
    assert back == {"tier": (-150, 150), "reward": (-1500, 1500)}
    # p-043: an Influencer's 200 earned 400 tier points (2x); refunded after the
    # status ended, it takes back the 400, at the multiplier of then.
    (tier_back,) = [
        a for a in of(actions, "p-043", "points.award") if a.get("reverses") and a["kind"] == "tier"
    ]
    assert (tier_back["points"], tier_back["modifiers"], tier_back["balance"]) == (-400, ["influencer"], 0)
    ended = [a for a in of(actions, "p-043", "status.remove")]
    assert ended[0]["at"] == "2026-08-01T00:00:00Z" < tier_back["at"]


def test_replaying_the_same_file_twice_gives_identical_output(example_run):
    again = reactor("replay", str(EXAMPLES))
    assert lines(again.stdout) == example_run[0]


def test_bad_lines_go_to_stderr_with_file_and_line_and_the_rest_runs(tmp_path):
    events = tmp_path / "mixed.jsonl"
    good = transaction(50, id="ok-1")
    events.write_bytes(
        b"\n".join(
            [
                good,
                b"{broken",
                b"",
                profile_updated(id="ok-2")[:-1] + b',"type":"order.created"}',
                b"\xff\xfe\n",
            ]
        )
    )
    done = reactor("replay", str(events))
    assert done.returncode == 1
    stderr = lines(done.stderr)
    rejects, summary = stderr[:-1], stderr[-1]["summary"]
    assert [(r["source"], r["error"]["code"]) for r in rejects] == [
        ({"file": str(events), "line": 2}, "invalid_json"),
        ({"file": str(events), "line": 4}, "unknown_type"),
        ({"file": str(events), "line": 5}, "invalid_json"),
    ]
    assert rejects[0]["raw"] == "{broken"
    assert rejects[2]["raw_base64"] == "//4="  # bytes that are not UTF-8 are kept exactly
    assert summary["events"] == 4 and summary["rejected"] == 3
    assert any(a["event_id"] == "ok-1" for a in lines(done.stdout))


def test_replay_reads_stdin_and_runs_automations_up_to_until(tmp_path):
    root = write_config(
        tmp_path / "cfg",
        {
            "reactions/a.yaml": """
        automations:
          - {id: nightly, schedule: "0 0 * * *", actions: [{type: tag.add, tag: seen}]}
    """
        },
    )
    stdin = profile_updated(id="e1", at="2026-11-20T10:00:00Z")
    without = reactor("replay", "--config", str(root), "-", stdin=stdin)
    assert lines(without.stdout) == []
    done = reactor("replay", "--config", str(root), "--until", "2026-11-22T00:00:00Z", "-", stdin=stdin)
    actions = lines(done.stdout)
    # Ticks at 21 Nov 00:00 (tag added) and 22 Nov 00:00 (already tagged: nothing).
    assert [(a["type"], a["at"], a["event_id"]) for a in actions] == [
        ("tag.add", "2026-11-21T00:00:00Z", "nightly@2026-11-21T00:00:00Z")
    ]
    assert lines(done.stderr)[-1]["summary"]["automation_ticks"] == 2


def test_usage_and_config_errors_exit_2_and_1(tmp_path):
    assert reactor("replay", "--until", "tomorrow", str(EXAMPLES)).returncode == 2
    assert reactor("replay", "--bogus").returncode == 2
    assert reactor("replay", str(tmp_path / "missing.jsonl")).returncode == 2
    root = write_config(
        tmp_path / "cfg", {"reactions/a.yaml": "reactions:\n  - {id: r, on: [nope], actions: []}\n"}
    )
    done = reactor("replay", "--config", str(root), str(EXAMPLES))
    assert done.returncode == 1
    assert b"reactions/a.yaml:2:" in done.stderr


def test_the_lifecycle_stories_in_the_examples(example_run):
    """Redemptions, a claim, reminders and a deletion (CONTRACT §8) as
    examples/events.jsonl acts them out (examples/generate_events.py)."""
    actions, _, _ = example_run
    # p-006 spends $15 of his $20 reward of 2 July (its id is that reward.create's).
    (reward,) = [a for a in of(actions, "p-006", "reward.create") if a["at"].startswith("2026-07-02")]
    (redeem,) = of(actions, "p-006", "reward.redeem")
    assert redeem["consumed"] == [{"reward": reward["id"], "amount": 15.0}]
    # p-041 spends 5,000 of her 26,000 reward points.
    (spent,) = [a for a in of(actions, "p-041", "points.award") if a.get("redemption_id")]
    assert (spent["points"], spent["balance"]) == (-5000, 21000)
    # p-001 claims the welcome gift Influencer brought her on 15 June.
    (gift,) = [a for a in of(actions, "p-001", "benefit.create") if a["benefit"] == "welcome-gift"]
    (claim,) = of(actions, "p-001", "benefit.claim")
    assert claim["instance"] == gift["id"]
    # p-012 asked to be forgotten on 1 September: downstream is told, once.
    assert [a["at"][:10] for a in of(actions, "p-012", "profile.forget")] == ["2026-09-01"]
    # Birthday gifts go out a week before, at 09:00 in Sydney.
    gifts = [a for a in actions if a["reaction_id"] == "birthday-week" and a["type"] == "target.send"]
    assert gifts and all(a["event_id"].startswith("birthday-week@") for a in gifts)
    # p-004, born 14 May: due 7 May 09:00 Sydney (UTC+10) = 6 May 23:00 UTC.
    (p4,) = [a for a in gifts if a["profile_id"] == "p-004"]
    assert p4["at"] == "2026-05-06T23:00:00Z" and p4["payload"]["data"]["days_to_go"] == 7
