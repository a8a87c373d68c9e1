"""Instructions per event: the core benchmark's pipeline, counted by callgrind.

CPU time on a shared 2-core machine moves by 20 % and more between identical
runs; the number of instructions an event costs does not. This counts them
for the configurations of `benchmarks/core.py` (the same reactions and
events: 100 reactions, 2,000 profiles), for this tree and for a baseline
commit (a git worktree of it), each in its own process under
`valgrind --tool=callgrind`:

    per event = (count after 6,000 events - count after 4,000) / 2,000

(events 4,001 to 6,000: after the first visit of most profiles, without the
start-up and loading that both runs share). Each run has PYTHONHASHSEED=0 and,
where `setarch` exists, address randomisation off: string hashes decide the
layout of dicts and sets, and with a random seed the count of one tree moves
by up to ~3,000 between runs; with these, by a few hundred.

Configurations (`--configs`): `plain` (the benchmark's), `idle` (the two
reminders whose `when` holds for no profile: their cost apart from what
they do), `reminders` (the two reminders firing), `programme` (the sample
programme's tiers and achievements). The baseline runs `plain` only (it may
not know the others). Ratios: baseline / this for `plain` (issue #11: within
5 % in events/s), plain / idle and plain / reminders (issue #13: within 10 %).

Needs valgrind; about a minute per configuration and tree.

    python benchmarks/instructions.py [--baseline b8dc202] [--configs plain,idle,reminders]
    python benchmarks/instructions.py --rules    # the rules alone: datalogic / json-logic-qubit

`--rules` counts the rules alone, one by one and in reactor's batches, as
`benchmarks/core.py` times them (its goal: datalogic at least 10x
json-logic-qubit), on the 19,677 rule evaluations of events 2,001-2,400
(qubit is slow under callgrind); a batch's compiling is not counted.
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from core import generate_events, write_config  # the core benchmark's configuration and events

REPO = Path(__file__).resolve().parent.parent

#: What the child runs under callgrind: the first N events of the file
#: through `Replay`, actions made into JSON as `reactor replay` does (only
#: API that every version since the first has).
CHILD = """
import sys
from pathlib import Path
from reactor.config import load_config
from reactor.replay import Replay
try:
    from reactor.runtime import tune_gc
    tune_gc()
except ImportError:
    pass
config = load_config(Path(sys.argv[1]))
lines = Path(sys.argv[2]).read_bytes().splitlines()[: int(sys.argv[3])]
out = []
Replay(config, on_action=lambda a: out.append(a.to_json()), on_reject=lambda r: None).feed_lines(
    enumerate(lines, 1)
)
"""

#: For `--rules`: the rule evaluations (`when`, context) of events 2,001-2,400,
#: captured as `benchmarks/core.py` captures them (untimed), then run through
#: core.py's own timed loops: one by one with datalogic (one parse per
#: context) or json-logic-qubit, or in reactor's batches (argv[3] "none" and
#: "compile": what the others subtract).
RULES_CHILD = """
import gc
import sys
from pathlib import Path
sys.path.insert(0, sys.argv[4])
from core import batched, capture_rule_work, time_batches, time_rules
from reactor.config import load_config
config = load_config(Path(sys.argv[1]))
lines = Path(sys.argv[2]).read_bytes().splitlines()
head = capture_rule_work(config, lines[:2000])
work = capture_rule_work(config, lines[:2400])[len(head):]
Path(sys.argv[5]).write_text(str(len(work)))
if sys.argv[3] in ("datalogic", "qubit"):
    time_rules(work, sys.argv[3])  # the loop core.py times
elif sys.argv[3] in ("compile", "batched"):
    groups = batched(work)  # compiled (core.py: untimed)
    if sys.argv[3] == "batched":
        time_batches(groups)
    else:
        gc.collect()  # as time_batches does first
else:
    gc.collect()  # as time_rules does first
"""

CONFIGS = {
    "plain": {},
    "idle": {"reminders_idle": True},
    "reminders": {"reminders": True},
    "programme": {"programme": True},
}
LABELS = {
    "plain": "the benchmark's configuration",
    "idle": "with the 2 reminders, none holding",
    "reminders": "with the 2 reminders (birthday, benefit)",
    "programme": "with tiers and achievements",
}


_RUNS = itertools.count()


def count(src: Path, root: Path, events: Path, n: int, work: Path) -> int:
    """Instructions of a whole run of the first `n` events."""
    return _callgrind(src, work, [CHILD, str(root), str(events), str(n)])


def _callgrind(src: Path, work: Path, child: list[str]) -> int:
    """Instructions of `python -c child[0] child[1:]`."""
    out = work / f"callgrind.{next(_RUNS)}"
    command = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable, "-c", *child]
    if shutil.which("setarch"):
        command = ["setarch", "-R", *command]
    env = {**os.environ, "PYTHONPATH": str(src), "PYTHONHASHSEED": "0"}
    subprocess.run(command, env=env, check=True, capture_output=True)
    text = out.read_text(errors="replace")
    out.unlink()
    found = re.search(r"^(?:summary|totals): (\d+)", text, re.MULTILINE)
    if found is None:
        raise SystemExit(f"no instruction count in callgrind's output for {src}")
    return int(found.group(1))


def per_event(src: Path, root: Path, events: Path, work: Path, first: int, last: int) -> int:
    with ThreadPoolExecutor(2) as pool:  # the two runs of one tree side by side
        low, high = pool.map(lambda n: count(src, root, events, n, work), (first, last))
    return (high - low) // (last - first)


def rules_ratio(root: Path, events: Path, work: Path) -> tuple[int, int, int, int]:
    """(evaluations, then instructions per evaluation: datalogic one by one,
    datalogic in reactor's batches, qubit) for the rules alone (the goal
    `benchmarks/core.py` reads in CPU time)."""
    counts = work / "evaluations"
    runs = [
        [RULES_CHILD, str(root), str(events), how, str(REPO / "benchmarks"), str(counts)]
        for how in ("none", "datalogic", "qubit", "compile", "batched")
    ]
    with ThreadPoolExecutor(2) as pool:
        capture, datalogic, qubit, compiled, batched = pool.map(
            lambda child: _callgrind(REPO / "src", work, child), runs
        )
    n = int(counts.read_text())
    return n, (datalogic - capture) // n, (batched - compiled) // n, (qubit - capture) // n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--baseline", default="b8dc202", help="commit to compare with (plain only)")
    parser.add_argument("--configs", default="plain,idle,reminders", help=f"of {', '.join(CONFIGS)}")
    parser.add_argument("--first", type=int, default=4000)
    parser.add_argument("--last", type=int, default=6000)
    parser.add_argument(
        "--rules",
        action="store_true",
        help="only the rules alone, datalogic / json-logic-qubit one by one (needs the bench extra)",
    )
    args = parser.parse_args()
    if args.rules:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            events = work / "events.jsonl"
            events.write_bytes(b"\n".join(generate_events(20_000, 2_000, random.Random(42))) + b"\n")
            write_config(work / "plain", 100, random.Random(42))
            n, datalogic, batched, qubit = rules_ratio(work / "plain", events, work)
        print(f"the rules alone: {n:,} evaluations (events 2,001-2,400), instructions each")
        print(f"  datalogic-py, one by one (one parse per context)   {datalogic:>9,}")
        print(f"  datalogic-py, batched as reactor                   {batched:>9,}")
        print(f"  json-logic-qubit                                   {qubit:>9,}")
        print(
            f"  datalogic / qubit (goal >= 10x): {qubit / datalogic:.1f}x one by one,"
            f" {qubit / batched:.1f}x batched"
        )
        return
    configs = [c for c in args.configs.split(",") if c]
    unknown = [c for c in configs if c not in CONFIGS]
    if unknown:
        raise SystemExit(f"unknown configuration {unknown[0]!r}: expected one of {', '.join(CONFIGS)}")
    if shutil.which("valgrind") is None:
        raise SystemExit("valgrind is not installed (apt-get install valgrind)")
    results: dict[str, int] = {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        events = work / "events.jsonl"
        events.write_bytes(b"\n".join(generate_events(20_000, 2_000, random.Random(42))) + b"\n")
        roots = {}
        for name in {"plain", *configs}:
            roots[name] = work / name
            write_config(roots[name], 100, random.Random(42), **CONFIGS[name])
        for name in configs:
            results[name] = per_event(REPO / "src", roots[name], events, work, args.first, args.last)
        if args.baseline:
            tree = work / "baseline"
            subprocess.run(
                ["git", "-C", str(REPO), "worktree", "add", "--detach", "--quiet", str(tree), args.baseline],
                check=True,
            )
            try:
                results["baseline"] = per_event(
                    tree / "src", roots["plain"], events, work, args.first, args.last
                )
            finally:
                subprocess.run(
                    ["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)], check=True
                )
    print(f"instructions per event, events {args.first + 1:,}-{args.last:,} (callgrind, PYTHONHASHSEED=0)")
    if "baseline" in results:
        print(f"  {args.baseline + ', ' + LABELS['plain']:<58}{results['baseline']:>10,}")
    for name in configs:
        print(f"  {'this version, ' + LABELS[name]:<58}{results[name]:>10,}")
    if "baseline" in results and "plain" in results:
        ratio = results["baseline"] / results["plain"]
        print(f"  {args.baseline} / this version (issue #11, goal >= 0.95): {ratio:.3f}")
    for name in ("idle", "reminders"):
        if name in results and "plain" in results:
            ratio = results["plain"] / results[name]
            print(f"  plain / {name} (issue #13, goal >= 0.9): {ratio:.3f}")


if __name__ == "__main__":
    main()
