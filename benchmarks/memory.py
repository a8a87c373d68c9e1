"""Memory benchmark: bytes of state per profile, and RSS per profile.

Replays generated events (a snapshot and a few transactions per profile) with
the bundled sample configuration and prints, from one run:

- bytes of state per profile as the worker stores it (the changelog value:
  compact JSON), mean and p99, against the goal of <= 2 KB;
- the stored state of one busy profile with 10,000 purchases in its window,
  and the bytes each kept purchase adds;
- the replay process's RSS growth per profile (Python objects in a dict),
  and what that makes for 1 M profiles.

    python benchmarks/memory.py [--profiles 50000] [--events-per-profile 6]
"""

from __future__ import annotations

import argparse
import gc
import random
import resource
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))


def rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize()


def busy_profile_state(config) -> tuple[int, float]:
    """The stored state of one profile with 10,000 purchases in its window,
    and the bytes each purchase adds (from the difference with 1,000)."""
    from scaling import one_profile

    from reactor.replay import Replay

    sizes = {}
    for purchases in (1_000, 10_000):
        runner = Replay(config, on_action=lambda a: None, on_reject=lambda r: None)
        runner.feed_lines(enumerate(one_profile(purchases), 1))
        sizes[purchases] = len(runner.states["p-busy"].to_json())
    return sizes[10_000], (sizes[10_000] - sizes[1_000]) / 9_000


def main() -> None:
    from core import generate_events
    from reactor.config import load_config
    from reactor.replay import Replay

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profiles", type=int, default=50_000)
    parser.add_argument("--events-per-profile", type=int, default=6)
    args = parser.parse_args()
    config = load_config(REPO)
    lines = generate_events(args.profiles * args.events_per_profile, args.profiles, random.Random(5))
    gc.collect()
    before = rss_bytes()
    runner = Replay(config, on_action=lambda a: None, on_reject=lambda r: None)
    runner.feed_lines(enumerate(lines, 1))
    del lines
    gc.collect()
    after = rss_bytes()
    sizes = sorted(len(state.to_json()) for state in runner.states.values())
    held = len(sizes)
    mean = sum(sizes) / held
    p99 = sizes[int(held * 0.99) - 1]
    per_profile_rss = (after - before) / held
    print(
        f"memory benchmark: {held:,} profiles, {args.events_per_profile} events each on average, sample config"
    )
    print(
        f"  state per profile (table value, JSON): mean {mean:,.0f} B, p99 {p99:,} B, max {sizes[-1]:,} B"
        f"  (goal <= 2,048 B: {'met' if mean <= 2048 else 'not met'})"
    )
    busy_bytes, per_purchase = busy_profile_state(config)
    print(
        f"  a busy profile with 10,000 purchases kept (a year, one every ~50 min): {busy_bytes:,} B of state, "
        f"{per_purchase:.1f} B per purchase kept (purchase, tier points, and event id for the dedupe window)"
    )
    print(
        f"  replay RSS growth: {per_profile_rss:,.0f} B per profile; "
        f"1 M profiles ~ {per_profile_rss * 1_000_000 / 2**30:.1f} GiB in replay, "
        f"~ {(mean + 120) * 1_000_000 / 2**30:.1f} GiB as a worker's memory-store table (value + key + dict entry)"
    )


if __name__ == "__main__":
    main()
