"""Scaling benchmark: the cost of one event as a profile's history grows.

One profile makes N purchases spread evenly over one year (so all N are in
its 12-month window at the end), with a profile snapshot every 20 purchases
and a refund every 25, through the bundled sample configuration without its
automations (they run over every profile on a schedule: their cost is per
tick, not per event), the way `reactor replay` runs. It prints microseconds
per event for N = 100, 1,000, 10,000 and 50,000, and each figure's ratio to
the first, measured in one run.

Goal (issue #15): the 10,000 figure <= 1.5 x the 100 figure, and 50,000 still flat.

    python benchmarks/scaling.py [--sizes 100,1000,10000,50000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import gc
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

from reactor.config import Config, load_config
from reactor.replay import Replay
from reactor.runtime import tune_gc

REPO = Path(__file__).resolve().parent.parent


def sample_without_automations(root: Path) -> Config:
    """The bundled reactions/ and targets/, less reactions/automations.yaml."""
    shutil.copytree(REPO / "reactions", root / "reactions")
    shutil.copytree(REPO / "targets", root / "targets")
    (root / "reactions" / "automations.yaml").unlink()
    return load_config(root)


def one_profile(purchases: int) -> list[bytes]:
    """A year of one busy profile: `purchases` purchases, a snapshot every
    20, a refund every 25, evenly spread over 364 days."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    step = timedelta(days=364) / purchases
    lines = []
    for n in range(purchases):
        at = (start + step * n).strftime("%Y-%m-%dT%H:%M:%SZ")
        if n % 20 == 0:
            profile = {"id": "p-busy", "first_name": "Ava", "email": "ava@example.com", "tags": ["b2b"]}
            lines.append(
                orjson.dumps(
                    {
                        "id": f"s-{n}",
                        "type": "profile.updated",
                        "occurred_at": at,
                        "profile_id": "p-busy",
                        "data": {"profile": profile},
                    }
                )
            )
        total = -20.0 if n % 25 == 24 else 35.5 + n % 7
        transaction = {
            "id": f"t-{n}",
            "system": "pos",
            "total": total,
            "currency": "AUD",
            "transacted_at": at,
            "location": {"id": f"store-{n % 12}"},
        }
        lines.append(
            orjson.dumps(
                {
                    "id": f"e-{n}",
                    "type": "transaction.created",
                    "occurred_at": at,
                    "profile_id": "p-busy",
                    "data": {"transaction": transaction},
                }
            )
        )
    return lines


def time_replay(config: Config, lines: list[bytes], tail: int) -> float:
    """Seconds per event over the last `tail` events (the profile's window is
    full by then), with actions written out as JSON as replay does."""
    out: list[bytes] = []
    runner = Replay(config, on_action=lambda a: out.append(a.to_json()), on_reject=lambda r: None)
    runner.feed_lines(enumerate(lines[: len(lines) - tail], 1))
    gc.collect()
    started = time.perf_counter()
    runner.feed_lines(enumerate(lines[len(lines) - tail :], len(lines) - tail + 1))
    return (time.perf_counter() - started) / tail


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default="100,1000,10000,50000")
    parser.add_argument("--rounds", type=int, default=3, help="best of N for each size")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    tune_gc()
    with tempfile.TemporaryDirectory() as tmp:
        config = sample_without_automations(Path(tmp))
    print(
        "scaling benchmark: one profile, N purchases over one year (all in its 12-month window), "
        f"sample config without automations, Python {sys.version.split()[0]}"
    )
    print("  purchases   µs per event (last 100 events)   ratio to the first")
    first = None
    results = {}
    for size in sizes:
        lines = one_profile(size)
        seconds = min(time_replay(config, lines, tail=min(100, len(lines))) for _ in range(args.rounds))
        results[size] = seconds
        first = first or seconds
        print(f"  {size:>9,}   {seconds * 1e6:>12.1f}                      {seconds / first:>6.2f}")
    if 100 in results and 10_000 in results:
        ratio = results[10_000] / results[100]
        print(f"  goal: 10,000 <= 1.5 x 100: {ratio:.2f}x, {'met' if ratio <= 1.5 else 'not met'}")
    if 10_000 in results and 50_000 in results:
        ratio = results[50_000] / results[10_000]
        print(
            f"  goal: 50,000 still flat (<= 1.5 x 10,000): {ratio:.2f}x, {'met' if ratio <= 1.5 else 'not met'}"
        )


if __name__ == "__main__":
    main()
