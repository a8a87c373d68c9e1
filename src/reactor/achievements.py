"""Achievements (CONTRACT §7): counts that only go up, and levels that are
never lost.

An achievement has level thresholds, lowest first (`[1, 5, 10, 25]`). The step
`achievement.progress {achievement, count}` adds `count` (> 0) to the total;
each threshold the new total reaches for the first time is a level crossed,
several at once when one large count passes more than one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Achievement", "crossed"]


@dataclass(frozen=True, slots=True)
class Achievement:
    """An achievement, checked: thresholds strictly rising, each above 0."""

    handle: str
    name: str
    levels: tuple[int | float, ...]
    meta: dict[str, Any] = field(default_factory=dict)


def crossed(
    thresholds: Sequence[int | float], total_before: float, total_after: float
) -> list[tuple[int, int | float]]:
    """The levels (numbered from 1) whose threshold lies in
    `(total_before, total_after]`, lowest first, with their thresholds."""
    return [
        (number, threshold)
        for number, threshold in enumerate(thresholds, start=1)
        if total_before < threshold <= total_after
    ]
