"""Tiers (CONTRACT §7): one level held per program, attained on a rolling
measure, maintained or lost at a review.

Pure decisions over numbers: the engine measures (`tier_points_12m` or
`spend_12m` at the time), asks what follows, and emits `tier.assign`.

- **Joined**: a profile with no level yet in a program holds its floor.
- **Attained**: once an event (and every cascade it raised) has run, a
  measure that reaches a higher level's `attain` moves the profile straight
  to the highest level reached; a measure that falls never lowers the level
  before its review.
- **Reviewed**: at `review_at`, a measure at least the held level's
  `maintain` (default: its `attain`) keeps it (`maintained`, the next review
  one period on from this one); otherwise the profile drops to the highest
  level whose `maintain` the measure meets, never below the floor
  (`downgraded`). The floor is never reviewed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any, Literal

__all__ = ["Level", "Program", "Verdict", "attained", "reviewed"]

Measure = Literal["tier_points_12m", "spend_12m"]


@dataclass(frozen=True, slots=True)
class Level:
    handle: str
    name: str
    attain: float
    maintain: float
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Program:
    """A tier program, checked: levels lowest first with `attain` strictly
    rising, `maintain` at most `attain`, the floor one of the levels."""

    program: str
    measure: Measure
    review_after: timedelta
    levels: tuple[Level, ...]
    floor: str

    def level(self, handle: str) -> Level | None:
        for level in self.levels:
            if level.handle == handle:
                return level
        return None

    def rank(self, handle: str) -> int:
        """The level's place, lowest first (-1: not a level of this program)."""
        for index, level in enumerate(self.levels):
            if level.handle == handle:
                return index
        return -1

    @property
    def floor_rank(self) -> int:
        return self.rank(self.floor)


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a check decided: the level to hold and why."""

    tier: str
    reason: Literal["joined", "attained", "maintained", "downgraded"]


def attained(program: Program, held: str | None, measure: float) -> Verdict | None:
    """The level `measure` attains above `held` (the highest it reaches), or
    None when it reaches nothing higher. A profile holding nothing yet (or a
    level the program no longer has) holds its floor first: see `joined`."""
    held_rank = program.rank(held) if held is not None else program.floor_rank
    best = None
    for index, level in enumerate(program.levels):
        if index > held_rank and measure >= level.attain:
            best = level
    return None if best is None else Verdict(best.handle, "attained")


def reviewed(program: Program, held: str, measure: float) -> Verdict:
    """The level held after a review of `held` with `measure`."""
    level = program.level(held)
    if level is not None and measure >= level.maintain:
        return Verdict(held, "maintained")
    floor = program.floor_rank
    keep = floor
    for index, candidate in enumerate(program.levels):
        if index >= floor and measure >= candidate.maintain and (level is None or index < program.rank(held)):
            keep = index
    return Verdict(program.levels[keep].handle, "downgraded")
