"""Diff and report benchmark: what `reactor diff` and `replay --report` cost
against one `reactor replay` of the same file, measured in one run.

The file is benchmarks/core.py's: 20,000 generated events for 2,000 profiles
over a year, with its 100 reactions as the base configuration; the new one
changes a threshold, adds a reaction and removes one (as a pull request
would). Each figure is the best of a few rounds, in CPU seconds (this
machine is shared: wall-clock time there measures the neighbours as much as
reactor), measured two ways:

- in-process, the work alone: a replay writing each action as JSON (what the
  command writes to stdout); the same plus the tally and the HTML report;
  `run_diff` plus its text report; and `diff` with its HTML report too;
- the commands end to end, as a user runs them (a new process each, output to
  /dev/null): `reactor replay`, `reactor replay --report`, `reactor diff`.

Goals (issue #14): diff <= 2.2x one replay; the report adds <= 10 % to a replay.

    python benchmarks/diff.py [--events 20000] [--profiles 2000] [--reactions 100] [--rounds 3]
"""

from __future__ import annotations

import argparse
import gc
import io
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from core import generate_events, write_config  # benchmarks/core.py
from reactor.config import Config, load_config
from reactor.diff import profile_actions, run_diff
from reactor.replay import Replay
from reactor.report.html import PROFILES_SHOWN, diff_report, replay_report
from reactor.report.tally import Tally
from reactor.report.text import render_diff_text
from reactor.runtime import tune_gc


def halve_first_threshold(rule: Any) -> bool:
    """Halve the number in the first `>=` of a rule, in place; True if found."""
    if isinstance(rule, dict):
        for op, args in rule.items():
            if op == ">=" and isinstance(args, list) and isinstance(args[-1], int | float):
                args[-1] = args[-1] // 2
                return True
            if halve_first_threshold(args):
                return True
    elif isinstance(rule, list):
        return any(halve_first_threshold(item) for item in rule)
    return False


def changed_config(base_root: Path, root: Path) -> Config:
    """The base configuration with one threshold changed, one reaction added
    and one removed."""
    (root / "reactions").mkdir(parents=True)
    (root / "targets").mkdir()
    (root / "reactions" / "catalog.yaml").write_text((base_root / "reactions" / "catalog.yaml").read_text())
    rules = orjson.loads((base_root / "reactions" / "rules.yaml").read_bytes())["reactions"]
    changed = next(r for r in rules[1:] if halve_first_threshold(r.get("when")))
    removed = rules.pop(-1)
    rules.append(
        {
            "id": "big-basket-bonus",
            "on": ["transaction.created"],
            "when": {">=": [{"var": "transaction.total"}, 300]},
            "actions": [{"type": "points.award", "kind": "reward", "points": 500}],
        }
    )
    (root / "reactions" / "rules.yaml").write_bytes(orjson.dumps({"reactions": rules}))
    print(f"  change: threshold of {changed['id']} halved, {removed['id']} removed, big-basket-bonus added")
    return load_config(root)


def best(rounds: int, run: Callable[[], Any]) -> tuple[float, Any]:
    """The least CPU time of `rounds` runs, and the last run's result."""
    times, result = [], None
    for _ in range(rounds):
        gc.collect()
        started = time.process_time()
        result = run()
        times.append(time.process_time() - started)
    return min(times), result


def replay(config: Config, lines: list[bytes], report: bool) -> int:
    out = io.BytesIO()
    tally = Tally() if report else None

    def on_action(action: Any) -> None:
        out.write(action.to_json() + b"\n")
        if tally is not None:
            tally.add(action)

    runner = Replay(config, on_action, lambda r: None, "events.jsonl")
    runner.feed_lines(enumerate(lines, 1))
    runner.finish(None)
    if tally is not None:
        tally.close(runner.clock)
        return len(replay_report(runner.summary(), tally, config=config, file="events.jsonl"))
    return out.tell()


def diff(base: Config, new: Config, lines: list[bytes], html: bool) -> int:
    result = run_diff(base, new, enumerate(lines, 1), file_name="events.jsonl", keep=100 if html else 10)
    size = len(render_diff_text(result))
    if html:
        listed = [p.profile_id for p in result.profiles[:PROFILES_SHOWN]]
        actions = {
            side: profile_actions(config, enumerate(lines, 1), listed, result.clock)
            for side, config in (("base", base), ("new", new))
        }
        size += len(diff_report(result, actions))
    return size


def command(*args: str) -> float:
    """The CPU time (user + system) of one `reactor` process, start-up included."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run(
        [sys.executable, "-m", "reactor", *args],
        check=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--profiles", type=int, default=2_000)
    parser.add_argument("--reactions", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3, help="best of N for each measurement")
    args = parser.parse_args()
    tune_gc()  # as the commands run
    rng = random.Random(42)
    print(f"diff benchmark: {args.events} events, {args.profiles} profiles, {args.reactions} reactions")
    with tempfile.TemporaryDirectory() as tmp:
        base_root, new_root = Path(tmp) / "base", Path(tmp) / "new"
        base = write_config(base_root, args.reactions, rng)
        lines = generate_events(args.events, args.profiles, rng)
        new = changed_config(base_root, new_root)
        events = Path(tmp) / "events.jsonl"
        events.write_bytes(b"\n".join(lines) + b"\n")

        t_replay, _ = best(args.rounds, lambda: replay(base, lines, report=False))
        t_report, size = best(args.rounds, lambda: replay(base, lines, report=True))
        t_diff, _ = best(args.rounds, lambda: diff(base, new, lines, html=False))
        t_diff_html, diff_size = best(args.rounds, lambda: diff(base, new, lines, html=True))
        probe = run_diff(base, new, enumerate(lines, 1), file_name="events.jsonl")

        report_file = Path(tmp) / "report.html"
        c_replay = min(command("replay", "--config", str(base_root), str(events)) for _ in range(args.rounds))
        c_report = min(
            command("replay", "--config", str(base_root), "--report", str(report_file), str(events))
            for _ in range(args.rounds)
        )
        c_diff = min(
            command("diff", "--base", str(base_root), "--config", str(new_root), str(events))
            for _ in range(args.rounds)
        )
    print(
        f"  {probe.base.summary['actions']} actions under base, {probe.new.summary['actions']} under new; "
        f"{probe.differing} of {probe.with_actions} profiles differ; report {size / 1024:,.0f} KiB, "
        f"diff report {diff_size / 1024:,.0f} KiB"
    )
    print("  in-process (the work alone), CPU seconds:")
    print(f"    replay, actions as JSON                {t_replay:7.3f}")
    print(f"    replay + tally + HTML report           {t_report:7.3f}   {t_report / t_replay - 1:+7.1%}")
    print(f"    diff (both replays, compare, text)     {t_diff:7.3f}   {t_diff / t_replay:6.2f}x")
    print(f"    diff + HTML report (second pass)       {t_diff_html:7.3f}   {t_diff_html / t_replay:6.2f}x")
    print("  the commands, end to end (a process each, start-up included), CPU seconds:")
    print(f"    reactor replay                         {c_replay:7.3f}")
    print(f"    reactor replay --report                {c_report:7.3f}   {c_report / c_replay - 1:+7.1%}")
    print(f"    reactor diff                           {c_diff:7.3f}   {c_diff / c_replay:6.2f}x")
    for name, value, goal, unit in (
        ("diff / replay, in-process", t_diff / t_replay, 2.2, "x"),
        ("diff / replay, commands", c_diff / c_replay, 2.2, "x"),
        ("report overhead, in-process", t_report / t_replay - 1, 0.10, ""),
        ("report overhead, commands", c_report / c_replay - 1, 0.10, ""),
    ):
        shown = f"{value:.2f}x" if unit else f"{value:+.1%}"
        limit = f"{goal}x" if unit else f"{goal:.0%}"
        print(f"  goal {name} <= {limit}: {shown}, {'met' if value <= goal else 'not met'}")


if __name__ == "__main__":
    main()
