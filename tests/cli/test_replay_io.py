"""`reactor replay`'s input and output (issues 11 and 15): event-time order for
files, live pipes, blocks of output flushed when a pipe is idle, blank lines
counted, Ctrl-C, progress on a terminal only."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import orjson

from reactor.streams import Progress
from support import REPO, profile_updated, transaction, write_config

RULES = {
    "reactions/r.yaml": """
    reactions:
      - {id: spend, on: [transaction.created], actions: [{type: points.award, kind: reward, points: {"var": "aggregations.spend_all"}}]}
      - {id: hello, on: [profile.updated], actions: [{type: tag.add, tag: hello}]}
    """
}


def replay(root: Path, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "reactor", "replay", "--config", str(root), *args],
        input=stdin,
        capture_output=True,
        timeout=120,
        cwd=REPO,
    )


@contextlib.contextmanager
def live_replay(root: Path) -> Iterator[subprocess.Popen[bytes]]:
    """`reactor replay -` reading from a pipe this test writes to; killed if still running."""
    with subprocess.Popen(
        [sys.executable, "-m", "reactor", "replay", "--config", str(root), "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=REPO,
    ) as proc:
        try:
            yield proc
        finally:
            if proc.poll() is None:
                proc.kill()


def summary_of(stderr: bytes) -> dict:
    return orjson.loads(stderr.splitlines()[-1])["summary"]


def test_a_file_out_of_order_replays_in_event_time_order(tmp_path):
    root = write_config(tmp_path / "cfg", RULES)
    # Written in the order upstream exported them, not as they happened.
    a = transaction(10, at="2026-11-03T00:00:00Z", id="a")
    b = transaction(20, at="2026-11-01T00:00:00Z", id="b")
    c = transaction(40, at="2026-11-02T00:00:00Z", id="c")
    d = transaction(80, at="2026-11-02T00:00:00Z", id="d")  # same time as c: after it, as in the file
    (tmp_path / "shuffled.jsonl").write_bytes(b"\n".join([a, b, c, d]) + b"\n")
    done = replay(root, str(tmp_path / "shuffled.jsonl"))
    assert done.returncode == 0, done.stderr.decode()
    actions = [orjson.loads(line) for line in done.stdout.splitlines()]
    # b (20), c (60 so far), d (140), a (150): points are the running spend.
    assert [(x["event_id"], x["points"]) for x in actions] == [("b", 20), ("c", 60), ("d", 140), ("a", 150)]
    summary = summary_of(done.stderr)
    assert summary["reordered"] == 3  # b, c and d came after a, which occurred later
    assert summary["events"] == 4


def test_blank_lines_are_counted_not_lost(tmp_path):
    root = write_config(tmp_path / "cfg", RULES)
    body = b"\n".join([profile_updated(id="e1"), b"", b"   ", b"\t\r", profile_updated(id="e2")]) + b"\n"
    (tmp_path / "events.jsonl").write_bytes(body)
    done = replay(root, str(tmp_path / "events.jsonl"))
    summary = summary_of(done.stderr)
    assert (summary["events"], summary["blank"], summary["actions"]) == (2, 3, 1)
    assert b"\r" not in done.stderr  # stderr is a pipe here: no progress line


def test_a_live_pipe_shows_each_action_while_the_input_stays_open(tmp_path):
    root = write_config(tmp_path / "cfg", RULES)
    with live_replay(root) as proc:
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        proc.stdin.write(transaction(12.5, id="live-1", at="2026-11-01T00:00:00Z") + b"\n")
        proc.stdin.flush()
        first = proc.stdout.readline()  # arrives although stdin is still open (tail -f)
        assert orjson.loads(first)["event_id"] == "live-1"
        proc.stdin.write(transaction(1, id="live-2", at="2026-11-02T00:00:00Z") + b"\n")
        proc.stdin.flush()
        assert orjson.loads(proc.stdout.readline())["points"] == 14  # 13.5 -> 14, half away from zero
        proc.stdin.close()
        assert proc.wait(30) == 0
        assert summary_of(proc.stderr.read())["events"] == 2


def test_ctrl_c_prints_the_summary_of_what_was_done_and_exits_130(tmp_path):
    root = write_config(tmp_path / "cfg", RULES)
    with live_replay(root) as proc:
        assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
        proc.stdin.write(profile_updated(id="only") + b"\n")
        proc.stdin.flush()
        assert orjson.loads(proc.stdout.readline())["tag"] == "hello"
        proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
        assert proc.wait(30) == 130
        summary = summary_of(proc.stderr.read())
        assert summary["interrupted"] is True and summary["events"] == 1 and summary["actions"] == 1


def test_progress_goes_to_a_terminal_and_is_cleared():
    master, slave = os.openpty()  # a real terminal device
    try:
        with os.fdopen(slave, "wb", buffering=0) as terminal:
            progress = Progress(terminal, total=200, after=0)
            progress.update(50, "2026-11-01T00:00:00Z")
            progress.clear()
        shown = b""
        deadline = time.monotonic() + 10
        while not shown.endswith(b"\r\x1b[K") and time.monotonic() < deadline:
            shown += os.read(master, 4096)  # what the terminal received, in as many reads as it takes
    finally:
        os.close(master)
    assert b"replay: 50 events of 200 (25 %)" in shown and b"at 2026-11-01T00:00:00Z" in shown
    assert shown.endswith(b"\r\x1b[K")  # the line is cleared before the summary


def test_no_progress_on_a_pipe():
    read, write = os.pipe()
    with os.fdopen(write, "wb", buffering=0) as pipe:
        progress = Progress(pipe, total=10, after=0)
        progress.update(5, None)
        progress.clear()
    with os.fdopen(read, "rb") as got:
        assert got.read() == b""
