"""`reactor replay` as a process on hostile input: the regression corpus, and
what stops a run early (a closed stdout, Ctrl-C, unreadable input).

The corpus (tests/corpus/hostile.jsonl, written once by make_hostile.py) comes
with the outcome of every line, worked out from the contract and the stated
bounds; here it goes through the real command, and every line must be
accounted for: blank, processed, a duplicate, or one dead letter holding it.
"""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

import hostile
from support import REPO, write_config

CORPUS = REPO / "tests" / "corpus" / "hostile.jsonl"
EXPECTED = REPO / "tests" / "corpus" / "hostile.expected.jsonl"


def reactor(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "reactor", *args], cwd=REPO, input=stdin, capture_output=True, timeout=300
    )


def records(data: bytes) -> list[dict]:
    return [orjson.loads(line) for line in data.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def hostile_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_config(tmp_path_factory.mktemp("hostile"), hostile.CONFIG)


def test_the_hostile_corpus_through_the_command_accounts_for_every_line(hostile_root: Path):
    raw_lines = CORPUS.read_bytes().split(b"\n")[:-1]  # the file ends with a newline
    expected = records(EXPECTED.read_bytes())
    assert len(raw_lines) == len(expected) > 3_000

    done = reactor("replay", "--config", str(hostile_root), str(CORPUS))
    assert b"Traceback" not in done.stderr
    assert done.returncode == 1  # lines were rejected
    *dead, last = records(done.stderr)
    summary = last["summary"]
    line_dead = [d for d in dead if "line" in d["source"] and "reaction_id" not in d]
    by_line = {d["source"]["line"]: d for d in line_dead}
    assert len(by_line) == len(line_dead)

    for expect in expected:
        number = expect["line"]
        record = by_line.get(number)
        if expect["kind"] != "reject":
            assert record is None, (number, record and record["error"])
            continue
        assert record is not None, (number, expect)
        if expect["code"]:
            assert (record["error"]["code"], record["error"]["path"]) == (expect["code"], expect["path"]), (
                number
            )
        assert record["source"]["file"] == str(CORPUS)
        kept = base64.b64decode(record["raw_base64"]) if "raw_base64" in record else record["raw"].encode()
        assert kept == raw_lines[number - 1].rstrip(b"\r")

    kinds = [e["kind"] for e in expected]
    assert summary["lines"] == len(raw_lines)
    assert summary["blank"] == kinds.count("blank")
    assert summary["rejected"] == kinds.count("reject")
    assert summary["processed"] + summary["duplicates"] == kinds.count("event")
    assert summary["duplicates"] >= 1  # the corpus re-sends lines
    assert summary["internal_errors"] == 0
    assert (
        summary["lines"]
        == summary["blank"] + summary["processed"] + summary["duplicates"] + summary["rejected"]
    )
    for line in done.stdout.splitlines():
        assert isinstance(orjson.loads(line), dict)  # every action is JSON


def test_a_clean_file_exits_0_and_blank_lines_are_counted(tmp_path: Path, hostile_root: Path):
    events = tmp_path / "e.jsonl"
    events.write_bytes(hostile.valid_line(1, "p-1") + b"\n\n   \n" + hostile.valid_line(2, "p-1") + b"\n")
    done = reactor("replay", "--config", str(hostile_root), str(events))
    assert done.returncode == 0, done.stderr
    summary = records(done.stderr)[-1]["summary"]
    assert (summary["lines"], summary["blank"], summary["processed"], summary["rejected"]) == (4, 2, 2, 0)


def test_a_line_past_one_mebibyte_through_the_command(tmp_path: Path, hostile_root: Path):
    events = tmp_path / "e.jsonl"
    huge = hostile.build("profile.deleted", 1, "p-1", ["padding"], "x" * 2_000_000)
    events.write_bytes(huge + b"\n" + hostile.valid_line(2, "p-1") + b"\n")
    done = reactor("replay", "--config", str(hostile_root), str(events))
    assert done.returncode == 1
    *dead, last = records(done.stderr)
    assert [(d["source"]["line"], d["error"]["code"]) for d in dead] == [(1, "too_large")]
    assert len(dead[0]["raw"]) == 1_048_577  # the first MiB and one byte: the rest was not held
    assert last["summary"]["processed"] == 1


def test_a_line_past_one_mebibyte_through_a_pipe_is_cut_as_it_arrives(hostile_root: Path):
    # From a pipe, lines run as they arrive: the long one is cut while it is read.
    huge = b'{"id": "' + b"x" * 3_000_000 + b'"}'
    stdin = huge + b"\n" + hostile.valid_line(2, "p-1") + b"\n"
    done = reactor("replay", "--config", str(hostile_root), "-", stdin=stdin)
    assert done.returncode == 1
    *dead, last = records(done.stderr)
    assert [(d["source"]["line"], d["error"]["code"]) for d in dead] == [(1, "too_large")]
    assert dead[0]["raw"].encode() == huge[:1_048_577]
    assert (last["summary"]["lines"], last["summary"]["processed"]) == (2, 1)


def test_a_closed_stdout_stops_the_run_with_a_summary_and_no_traceback(hostile_root: Path, tmp_path: Path):
    events = tmp_path / "e.jsonl"
    events.write_bytes(b"".join(hostile.valid_line(n, f"p-{n % 50}") + b"\n" for n in range(20_000)))
    process = subprocess.Popen(
        [sys.executable, "-m", "reactor", "replay", "--config", str(hostile_root), str(events)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None
    process.stdout.readline()
    process.stdout.close()  # as `| head -1` does
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 1
    assert b"Traceback" not in stderr
    lines = stderr.splitlines()
    assert lines[-2].startswith(b"reactor: stdout was closed before the end of the replay (after ")
    assert 0 < orjson.loads(lines[-1])["summary"]["lines"] < 20_000


def test_ctrl_c_prints_the_summary_of_what_was_done_and_exits_130(hostile_root: Path, tmp_path: Path):
    events = tmp_path / "e.jsonl"
    events.write_bytes(b"".join(hostile.valid_line(n, f"p-{n % 50}") + b"\n" for n in range(200_000)))
    process = subprocess.Popen(
        [sys.executable, "-m", "reactor", "replay", "--config", str(hostile_root), str(events)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None
    process.stdout.readline()  # an action is out: it is replaying (200,000 events take many seconds)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 130
    assert b"Traceback" not in stderr
    lines = stderr.splitlines()
    assert lines[-2].startswith(b"reactor: interrupted (after ")
    assert 0 < orjson.loads(lines[-1])["summary"]["lines"] < 200_000


def test_input_that_cannot_be_read_is_one_line_not_a_traceback(tmp_path: Path, hostile_root: Path):
    done = reactor("replay", "--config", str(hostile_root), str(tmp_path))  # a folder
    assert done.returncode == 2
    assert done.stderr.decode().strip() == f"reactor: cannot read {tmp_path}: Is a directory"
    unreadable = tmp_path / "secret.jsonl"
    unreadable.write_bytes(b"{}\n")
    unreadable.chmod(0)
    if os.geteuid() == 0:  # root reads anything: nothing to check here
        return
    done = reactor("replay", "--config", str(hostile_root), str(unreadable))
    assert done.returncode == 2
    assert done.stderr.decode().strip() == f"reactor: cannot read {unreadable}: Permission denied"


def test_hostile_lines_on_stdin_through_the_command(hostile_root: Path):
    # A few of the hand-made cases, through stdin: each line's dead letter names line and code.
    cases = [
        (
            hostile.build("transaction.created", 1, "p-1", ["data", "transaction", "total"], 1e19),
            "out_of_range",
        ),
        (
            hostile.build("profile.updated", 2, "p-1", ["occurred_at"], "0001-01-01T00:00:00+01:00"),
            "out_of_range",
        ),
        (hostile.build("profile.updated", 3, "p-1", ["occurred_at"], "9999-12-31T23:59:59Z"), "out_of_range"),
        (
            hostile.build(
                "transaction.created", 4, "p-1", ["data", "transaction", "total"], hostile.Raw("1" * 25)
            ),
            "out_of_range",
        ),
        (b"   ", None),
        (hostile.valid_line(5, "p-1"), None),
    ]
    done = reactor(
        "replay", "--config", str(hostile_root), "-", stdin=b"\n".join(line for line, _ in cases) + b"\n"
    )
    assert done.returncode == 1
    *dead, last = records(done.stderr)
    assert [(d["source"], d["error"]["code"]) for d in dead] == [
        ({"file": "-", "line": n}, code) for n, (_, code) in enumerate(cases, 1) if code
    ]
    assert (last["summary"]["blank"], last["summary"]["processed"]) == (1, 1)
