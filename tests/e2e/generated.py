"""Generated events for the end-to-end tests and the worker benchmark.

`benchmarks/core.py`'s generator (snapshots and purchases of many profiles,
25 % / 75 %), moved in time so that the worker's wall clock and replay's event
clock cannot disagree: every event lies in the `span` before `end` (default:
the 25 days up to an hour ago), and nothing in the bundled configuration falls
due sooner than 30 days after the event that made it (the welcome gift's 30
days, rewards' 90, statuses' 180, tier reviews' 365), so no time-driven work
falls due before the test ends, in the worker (wall clock) or in replay (event
time). (Were it otherwise, the worker's wall-clock tick would run an expiry
at once that replay runs only after the rest of the profile's events.) Automations are left out of the
configuration the comparisons use (`no_automations`): the worker does not run
schedules that fell before its first start, replay does.
"""

from __future__ import annotations

import random
import shutil
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks"))


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def recent_events(
    count: int,
    profiles: int,
    seed: int = 7,
    end: datetime | None = None,
    span: timedelta = timedelta(days=25),
) -> list[bytes]:
    """`count` events of `profiles` profiles, in time order, evenly over `span` before `end`."""
    from core import generate_events

    end = end or datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    start = end - span
    step = span / max(count, 1)
    out = []
    for n, line in enumerate(generate_events(count, profiles, random.Random(seed))):
        event = orjson.loads(line)
        at = stamp(start + step * n)
        event["occurred_at"] = at
        transaction = event["data"].get("transaction")
        if transaction is not None:
            transaction["transacted_at"] = at
        out.append(orjson.dumps(event))
    return out


def no_automations(root: Path) -> Path:
    """A copy of the bundled configuration without its automations, under `root`."""
    shutil.copytree(REPO / "targets", root / "targets")
    (root / "reactions").mkdir(parents=True)
    for path in (REPO / "reactions").glob("*.yaml"):
        if path.name != "automations.yaml":
            shutil.copy(path, root / "reactions" / path.name)
    return root
