"""`reactor explain` answers "why didn't they get it" (CONTRACT §11): filter
steps, target caps, limit use and eligibility, automations at a time, an
event on stdin."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import orjson

from support import REPO, profile_updated, transaction, write_config

CONFIG = {
    "reactions/r.yaml": """
    reactions:
      - id: welcome
        on: [profile.updated]
        limit: {per_profile: 1, window: 30d}
        actions:
          - {type: tag.add, tag: welcomed}
          - {type: filter, when: {"var": "attributes.comms.email_opt_in"}}
          - {type: target.send, target: hello}
      - id: big-spender
        on: [transaction.created]
        when: {">=": [{"var": "aggregations.spend_12m"}, 500]}
        actions: [{type: target.send, target: hello}]
    automations:
      - id: monthly
        schedule: "0 9 1 * *"
        when: {">": [{"var": "aggregations.days_since_last_spend"}, 30]}
        limit: {per_profile: 1, window: 90d}
        actions: [{type: tag.add, tag: nudged}]
    """,
    "targets/t.yaml": """
    targets:
      - id: hello
        url: "http://127.0.0.1:9/"
        body: '{"to": {{ email | default(none) | tojson }}}'
        limit: {per_profile: 1, window: 1d}
    """,
}


def explain(root: Path, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "reactor", "explain", "--config", str(root), *args],
        input=stdin,
        capture_output=True,
        timeout=60,
        cwd=REPO,
    )


def test_a_filter_that_stopped_the_chain_is_shown_with_its_values(tmp_path):
    root = write_config(tmp_path / "cfg", CONFIG)
    event = profile_updated("p-1", attributes={"comms": {"email_opt_in": False}}, at="2026-11-01T00:00:00Z")
    done = explain(root, "--event", "-", "--json", stdin=event)  # the event on stdin
    assert done.returncode == 0, done.stderr.decode()
    (welcome,) = [r for r in orjson.loads(done.stdout)["reactions"] if r["id"] == "welcome"]
    assert welcome["status"] == "matched"
    (step,) = welcome["filters"]
    assert step["step"] == 1 and step["value"] is False
    assert step["when"] == {"expression": {"var": "attributes.comms.email_opt_in"}, "value": False}
    assert [a["type"] for a in welcome["actions"]] == ["tag.add"]
    text = explain(root, "--event", "-", stdin=event).stdout.decode()
    assert "filter (step 2, reactions/r.yaml:" in text and "stops the chain" in text
    assert '{"var":"attributes.comms.email_opt_in"}  =>  false' in text


def test_a_limit_says_when_it_was_used_and_when_the_profile_is_eligible_again(tmp_path):
    root = write_config(tmp_path / "cfg", CONFIG)
    history = tmp_path / "history.jsonl"
    history.write_bytes(profile_updated("p-1", at="2026-11-01T08:00:00Z") + b"\n")
    event = tmp_path / "event.json"
    event.write_bytes(profile_updated("p-1", at="2026-11-10T00:00:00Z"))
    report = orjson.loads(explain(root, "--event", str(event), "--history", str(history), "--json").stdout)
    (welcome,) = [r for r in report["reactions"] if r["id"] == "welcome"]
    assert welcome["status"] == "limit reached"
    # Used on 1 November (the tag made it count); 30 days later it may fire again.
    assert welcome["limit"] == {
        "per_profile": 1,
        "window": "30d",
        "used_at": ["2026-11-01T08:00:00Z"],
        "eligible_at": "2026-12-01T08:00:00Z",
    }
    text = explain(root, "--event", str(event), "--history", str(history)).stdout.decode()
    assert "limit: 1 per 30d; used at 2026-11-01T08:00:00Z; eligible again at 2026-12-01T08:00:00Z" in text


def test_a_send_dropped_by_its_targets_cap_is_shown(tmp_path):
    root = write_config(tmp_path / "cfg", CONFIG)
    history = tmp_path / "history.jsonl"
    history.write_bytes(transaction(600, "p-1", at="2026-11-01T10:00:00Z") + b"\n")  # sends once
    event = tmp_path / "event.json"
    event.write_bytes(transaction(10, "p-1", at="2026-11-01T15:00:00Z"))
    report = orjson.loads(explain(root, "--event", str(event), "--history", str(history), "--json").stdout)
    (spender,) = [r for r in report["reactions"] if r["id"] == "big-spender"]
    assert spender["status"] == "matched" and spender["actions"] == []
    assert spender["capped"] == [
        {
            "target": "hello",
            "per_profile": 1,
            "window": "1d",
            "used_at": ["2026-11-01T10:00:00Z"],
            "eligible_at": "2026-11-02T10:00:00Z",
        }
    ]


def test_automations_at_a_time_for_a_profile(tmp_path):
    root = write_config(tmp_path / "cfg", CONFIG)
    history = tmp_path / "history.jsonl"
    history.write_bytes(transaction(20, "p-1", at="2026-10-01T12:00:00Z") + b"\n")
    # 1 December 09:00 UTC is a tick; 61 days since the last spend: it fires.
    done = explain(
        root, "--history", str(history), "--at", "2026-12-01T09:00:00Z", "--profile", "p-1", "--json"
    )
    assert done.returncode == 0, done.stderr.decode()
    report = orjson.loads(done.stdout)
    (monthly,) = report["automations"]
    assert monthly["status"] == "matched" and monthly["ticks_at"] is True
    assert monthly["when"]["children"][0] == {
        "expression": {"var": "aggregations.days_since_last_spend"},
        "value": 60,  # 1 Oct 12:00 to 1 Dec 09:00: 60 days and 21 hours, rounded down
    }
    assert [a["tag"] for a in monthly["actions"]] == ["nudged"]
    assert monthly["limit"]["used_at"] == []  # the history's own ticks came before, and did not match
    # Not a tick time: still evaluated, and the next tick is named.
    report = orjson.loads(
        explain(
            root, "--history", str(history), "--at", "2026-12-15T00:00:00Z", "--profile", "p-1", "--json"
        ).stdout
    )
    assert report["automations"][0]["ticks_at"] is False
    assert report["automations"][0]["next_tick"] == "2027-01-01T09:00:00Z"


def test_explain_needs_an_event_or_a_time(tmp_path):
    root = write_config(tmp_path / "cfg", CONFIG)
    done = explain(root)
    assert done.returncode == 2 and b"--event" in done.stderr
    done = explain(root, "--at", "2026-12-01T09:00:00Z")
    assert done.returncode == 2 and b"--profile" in done.stderr


def test_reminders_due_by_a_time_are_explained(tmp_path):
    root = write_config(
        tmp_path / "cfg",
        {
            "reactions/r.yaml": """
        reactions:
          - {id: give, on: [transaction.created], actions: [{type: reward.create, amount: 10, currency: AUD, valid_for: 30d}]}
        reminders:
          - id: reward-expiring
            of: reward.expires_at
            before: 14d
            when: {">=": [{"var": "reminder.item.remaining"}, 5]}
            actions: [{type: tag.add, tag: use-it}]
        """
        },
    )
    history = tmp_path / "history.jsonl"
    history.write_bytes(transaction(10, "p-1", at="2026-01-01T10:00:00Z") + b"\n")
    # The reward expires 31 January 10:00; its reminder is due 17 January 10:00.
    report = orjson.loads(
        explain(
            root, "--history", str(history), "--at", "2026-01-20T00:00:00Z", "--profile", "p-1", "--json"
        ).stdout
    )
    (reminder,) = report["reminders"]
    assert (reminder["id"], reminder["status"], reminder["due_at"]) == (
        "reward-expiring",
        "matched",
        "2026-01-17T10:00:00Z",
    )
    assert reminder["when"]["children"][0] == {
        "expression": {"var": "reminder.item.remaining"},
        "value": 10.0,
    }
    assert [a["tag"] for a in reminder["actions"]] == ["use-it"]
    early = orjson.loads(
        explain(
            root, "--history", str(history), "--at", "2026-01-10T00:00:00Z", "--profile", "p-1", "--json"
        ).stdout
    )
    assert early["reminders"] == []  # not due yet
