"""Process-wide settings for the long runs: `reactor replay` and `reactor worker`."""

from __future__ import annotations

import gc

__all__ = ["GC_THRESHOLDS", "tune_gc"]

#: CPython's cyclic collector scans the young objects every 700 net container
#: allocations by default. reactor allocates many short-lived dicts and lists
#: per event and makes (almost) no reference cycles, so reference counting frees
#: them and those scans are pure cost: about 8 % of replay time in
#: `benchmarks/core.py`. Scanning every 50,000 keeps the collector for the
#: rare cycle at a fraction of that cost.
GC_THRESHOLDS = (50_000, 10, 10)


def tune_gc() -> None:
    """Collect cycles less often (see `GC_THRESHOLDS`)."""
    gc.set_threshold(*GC_THRESHOLDS)
