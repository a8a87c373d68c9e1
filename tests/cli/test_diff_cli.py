"""`reactor diff` as a reviewer runs it in CI: a real process on real files.
The figures themselves are worked out in tests/core/test_diff.py; here, what
the command prints, its exit codes, and bad input."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from diff_story import changed_copy
from support import REPO, profile_updated, write_config

EXAMPLES = "examples/events.jsonl"


def reactor(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "reactor", *args], cwd=REPO, input=stdin, capture_output=True, timeout=120
    )


@pytest.fixture(scope="module")
def changed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return changed_copy(tmp_path_factory.mktemp("changed"))


@pytest.fixture(scope="module")
def text_report(changed: Path) -> str:
    done = reactor("diff", "--base", ".", "--config", str(changed), EXAMPLES)
    assert done.returncode == 0, done.stderr.decode()
    assert done.stderr == b""
    return done.stdout.decode()


def section(report: str, title: str) -> list[str]:
    """The lines of one section: from its title to the next blank line after its table."""
    lines = report.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(title))
    out = []
    for line in lines[start + 2 :]:
        if not line.strip():
            break
        out.append(line)
    return out


def test_the_text_report_shows_only_what_differs(text_report: str):
    assert text_report.isascii()
    assert "Rules: 1 added, 1 removed, 1 changed" in text_report
    assert "  + big-basket-bonus      reaction added" in text_report
    assert "      when.>=[1]  1000 -> 800" in text_report
    reactions = section(text_report, "Reactions, automations and reminders: 4 of 16 differ")
    assert [line.split()[0] for line in reactions[1:]] == [
        "big-basket-bonus",
        "black-friday-shopper",
        "reward-expiring",
        "spend-reward-12m",
    ]
    spend = next(line for line in reactions if line.lstrip().startswith("spend-reward-12m"))
    assert "19 -> 39 (+20)" in spend and "10 -> 16 (+6)" in spend and "9 -> 23 (+14)" in spend
    types = section(text_report, "Actions by type: 5 of 16 differ")
    assert [line.split()[0] for line in types[1:]] == [
        "points.award",
        "reward.create",
        "reward.expire",
        "tag.add",
        "target.send",
    ]
    assert "Profiles whose actions differ: 21 of 40 with actions (the first 10 by id)" in text_report
    # Columns line up: the kind column starts at the same place on every row,
    # and the right-aligned figures end where their header ends.
    header, *rows = reactions
    kinds = [re.search(r"\s(reaction|automation|reminder)\s", row) for row in rows]
    assert {kind.start(1) for kind in kinds if kind} == {header.index("kind")} and all(kinds)
    end = header.index("fired") + len("fired")
    assert all(row[end - 1] != " " and row[end] == " " for row in rows)
    assert "(only what differs; --all shows every row, --json everything)" in text_report


def test_all_shows_every_row(changed: Path):
    done = reactor("diff", "--base", ".", "--config", str(changed), "--all", EXAMPLES)
    assert done.returncode == 0
    reactions = section(done.stdout.decode(), "Reactions, automations and reminders")
    assert len(reactions) == 1 + 16  # the header and every rule of either side
    assert any(line.lstrip().startswith("win-back") for line in reactions)


def test_json_is_one_object_with_the_same_figures(changed: Path, text_report: str):
    done = reactor("diff", "--base", ".", "--config", str(changed), "--json", EXAMPLES)
    assert done.returncode == 0
    report = orjson.loads(done.stdout)
    assert report["reactions"]["spend-reward-12m"]["new"]["fired"] == 16
    assert report["profiles"]["differ"] == 21
    assert [p["profile_id"] for p in report["profiles"]["first"]][:3] == ["p-006", "p-007", "p-008"]
    assert report["base"]["config"] == "." and report["new"]["config"] == str(changed)
    assert report["base"]["config_version"] != report["new"]["config_version"]
    # The text report lists the same actions, by id.
    for entry in report["profiles"]["first"]:
        for action in entry["added"][:8]:
            assert f"+ {action['id']}  {action['type']}" in text_report
        for action in entry["removed"][:8]:
            assert f"- {action['id']}  {action['type']}" in text_report


def test_standard_input_and_until(changed: Path):
    events = (REPO / EXAMPLES).read_bytes()
    args = ("diff", "--base", ".", "--config", str(changed), "--json", "--until", "2027-03-01T00:00:00Z")
    from_file = reactor(*args, EXAMPLES)
    from_stdin = reactor(*args, "-", stdin=events)
    assert from_stdin.returncode == 0
    a, b = orjson.loads(from_file.stdout), orjson.loads(from_stdin.stdout)
    assert a.pop("file") == EXAMPLES and b.pop("file") == "-"
    assert a == b
    assert a["clock"] == "2027-03-01T00:00:00Z"


def test_an_invalid_configuration_is_reported_as_validate_does(tmp_path: Path, changed: Path):
    broken = write_config(
        tmp_path / "broken",
        {
            "reactions/r.yaml": "reactions:\n  - id: x\n    on: [transaction.created]\n    whem: {}\n    actions: [{type: tag.add, tag: t}]\n"
        },
    )
    done = reactor("diff", "--base", str(broken), "--config", str(changed), EXAMPLES)
    assert done.returncode == 1
    err = done.stderr.decode()
    assert "reactions/r.yaml:4:5: " in err and "whem" in err
    assert f"configuration problem(s) in {broken}" in err
    assert done.stdout == b""
    # Both broken: both reported, in one run.
    done = reactor("diff", "--base", str(broken), "--config", str(broken), EXAMPLES)
    assert done.returncode == 1
    assert done.stderr.decode().count(f"configuration problem(s) in {broken}") == 2


def test_bad_lines_are_said_once_and_failures_name_their_configuration(tmp_path: Path):
    rules = """
        reactions:
          - id: greet
            on: [profile.updated]
            actions: [{type: target.send, target: hook}]
        targets:
          - {id: hook, url: "http://127.0.0.1:9/", body: '{"name": {{ first_name | tojson }}}'}
    """
    base = write_config(
        tmp_path / "base", {"reactions/r.yaml": rules.replace("{{ first_name | tojson }}", '"x"')}
    )
    new = write_config(tmp_path / "new", {"reactions/r.yaml": rules})
    events = tmp_path / "events.jsonl"
    # The second profile has no first_name: the new template fails on it only.
    events.write_bytes(
        profile_updated("p-1", first_name="Ava") + b"\n{not json\n" + profile_updated("p-2") + b"\n"
    )
    done = reactor("diff", "--base", str(base), "--config", str(new), "--json", str(events))
    assert done.returncode == 0
    records = [orjson.loads(line) for line in done.stderr.splitlines()]
    assert len(records) == 2
    bad_line, failure = records
    assert bad_line["source"] == {"file": str(events), "line": 2} and "config" not in bad_line
    assert failure["reaction_id"] == "greet" and failure["config"] == "new"
    report = orjson.loads(done.stdout)
    assert report["rejected"] == 1
    assert report["reactions"]["greet"]["base"]["fired"] == 2
    assert report["reactions"]["greet"]["new"] == {"matched": 2, "fired": 1, "limited": 0, "failed": 1}
    # Configuration that is not a rule: the target's body changed.
    assert report["configuration"]["changed"][0]["id"] == "hook"
    assert report["configuration"]["changed"][0]["changes"][0]["path"] == "body"


def test_usage_errors(tmp_path: Path, changed: Path):
    missing = reactor("diff", "--config", str(changed), EXAMPLES)
    assert missing.returncode == 2 and "--base" in missing.stderr.decode()
    nowhere = reactor(
        "diff", "--base", ".", "--html", str(tmp_path / "no" / "such" / "dir" / "r.html"), EXAMPLES
    )
    assert nowhere.returncode == 2 and "cannot write there" in nowhere.stderr.decode()
    unreadable = reactor("diff", "--base", ".", str(tmp_path / "absent.jsonl"))
    assert unreadable.returncode == 2 and "absent.jsonl" in unreadable.stderr.decode()


def test_replay_report_keeps_replay_as_it_was(tmp_path: Path):
    # --report adds a file; stdout and stderr are byte for byte those without it.
    plain = reactor("replay", EXAMPLES)
    report = tmp_path / "report.html"
    with_report = reactor("replay", "--report", str(report), EXAMPLES)
    assert with_report.returncode == plain.returncode == 0
    assert with_report.stdout == plain.stdout and with_report.stderr == plain.stderr
    html = report.read_text()
    assert html.startswith("<!doctype html>") and "</html>" in html
    # Self-contained: nothing in it is fetched.
    for marker in ("<link", " src=", "sourceMappingURL", "@import", "url("):
        assert marker not in html, marker
    # The same replay gives the same bytes (no generation time in the page).
    again = tmp_path / "again.html"
    reactor("replay", "--report", str(again), EXAMPLES)
    assert again.read_bytes() == report.read_bytes()


def test_an_out_of_order_file_is_compared_in_event_time_order(tmp_path: Path, changed: Path):
    # replay runs a file in `occurred_at` order whatever its order: so does diff.
    lines = (REPO / EXAMPLES).read_bytes().splitlines()
    shuffled = tmp_path / "shuffled.jsonl"
    shuffled.write_bytes(b"\n".join(lines[1::2] + lines[0::2]) + b"\n")
    args = ("diff", "--base", ".", "--config", str(changed), "--json")
    in_order, out_of_order = reactor(*args, EXAMPLES), reactor(*args, str(shuffled))
    a, b = orjson.loads(in_order.stdout), orjson.loads(out_of_order.stdout)
    assert b["new"]["summary"]["reordered"] > 0 and a["new"]["summary"]["reordered"] == 0
    for report in (a, b):
        for side in ("base", "new"):
            report[side]["summary"].pop("reordered")
        report.pop("file")
    # The same figures; the dead-letter sources and line numbers aside, the same actions.
    assert a["reactions"] == b["reactions"] and a["profiles"]["differ"] == b["profiles"]["differ"]
    assert a == b
