"""`reactor validate` and `reactor explain` as users run them."""

from __future__ import annotations

import subprocess
import sys

import orjson

from support import REPO, profile_updated, transaction, write_config


def reactor(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "reactor", *args], cwd=REPO, capture_output=True, text=True, timeout=60
    )


def test_validate_the_sample_configuration():
    done = reactor("validate")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(
        "ok: 12 reactions, 1 automations, 2 reminders, 5 statuses, 5 benefits, 7 targets, "
        "1 tier programs, 1 achievements, 3 point kinds"
    )


def test_validate_reports_every_problem_as_path_line_col(tmp_path):
    root = write_config(
        tmp_path / "cfg",
        {
            "reactions/r.yaml": """
            reactions:
              - id: r1
                on: [profile.updated]
                when: {"contains": [1]}
                actions: [{type: status.apply, status: ghost}]
        """,
            "targets/t.yaml": "targets:\n  - {id: t, url: 'http://x/', body: '{{ oops( }}'}\n",
        },
    )
    done = reactor("validate", "--config", str(root))
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        "reactions/r.yaml:4:11: rule: unknown operator `contains`",
        "reactions/r.yaml:5:44: unknown status 'ghost'",
        "targets/t.yaml:2:37: template: unexpected '}', expected ')'",
        f"reactor: 3 configuration problem(s) in {root}",
    ]


def test_validate_reads_the_config_root_from_the_environment(tmp_path):
    root = write_config(tmp_path / "cfg", {"reactions/r.yaml": "reactions: []\n"})
    done = subprocess.run(
        [sys.executable, "-m", "reactor", "validate"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={"PATH": "", "REACTOR_CONFIG": str(root)},
    )
    assert done.returncode == 0 and "ok: 0 reactions" in done.stdout


def test_explain_shows_each_reaction_and_the_value_of_every_sub_expression(tmp_path):
    event = tmp_path / "event.json"
    event.write_bytes(profile_updated("p-1", identities=[{"handle": "instagram", "followers": 12500}]))
    done = reactor("explain", "--event", str(event), "--json")
    assert done.returncode == 0, done.stderr
    report = orjson.loads(done.stdout)
    by_id = {r["id"]: r for r in report["reactions"]}
    upgrade = by_id["influencer-upgrade"]
    assert upgrade["status"] == "matched"
    assert upgrade["when"]["value"] is True
    assert upgrade["when"]["children"][0] == {
        "expression": {"var": "profile.identities.instagram.followers"},
        "value": 12500,
    }
    assert [a["type"] for a in upgrade["actions"]] == ["status.apply", "benefit.create", "target.send"]
    assert by_id["media-status"]["status"] == "not matched"
    assert by_id["points-on-transaction"]["status"] == "not listening"
    text = reactor("explain", "--event", str(event)).stdout
    assert "MATCHED  influencer-upgrade" in text
    assert '{"var":"profile.identities.instagram.followers"}  =>  12500' in text


def test_explain_with_history_sees_the_limit_and_the_aggregations(tmp_path):
    history = tmp_path / "history.jsonl"
    history.write_bytes(
        b"\n".join(
            [
                profile_updated(
                    "p-1", at="2026-11-01T00:00:00Z", identities=[{"handle": "instagram", "followers": 20000}]
                ),
                transaction(990, "p-1", at="2026-11-02T00:00:00Z"),
            ]
        )
    )
    event = tmp_path / "event.json"
    event.write_bytes(transaction(20, "p-1", at="2026-11-03T00:00:00Z"))
    report = orjson.loads(
        reactor("explain", "--event", str(event), "--history", str(history), "--json").stdout
    )
    by_id = {r["id"]: r for r in report["reactions"]}
    spend = by_id["spend-reward-12m"]
    assert spend["status"] == "matched"
    assert spend["when"]["children"][0] == {"expression": {"var": "aggregations.spend_12m"}, "value": 1010.0}
    assert [a["type"] for a in spend["actions"]] == ["reward.create", "target.send"]


def test_explain_names_a_bad_event_file(tmp_path):
    event = tmp_path / "bad.json"
    event.write_text('{"id": "e"}')
    done = reactor("explain", "--event", str(event))
    assert done.returncode == 1
    assert str(event) in done.stderr and "type" in done.stderr
