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
The replay of the goal is the base configuration's; the new configuration's
replay is timed too, since a change that adds work (this one does) makes a
diff cost more however cheap the comparison: the figure `diff / (base replay +
new replay)` shows what comparing adds.

    python benchmarks/diff.py [--events 20000] [--profiles 2000] [--reactions 100] [--rounds 5]
                              [--instructions] [--command-instructions] [--no-timing]

`--command-instructions` counts the instructions of the three commands
(valgrind, two at a time: about 15 minutes for the default file), the figure
to trust where CPU time is noisy; `--no-timing` skips the timed rounds.
`--instructions` also counts the instructions each in-process workload
executes, with valgrind's callgrind in a child process: exact and repeatable
however busy the machine is (valgrind runs Python some 50x slower: minutes).
"""

from __future__ import annotations

import argparse
import gc
import io
import os
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

from core import generate_events, rules_yaml, write_config  # benchmarks/core.py
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
    lines = (base_root / "reactions" / "rules.yaml").read_bytes().splitlines()[1:]
    rules = [orjson.loads(line.removeprefix(b"  - ")) for line in lines]  # as `rules_yaml` wrote them
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
    (root / "reactions" / "rules.yaml").write_bytes(rules_yaml(rules))
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


WORKS = ("none", "replay", "replay-new", "report", "diff", "diff-html")
#: What --instructions counts (diff-html, with no goal, would double the time).
COUNTED = ("none", "replay", "report", "diff")


def command_instructions(runs: dict[str, list[str]]) -> dict[str, int]:
    """Instructions executed by each `reactor` command (a process, start-up
    included), counted by valgrind (callgrind): exact and repeatable where CPU
    time on this machine is not. Two at a time (the machine has two cores)."""
    counts: dict[str, int] = {}
    names = list(runs)
    with tempfile.TemporaryDirectory() as tmp:
        for pair in (names[i : i + 2] for i in range(0, len(names), 2)):
            children = {}
            for name in pair:
                out = Path(tmp) / f"{name}.callgrind"
                child = [
                    "valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                    sys.executable, "-m", "reactor", *runs[name],
                ]  # fmt: skip
                env = {**os.environ, "PYTHONHASHSEED": "0"}
                children[name] = (
                    subprocess.Popen(child, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env),
                    out,
                )
            for name, (process, out) in children.items():
                if process.wait() != 0:
                    raise SystemExit(f"valgrind {name} failed")
                totals = next(line for line in out.read_text().splitlines() if line.startswith("totals:"))
                counts[name] = int(totals.split()[1])
    return counts


def setup(args: argparse.Namespace, tmp: Path) -> tuple[Config, Config, list[bytes], Path, Path]:
    rng = random.Random(42)
    base_root, new_root = tmp / "base", tmp / "new"
    base = write_config(base_root, args.reactions, rng)
    lines = generate_events(args.events, args.profiles, rng)
    new = changed_config(base_root, new_root)
    return base, new, lines, base_root, new_root


def work(name: str, base: Config, new: Config, lines: list[bytes]) -> Any:
    if name == "replay":
        return replay(base, lines, report=False)
    if name == "replay-new":
        return replay(new, lines, report=False)
    if name == "report":
        return replay(base, lines, report=True)
    if name == "diff":
        return diff(base, new, lines, html=False)
    if name == "diff-html":
        return diff(base, new, lines, html=True)
    return None


def instructions(args: argparse.Namespace) -> dict[str, int]:
    """Instructions executed by each workload, counted by valgrind (callgrind)
    in a child process: exact and repeatable, whatever else the machine runs.
    The set-up (events, configurations) is counted alone and taken off."""
    counts = {}
    for name in COUNTED:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "callgrind.out"
            child = [
                "valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                sys.executable, __file__, "--work", name,
                "--events", str(args.events), "--profiles", str(args.profiles), "--reactions", str(args.reactions),
            ]  # fmt: skip
            env = {**os.environ, "PYTHONHASHSEED": "0"}
            subprocess.run(child, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
            totals = next(line for line in out.read_text().splitlines() if line.startswith("totals:"))
            counts[name] = int(totals.split()[1])
    return {name: counts[name] - counts["none"] for name in COUNTED if name != "none"}


def print_command_instructions(counts: dict[str, int]) -> list[tuple[str, float, float, str]]:
    """Print the commands' instruction counts; their goals, as `main` lists them."""
    print("  instructions of the commands (valgrind callgrind, start-up included):")
    for name, label in (
        ("replay", "reactor replay"),
        ("report", "reactor replay --report"),
        ("diff", "reactor diff"),
    ):
        print(f"    {label:<38} {counts[name] / 1e9:7.2f} G   {counts[name] / counts['replay']:6.3f}")
    return [
        ("diff / replay, commands' instructions", counts["diff"] / counts["replay"], 2.2, "x"),
        ("report overhead, commands' instructions", counts["report"] / counts["replay"] - 1, 0.10, ""),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--profiles", type=int, default=2_000)
    parser.add_argument("--reactions", type=int, default=100)
    parser.add_argument(
        "--rounds", type=int, default=5, help="interleaved rounds; the least time of each counts"
    )
    parser.add_argument("--instructions", action="store_true", help="also count instructions with valgrind")
    parser.add_argument(
        "--command-instructions",
        action="store_true",
        help="also count the commands' instructions with valgrind",
    )
    parser.add_argument("--no-timing", action="store_true", help="with --(command-)instructions: count only")
    parser.add_argument("--work", choices=WORKS, help=argparse.SUPPRESS)
    args = parser.parse_args()
    tune_gc()  # as the commands run
    if args.work is not None:  # a child of `instructions`
        with tempfile.TemporaryDirectory() as tmp:
            base, new, lines, _, _ = setup(args, Path(tmp))
            work(args.work, base, new, lines)
        return
    print(f"diff benchmark: {args.events} events, {args.profiles} profiles, {args.reactions} reactions")
    if args.no_timing and args.instructions:
        counts = instructions(args)
        for name in ("replay", "report", "diff"):
            print(
                f"    {name:<10} {counts[name] / 1e9:7.2f} G instructions   {counts[name] / counts['replay']:6.3f}"
            )
        return
    times: dict[str, list[float]] = {name: [] for name in WORKS[1:]}
    commands: dict[str, list[float]] = {"replay": [], "report": [], "diff": []}
    with tempfile.TemporaryDirectory() as tmp:
        base, new, lines, base_root, new_root = setup(args, Path(tmp))
        events = Path(tmp) / "events.jsonl"
        events.write_bytes(b"\n".join(lines) + b"\n")
        report_file = Path(tmp) / "report.html"
        probe = run_diff(base, new, enumerate(lines, 1), file_name="events.jsonl")
        size = replay(base, lines, report=True)
        diff_size = diff(base, new, lines, html=True)
        runs = {
            "replay": ["replay", "--config", str(base_root), str(events)],
            "report": ["replay", "--config", str(base_root), "--report", str(report_file), str(events)],
            "diff": ["diff", "--base", str(base_root), "--config", str(new_root), str(events)],
        }
        counted = command_instructions(runs) if args.command_instructions else None
        if counted is not None and args.no_timing:
            print_command_instructions(counted)
            return
        # Rounds interleave the workloads, so that each sees the same mix of
        # whatever else this shared machine is doing.
        for _ in range(args.rounds):
            for name in times:
                times[name].append(best(1, lambda name=name: work(name, base, new, lines))[0])
            for name, run in runs.items():
                commands[name].append(command(*run))
    t = {name: min(values) for name, values in times.items()}
    c = {name: min(values) for name, values in commands.items()}
    print(
        f"  {probe.base.summary['actions']} actions under base, {probe.new.summary['actions']} under new; "
        f"{probe.differing} of {probe.with_actions} profiles differ; report {size / 1024:,.0f} KiB, "
        f"diff report {diff_size / 1024:,.0f} KiB"
    )
    print(f"  in-process (the work alone), CPU seconds, least of {args.rounds} interleaved rounds:")
    print(f"    replay, actions as JSON                {t['replay']:7.3f}")
    print(
        f"    replay + tally + HTML report           {t['report']:7.3f}   {t['report'] / t['replay'] - 1:+7.1%}"
    )
    print(
        f"    replay under the new configuration     {t['replay-new']:7.3f}   {t['replay-new'] / t['replay']:6.2f}x"
    )
    print(f"    diff (both replays, compare, text)     {t['diff']:7.3f}   {t['diff'] / t['replay']:6.2f}x")
    both = t["replay"] + t["replay-new"]
    print(
        f"    diff / (base replay + new replay)      {t['diff'] / both:7.3f}   (what comparing adds to the two)"
    )
    print(
        f"    diff + HTML report (second pass)       {t['diff-html']:7.3f}   {t['diff-html'] / t['replay']:6.2f}x"
    )
    print("  the commands, end to end (a process each, start-up included), CPU seconds:")
    print(f"    reactor replay                         {c['replay']:7.3f}")
    print(
        f"    reactor replay --report                {c['report']:7.3f}   {c['report'] / c['replay'] - 1:+7.1%}"
    )
    print(f"    reactor diff                           {c['diff']:7.3f}   {c['diff'] / c['replay']:6.2f}x")
    goals = [
        ("diff / replay, in-process time", t["diff"] / t["replay"], 2.2, "x"),
        ("diff / replay, commands", c["diff"] / c["replay"], 2.2, "x"),
        ("report overhead, in-process time", t["report"] / t["replay"] - 1, 0.10, ""),
        ("report overhead, commands", c["report"] / c["replay"] - 1, 0.10, ""),
    ]
    if args.instructions:
        counts = instructions(args)
        print("  instructions (valgrind callgrind, set-up taken off), in-process:")
        for name, label in (("replay", "replay"), ("report", "replay + report"), ("diff", "diff")):
            print(f"    {label:<38} {counts[name] / 1e9:7.2f} G   {counts[name] / counts['replay']:6.3f}")
        goals += [
            ("diff / replay, instructions", counts["diff"] / counts["replay"], 2.2, "x"),
            ("report overhead, instructions", counts["report"] / counts["replay"] - 1, 0.10, ""),
        ]
    if counted is not None:
        goals += print_command_instructions(counted)
    for name, value, goal, unit in goals:
        shown = f"{value:.2f}x" if unit else f"{value:+.1%}"
        limit = f"{goal}x" if unit else f"{goal:.0%}"
        print(f"  goal {name} <= {limit}: {shown}, {'met' if value <= goal else 'not met'}")


if __name__ == "__main__":
    main()
