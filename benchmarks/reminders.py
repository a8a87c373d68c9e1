"""Reminders benchmark: time-driven work costs what comes due, not profiles x days.

A daily birthday reminder (`of: profile.birthday`, a week before, at 09:00
Sydney time) over a year of replay: each profile sends one snapshot on
1 January, then nothing, and `replay --until` runs the year's time-driven work.
Three populations, in one run:

- 50,000 profiles, of which 1,000 have a birthday (1,000 reminders due);
- 1,000 profiles, all with a birthday (the same 1,000 reminders due);
- 50,000 profiles, all with a birthday (50,000 reminders due).

Only the time-driven part is timed (`finish(until)`, after the snapshots):
a scan of every profile on every day would cost the first 50x the second
(profiles x days); work in proportion to the reminders due costs them the
same, and the third 50x the second. It prints, for each, the seconds, the
reminders fired and the microseconds per reminder, and the ratios.

Goal (issue #13): the first within 1.5x the second (what 49,000 profiles with
nothing due add), and the cost per reminder of the third within 1.5x the
second's.

    python benchmarks/reminders.py [--profiles 50000] [--with-birthday 1000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import gc
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import orjson

from reactor.config import Config, load_config
from reactor.replay import Replay
from reactor.runtime import tune_gc

CONFIG = """
programme: {timezone: Australia/Sydney}
benefits:
  - {handle: birthday-gift, name: Birthday gift, kind: free_product, valid_for: 30d}
reminders:
  - id: birthday-week
    of: profile.birthday
    before: 7d
    at: "09:00"
    actions: [{type: benefit.create, benefit: birthday-gift}]
"""

START, UNTIL = "2026-01-01T00:00:00Z", "2026-12-31T23:59:59Z"


def write_config(root: Path) -> Config:
    (root / "reactions").mkdir(parents=True)
    (root / "targets").mkdir()
    (root / "reactions" / "programme.yaml").write_text(CONFIG)
    return load_config(root)


def snapshots(profiles: int, with_birthday: int) -> list[bytes]:
    """One snapshot per profile on 1 January (one second apart); the first
    `with_birthday` profiles have a birthday, spread over the year from
    14 January on (so each one's reminder, a week before, falls in the year)."""
    lines = []
    for n in range(profiles):
        pid = f"p-{n:06d}"
        profile: dict[str, object] = {"id": pid, "first_name": "Ava", "email": f"{pid}@example.com"}
        if n < with_birthday:
            day = date(2026, 1, 14) + timedelta(days=n * 340 // with_birthday)  # 14 January to 19 December
            profile["birthday"] = f"19{70 + n % 30}-{day:%m-%d}"
        at = f"2026-01-01T{n // 3600 % 24:02d}:{n // 60 % 60:02d}:{n % 60:02d}Z"
        lines.append(
            orjson.dumps(
                {
                    "id": f"s-{n}",
                    "type": "profile.updated",
                    "occurred_at": at,
                    "profile_id": pid,
                    "data": {"profile": profile},
                }
            )
        )
    return lines


def time_due(config: Config, lines: list[bytes]) -> tuple[float, int]:
    """CPU seconds of the year's time-driven work after the snapshots, and
    the reminders it fired (one benefit.create each)."""
    fired = [0]

    def on_action(action: object) -> None:
        fired[0] += getattr(action, "type", "") == "benefit.create"

    runner = Replay(config, on_action, lambda r: None, "snapshots.jsonl")
    runner.feed_lines(enumerate(lines, 1))
    gc.collect()
    started = time.process_time()
    runner.finish(UNTIL)
    return time.process_time() - started, fired[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profiles", type=int, default=50_000)
    parser.add_argument("--with-birthday", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    tune_gc()
    with tempfile.TemporaryDirectory() as tmp:
        config = write_config(Path(tmp))
    many, few = args.profiles, args.with_birthday
    populations = {
        "sparse": snapshots(many, few),  # many profiles, few birthdays
        "dense": snapshots(few, few),  # only the profiles with a birthday
        "all": snapshots(many, many),  # many profiles, all with a birthday
    }
    results: dict[str, list[tuple[float, int]]] = {name: [] for name in populations}
    for _ in range(args.rounds):  # in turns, so that all meet the same machine
        for name, lines in populations.items():
            results[name].append(time_due(config, lines))
    best = {name: min(values) for name, values in results.items()}
    print(
        f"reminders benchmark: a birthday reminder over {START[:10]} to {UNTIL[:10]} (--until), CPU seconds"
    )
    labels = {
        "sparse": f"{many:,} profiles, {few:,} with a birthday",
        "dense": f"{few:,} profiles, all with a birthday",
        "all": f"{many:,} profiles, all with a birthday",
    }
    for name, (seconds, fired) in best.items():
        per = seconds / fired * 1e6 if fired else float("nan")
        print(f"    {labels[name]:<42} {seconds:8.3f} s  {fired:>7,} reminders  {per:8.1f} us each")
    sparse, dense, every = best["sparse"], best["dense"], best["all"]
    if not (sparse[1] == dense[1] == few and every[1] == many):
        raise SystemExit(f"expected {few} and {many} reminders, fired {sparse[1]}, {dense[1]}, {every[1]}")
    extra = sparse[0] / dense[0]
    per_ratio = (every[0] / every[1]) / (dense[0] / dense[1])
    scan = many / few
    print(f"  ratios (a scan of profiles x days would give {scan:.0f}x for the first):")
    print(f"    {labels['sparse']} / {labels['dense']}: {extra:5.2f}x")
    print(f"    per reminder, {labels['all']} / {labels['dense']}: {per_ratio:5.2f}x")
    print(f"  goal the first <= 1.5x the second: {extra:.2f}x, {'met' if extra <= 1.5 else 'not met'}")
    print(f"  goal per reminder within 1.5x: {per_ratio:.2f}x, {'met' if per_ratio <= 1.5 else 'not met'}")


if __name__ == "__main__":
    main()
