"""Worst-case benchmark: what the hostile inputs of issue #10 cost now.

Each case runs `reactor validate` or `reactor replay` in a fresh process, as a
user runs it, and reports its wall time and peak memory (max RSS, from
wait4), next to a baseline measured in the same run: validating the bundled
sample configuration, and replaying clean events with the same configuration.
Nothing here is asserted; the README's "Limits" section quotes the figures.

    python benchmarks/hostile.py [--quick]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))

import hostile  # noqa: E402
from support import write_config  # noqa: E402


@dataclass
class Run:
    seconds: float
    peak_mib: float
    code: int
    last: str


#: Runs the command and, at exit, writes its own peak RSS (VmHWM) to a file. Not
#: ru_maxrss: Linux carries the forking parent's high-water mark into a child.
_WRAPPER = """
import atexit, sys
target = sys.argv[1]
def peak():
    with open("/proc/self/status") as status, open(target, "w") as out:
        out.write(next(line for line in status if line.startswith("VmHWM:")).split()[1])
atexit.register(peak)
sys.argv = ["reactor", *sys.argv[2:]]
from reactor.cli import main
main()
"""


def run(*args: str, pipe: Path | None = None) -> Run:
    """`reactor *args` in a child process: wall time, peak RSS, exit code and
    the last line it wrote to stderr. With `pipe`, its stdin is that file
    through a pipe (`cat FILE | reactor ...`), so it is read as it arrives."""
    with tempfile.TemporaryFile() as err, tempfile.NamedTemporaryFile() as peak:
        started = time.perf_counter()
        cat = subprocess.Popen(["cat", str(pipe)], stdout=subprocess.PIPE) if pipe else None
        done = subprocess.run(
            [sys.executable, "-c", _WRAPPER, peak.name, *args],
            cwd=REPO,
            stdin=cat.stdout if cat else subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )
        if cat is not None:
            assert cat.stdout is not None
            cat.stdout.close()
            cat.wait()
        seconds = time.perf_counter() - started
        err.seek(0)
        lines = err.read().decode(errors="replace").strip().splitlines()
        kib = int(Path(peak.name).read_text() or 0)
    return Run(seconds, kib / 1024, done.returncode, lines[-1][:150] if lines else "")


def write(folder: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (folder / "reactions").mkdir(exist_ok=True)
    (folder / "targets").mkdir(exist_ok=True)
    return folder


def laughs(levels: int) -> str:
    rows = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(1, levels):
        rows.append(f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * 10) + "]")
    return "\n".join(rows) + "\n"


def reactions(count: int, start: int = 0) -> str:
    rows = ["reactions:"]
    for n in range(start, start + count):
        rows.append(
            f'  - {{id: r{n}, on: [transaction.created], when: {{">": [{{"var": "transaction.total"}}, {n}]}}, '
            f"actions: [{{type: tag.add, tag: t{n % 50}}}]}}"
        )
    return "\n".join(rows) + "\n"


def fit(text: str, size: int) -> str:
    """`text` cut after its last whole line within `size` bytes."""
    return text[: text.rindex("\n", 0, size) + 1]


def big_rule(items: int) -> str:
    rows = [
        "reactions:",
        "  - id: big",
        "    on: [transaction.created]",
        '    when: {"in": [{"var": "transaction.id"}, [',
    ]
    rows += [f'      "t-{n}",' for n in range(items)]
    rows += ['      "t-last"]]}', "    actions: [{type: tag.add, tag: listed}]"]
    return "\n".join(rows) + "\n"


def events(count: int, profiles: int) -> bytes:
    return b"".join(hostile.valid_line(n, f"p-{n % profiles}") + b"\n" for n in range(count))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller replays (a few seconds each)")
    args = parser.parse_args()
    clean_events = 5_000 if args.quick else 20_000
    rows: list[tuple[str, Run, Run]] = []
    with tempfile.TemporaryDirectory() as scratch:
        tmp = Path(scratch)
        sample = run("validate", "--config", str(REPO))

        def validate(name: str, files: dict[str, str]) -> None:
            folder = write(tmp / name.replace(" ", "-"), files)
            rows.append((f"validate: {name}", run("validate", "--config", str(folder)), sample))

        validate("billion laughs, 1 KB, 10^9 nodes", {"reactions/laughs.yaml": laughs(9)})
        validate("billion laughs, 2 KB, 10^20 nodes", {"reactions/laughs.yaml": laughs(20)})
        validate("a rule holding a 1,000,000-item list", {"reactions/big.yaml": big_rule(1_000_000)})
        validate(
            "1,000 x 1,000 aliases in a rule",
            {
                "reactions/big.yaml": "reactions:\n  - id: big\n    on: [profile.updated]\n"
                '    when: {"in": [{"var": "email"}, &l1 [' + ", ".join(['"x"'] * 1000) + "]]}\n"
                '    actions: [{type: tag.add, tag: x}]\n  - {id: b2, on: [profile.updated], when: {"in": '
                '[{"var": "email"}, ['
                + ", ".join(["*l1"] * 1000)
                + "]]}, actions: [{type: tag.add, tag: x}]}\n"
            },
        )
        validate("100,000 reactions in one file", {"reactions/many.yaml": reactions(100_000)})
        validate(
            "100,000 reactions in 250 files",
            {f"reactions/many-{f:03d}.yaml": reactions(400, f * 400) for f in range(250)},
        )
        validate(
            "2,000 reactions (the most), 2 files",
            {"reactions/a.yaml": reactions(1_000), "reactions/b.yaml": reactions(1_000, 1_000)},
        )
        validate(
            "512 KiB of reactions (the most bytes), 2 files",
            {
                "reactions/a.yaml": fit(reactions(2_100), 262_144),
                "reactions/b.yaml": fit(reactions(2_100, 5_000), 262_144),
            },
        )
        validate("a rule of 10,000 values (the most)", {"reactions/big.yaml": big_rule(9_993)})
        validate(
            "256 KiB of 20,000-byte comment lines", {"reactions/c.yaml": ("#" + "x" * 19_999 + "\n") * 13}
        )
        validate(
            "100 merges of one anchor (the most)",
            {
                "reactions/m.yaml": "reactions:\n  - &d {id: r, on: [profile.updated], actions: [{type: tag.add, tag: x}]}\n"
                + "".join(f"  - {{<<: *d, id: r{n}}}\n" for n in range(100))
            },
        )

        # Replays: the hostile configuration of the tests, clean events as the baseline.
        config = write_config(tmp / "hostile-config", hostile.CONFIG)
        clean = tmp / "clean.jsonl"
        clean.write_bytes(events(clean_events, 200))
        baseline = run("replay", "--config", str(config), str(clean))
        per_line = baseline.seconds / clean_events

        def replay(name: str, data: bytes | Path, config_root: Path = config, base: Run = baseline) -> None:
            path = data if isinstance(data, Path) else tmp / f"{len(rows)}.jsonl"
            if not isinstance(data, Path):
                path.write_bytes(data)
            rows.append((f"replay: {name}", run("replay", "--config", str(config_root), str(path)), base))

        corpus = REPO / "tests" / "corpus" / "hostile.jsonl"
        lines = corpus.read_bytes().count(b"\n")
        same_count = tmp / "same-count.jsonl"
        same_count.write_bytes(events(lines, 200))
        same = run("replay", "--config", str(config), str(same_count))
        rows.append((f"replay: {clean_events:,} clean events (baseline)", baseline, baseline))
        replay(f"the hostile corpus ({lines:,} lines)", corpus, base=same)
        with open(tmp / "one-line.jsonl", "wb") as stream:  # 100 MB and no newline
            for _ in range(100):
                stream.write(b"x" * 1_000_000)
        replay("one 100 MB line, a file (read whole to sort it)", tmp / "one-line.jsonl")
        through_pipe = run("replay", "--config", str(config), "-", pipe=tmp / "one-line.jsonl")
        rows.append(("replay: one 100 MB line, through a pipe", through_pipe, baseline))
        wide = hostile.build(
            "profile.updated", 0, "p-0", ["data", "profile", "attributes"], list(range(150_000))
        )
        replay(
            f"200 snapshots of {len(wide) // 1024:,} KiB (150,000-item lists)",
            b"".join(wide.replace(b'"h-0"', f'"w-{n}"'.encode()) + b"\n" for n in range(200)),
        )
        replay(
            "1,000 snapshots of 1,000 tags and 1,000 statuses",
            b"".join(
                hostile.build(
                    "profile.updated",
                    n,
                    "p-0",
                    ["data", "profile"],
                    {
                        "id": "p-0",
                        "tags": [f"t{i}" for i in range(1000)],
                        "statuses": [{"handle": f"s{i}"} for i in range(1000)],
                    },
                )
                + b"\n"
                for n in range(1000)
            ),
        )
        most = write(
            tmp / "most", {"reactions/a.yaml": reactions(1_000), "reactions/b.yaml": reactions(1_000, 1_000)}
        )
        few = tmp / "few.jsonl"
        few.write_bytes(events(clean_events // 10, 200))
        few_baseline = run("replay", "--config", str(config), str(few))
        replay(
            f"{clean_events // 10:,} events against 2,000 reactions", few, config_root=most, base=few_baseline
        )
        # Not bounded: time-driven work between two far-apart events (the sample's weekly
        # automation ticks ~9,000 times from 2026 to 2200, over every profile).
        far = (
            (REPO / "examples" / "events.jsonl").read_bytes()
            + hostile.build("profile.deleted", 1, "p-x", ["occurred_at"], hostile.LATEST)
            + b"\n"
        )
        sample_replay = run("replay", str(REPO / "examples" / "events.jsonl"))
        replay(
            "the sample story, then one event in 2200 (sample config)",
            far,
            config_root=REPO,
            base=sample_replay,
        )

    print(
        f"hostile benchmark: Python {sys.version.split()[0]}, each case a fresh process (wall time, peak RSS)"
    )
    print(f"  baseline validate of the sample config: {sample.seconds:.2f} s, {sample.peak_mib:.0f} MiB")
    print(
        f"  baseline replay: {clean_events:,} clean events in {baseline.seconds:.2f} s ({per_line * 1e6:.0f} µs/line)"
    )
    width = max(len(name) for name, _, _ in rows)
    for name, result, base in rows:
        print(
            f"  {name:<{width}}  {result.seconds:7.2f} s ({result.seconds / base.seconds:5.1f}x)  "
            f"{result.peak_mib:6.0f} MiB ({result.peak_mib / base.peak_mib:4.1f}x)  exit {result.code}"
        )
        if result.code != 0:
            print(f"  {'':<{width}}  {result.last}")


if __name__ == "__main__":
    main()
