"""What one iteration of the worker decides, before it is written.

- `Work`: one item for one profile (an input event, an expiry, an automation
  tick), kept so that a profile's part of a batch can be run again item by item;
- `Batch`: the states, outputs, dead letters, input offsets and tick records
  of one iteration, written in one transaction;
- `Round`: one run of a partition's time-driven work, possibly over several
  batches, and the tick record that says how far it got.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import orjson
from confluent_kafka import Message

from reactor.events import Event
from reactor.state import ProfileState

__all__ = ["Batch", "Round", "StateTooLarge", "Work", "processing_error", "where"]

log = logging.getLogger("reactor.worker")


@dataclass
class Work:
    """One item of a batch for one profile: an input event, an expiry or an
    automation tick, kept so that the profile's part of the batch can be run
    again item by item if its new state cannot be written."""

    kind: str  # "event", "expiry", "automation"
    event: Event | None = None
    message: Message | None = None
    until: str = ""


@dataclass
class Batch:
    """What one iteration decided, written in one transaction."""

    #: profile id -> (partition, state after the batch or None: forget)
    states: dict[str, tuple[int, ProfileState | None]] = field(default_factory=dict)
    #: profile id -> its state at the start of the batch, and its work items
    started: dict[str, tuple[ProfileState | None, list[Work]]] = field(default_factory=dict)
    #: profile id -> (topic, value) records for it (actions, reaction failures)
    outputs: dict[str, list[tuple[str, bytes]]] = field(default_factory=dict)
    #: dead letters that belong to no profile: (key, value)
    letters: list[tuple[bytes | None, bytes]] = field(default_factory=list)
    #: input (topic, partition) -> next offset, for the offsets commit
    offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    #: partition -> tick record written by this batch
    ticks: dict[int, bytes] = field(default_factory=dict)

    def empty(self) -> bool:
        return not (self.states or self.outputs or self.letters or self.offsets or self.ticks)


@dataclass
class Round:
    """One run of a partition's time-driven work, from the last recorded tick
    to `goal` (the wall clock when it began): the automation ticks still to
    run, and the last profile the first of them ran for. It may take several
    batches (each a transaction of bounded size); its progress is recorded in
    the changelog with each, so a restart resumes it where it stopped, and no
    profile's tick runs twice."""

    last: str
    goal: str
    pending: list[tuple[str, str]]  # (tick, automation id), in order
    after: str | None = None
    ids: list[str] | None = None  # the partition's profiles when the current tick began

    def record(self) -> bytes:
        if not self.pending:
            return orjson.dumps({"at": self.goal})
        return orjson.dumps(
            {"at": self.last, "round": {"goal": self.goal, "pending": self.pending, "after": self.after}}
        )

    @classmethod
    def recorded(cls, value: bytes | None) -> tuple[str | None, Round | None]:
        """(the last complete tick, the round in progress) from a tick record."""
        if value is None:
            return None, None
        try:
            document = orjson.loads(value)
            last = document["at"]
            round_ = document.get("round")
            if round_ is None:
                return str(last), None
            pending = [(str(tick), str(automation)) for tick, automation in round_["pending"]]
            return str(last), cls(str(last), str(round_["goal"]), pending, round_.get("after"))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            log.warning("ignoring a malformed tick record")
            return None, None


def where(message: Message) -> tuple[str, int, int]:
    """(topic, partition, offset) of a message that is not an error."""
    topic, partition, offset = message.topic(), message.partition(), message.offset()
    assert topic is not None and partition is not None and offset is not None
    return topic, partition, offset


class StateTooLarge(ValueError):
    """A profile's state that one changelog record cannot hold."""


def processing_error(exc: Exception) -> dict[str, str]:
    """The dead letter's error for an exception in processing: `state_too_large`
    (the event would grow its profile's state past what the changelog accepts),
    or `internal_error` (unexpected)."""
    if isinstance(exc, StateTooLarge):
        return {"code": "state_too_large", "message": str(exc), "path": ""}
    return {"code": "internal_error", "message": f"{type(exc).__name__}: {exc}", "path": ""}
