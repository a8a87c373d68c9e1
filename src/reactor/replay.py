"""The embedded transport: the core, in-process, over a JSON Lines file.

`Replay` keeps every profile's state in a dict and drives time from the
events: before an event at time T runs, every status expiry and automation
tick due at or before T runs first, in time order (expiries before ticks at the
same instant, automations by priority then id, profiles by id). So the output
is a pure function of the input file and the configuration.

Every line is accounted for: it is blank, or processed, or skipped as a
duplicate, or one dead-letter record holding its raw text (a line that does not
decode, or whose processing raised an unexpected error: `internal_error`, the
profile's state left as it was). So `lines = blank + processed + duplicates +
rejected` in the summary, and no input stops the run.
"""

from __future__ import annotations

import base64
import heapq
from collections import Counter, _count_elements  # type: ignore[attr-defined]
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from operator import attrgetter
from typing import IO, Any

import orjson

from reactor.actions import Action, ReactionFailure
from reactor.clock import format_instant, instant_from_canonical
from reactor.config import Config, Reaction
from reactor.engine import Outcome, next_due, process, run_due, schedule_event
from reactor.errors import InvalidEvent
from reactor.events import Event, decode_event
from reactor.limits import EVENT_BYTES_MAX
from reactor.schedules import Schedule
from reactor.state import ProfileState

__all__ = ["Replay", "ReplayStats", "dead_letter", "is_blank", "raw_fields", "read_lines"]

#: An action's type, for counting in one native call.
_TYPE = attrgetter("type")

#: `Counter.update(iterable)` less its Python frame and its `isinstance(_,
#: Mapping)` (an ABC check, itself a Python frame), twice an event: the
#: counting loop `Counter` runs, native (and kept pure Python by `collections`
#: itself where `_collections` lacks it, so it is always there).
_count = _count_elements


def raw_fields(raw: bytes) -> dict[str, str]:
    """The original bytes for a dead-letter record: as text when they are
    UTF-8, else replaced characters plus the exact bytes in base64."""
    try:
        return {"raw": raw.decode("utf-8")}
    except UnicodeDecodeError:
        return {
            "raw": raw.decode("utf-8", errors="replace"),
            "raw_base64": base64.b64encode(raw).decode(),
        }


def dead_letter(
    error: dict[str, Any], source: dict[str, Any], raw: bytes, reaction_id: str | None = None
) -> dict[str, Any]:
    """A dead-letter record (CONTRACT §1), shared by replay and the worker."""
    record: dict[str, Any] = {"error": error, "source": source, **raw_fields(raw)}
    if reaction_id is not None:
        record["reaction_id"] = reaction_id
    return record


#: What JSON counts as whitespace: a line of only these is blank.
_BLANK = b" \t\r\n"
_BOM = b"\xef\xbb\xbf"


def is_blank(line: bytes) -> bool:
    """Whether a line holds nothing but JSON whitespace (spaces, tabs, CR)."""
    return not line.strip(_BLANK)


def read_lines(stream: IO[bytes], *, blank: bool = False) -> Iterator[tuple[int, bytes]]:
    """(1-based line number, line without its newline) for each line of
    `stream`; blank lines (see `is_blank`) only when `blank` is set.

    Memory stays bounded whatever the input: a line longer than
    `EVENT_BYTES_MAX` is given as its first `EVENT_BYTES_MAX + 1` bytes, which
    `decode_event` rejects as too large, and the rest of it is skipped unread
    into memory. A UTF-8 byte order mark at the very start of the stream is
    dropped (RFC 8259 lets a parser ignore it); anywhere else it is invalid JSON.
    """
    limit = EVENT_BYTES_MAX + 2  # the longest line that fits, with its CR LF
    number = 0
    while True:
        line = stream.readline(limit)
        if not line:
            return
        number += 1
        if number == 1 and line.startswith(_BOM):
            line = line[len(_BOM) :]
        if len(line) >= limit and not line.endswith(b"\n"):
            while True:  # skip the rest of an overlong line, in bounded pieces
                rest = stream.readline(65_536)
                if not rest or rest.endswith(b"\n"):
                    break
            line = line[: EVENT_BYTES_MAX + 1]
        line = line.rstrip(b"\r\n")
        if blank or not is_blank(line):
            yield number, line


@dataclass
class ReplayStats:
    #: Non-blank lines (or messages) fed; each is processed, a duplicate or rejected.
    events: int = 0
    blank: int = 0
    #: Dead-lettered lines: not decodable, or an unexpected error (`internal_errors`).
    rejected: int = 0
    duplicates: int = 0
    #: Unexpected errors, each dead-lettered as `internal_error`: of input
    #: lines (also counted in `rejected`) and of time-driven work.
    internal_errors: int = 0
    actions: int = 0
    reaction_failures: int = 0
    limited_sends: int = 0
    ticks: int = 0
    #: Events skipped because they occurred before their profile was deleted.
    deleted_skipped: int = 0
    #: Refunds whose `points.reverse` found no purchase to take back from.
    reversals_unmatched: int = 0
    #: Counters updated from whole tuples of an outcome in one native call each
    #: (`_count`): type -> actions; (reaction or automation id,
    #: verdict) -> count, see `reaction_counts`.
    actions_by_type: Counter[str] = field(default_factory=Counter)
    verdicts: Counter[tuple[str, str]] = field(default_factory=Counter)
    #: target id -> [sent, limited]
    sends: dict[str, list[int]] = field(default_factory=dict)

    def reaction_counts(self) -> dict[str, dict[str, int]]:
        """Per reaction: `matched` (its `when` held, whatever came of it),
        `fired` (its chain emitted an action), `limited` (its limit stopped it)
        and `failed` (rolled back). So matched >= fired + limited + failed."""
        by_reaction: dict[str, dict[str, int]] = {}
        for (reaction_id, verdict), count in self.verdicts.items():
            by_reaction.setdefault(reaction_id, {})[verdict] = count
        out = {}
        for reaction_id, counts in sorted(by_reaction.items()):
            fired, limited, failed = counts.get("fired", 0), counts.get("limited", 0), counts.get("failed", 0)
            out[reaction_id] = {
                "matched": fired + limited + failed + counts.get("matched", 0),
                "fired": fired,
                "limited": limited,
                "failed": failed,
            }
        return out


class Replay:
    """Runs the pipeline in-process. `on_action` gets each action in output
    order; `on_reject` each dead-letter record (bad lines, failed reactions)."""

    def __init__(
        self,
        config: Config,
        on_action: Callable[[Action], None],
        on_reject: Callable[[dict[str, Any]], None],
        file_name: str = "-",
    ) -> None:
        self.config = config
        self.on_action = on_action
        self.on_reject = on_reject
        self.file_name = file_name
        self.states: dict[str, ProfileState] = {}
        self.clock: str | None = None
        self.stats = ReplayStats()
        # A heap of (expires_at, profile_id), and the one entry per profile that
        # is current: an entry that no longer matches is stale and skipped.
        self._expiries: list[tuple[str, str]] = []
        self._scheduled: dict[str, str] = {}
        # The first automation tick after the clock (None: no more ticks), when
        # known: it is computed again only once the clock has passed it.
        self._next_tick: str | None = None
        self._next_tick_known = False
        #: Whether any automation ticks at all (else time brings due work only).
        self._ticking = next(self._schedules(), None) is not None

    # --- input ---------------------------------------------------------------

    def feed_lines(self, lines: Iterable[tuple[int, bytes]]) -> None:
        for number, raw in lines:
            self.feed(raw, {"file": self.file_name, "line": number})

    def feed(self, raw: bytes, source: dict[str, Any]) -> None:
        """Decode and process one line. A blank one is counted; a bad one, or one
        whose processing raises an unexpected error, becomes one dead-letter
        record with its raw bytes, and the profile keeps the state it had."""
        stats = self.stats
        if is_blank(raw):
            stats.blank += 1
            return
        stats.events += 1
        try:
            event = decode_event(raw)
        except InvalidEvent as exc:
            stats.rejected += 1
            self.on_reject(dead_letter(exc.as_dict(), source, raw))
            return
        except Exception as exc:  # a bug in decoding: this line's dead letter, not the run's end
            stats.rejected += 1
            self._internal_error(exc, raw, source)
            return
        if self.clock is None:
            self.clock = event.occurred_at
        elif event.occurred_at > self.clock:
            self.advance(event.occurred_at)
        self._run(event, raw, source)

    def _internal_error(self, exc: Exception, raw: bytes, source: dict[str, Any]) -> None:
        """Dead-letter what an unexpected error in the core stopped. Only the
        core is guarded: an error of the caller's sinks (`on_action`, a closed
        stdout) stops the run, as it should."""
        self.stats.internal_errors += 1
        error = {
            "code": "internal_error",
            "message": f"unexpected error: {type(exc).__name__}: {exc}"[:1000],
            "path": "",
        }
        self.on_reject(dead_letter(error, source, raw))

    def finish(self, until: str | None = None) -> None:
        """Run the time-driven work due up to `until` (after the last event)."""
        if until is not None:
            if self.clock is None:
                self.clock = until
            elif until > self.clock:
                self.advance(until)

    # --- time ----------------------------------------------------------------

    def advance(self, until: str) -> None:
        """Run expiries and automation ticks due in (clock, until], in time order."""
        assert self.clock is not None
        if not self._next_tick_known:
            self._next_tick, self._next_tick_known = self._first_tick_after(self.clock), True
        expiries = self._expiries
        if (not expiries or expiries[0][0] > until) and (self._next_tick is None or self._next_tick > until):
            self.clock = until  # nothing due: most events
            return
        self._next_tick_known = False
        if self._ticking:
            ticks = self._ticks(instant_from_canonical(self.clock), instant_from_canonical(until))
            next_tick = next(ticks, None)
        else:
            next_tick = None  # due work only: most configurations
        while True:
            next_expiry_at = self._expiries[0][0] if self._expiries else None
            if (
                next_expiry_at is not None
                and next_expiry_at <= until
                and (next_tick is None or next_expiry_at <= next_tick[0])
            ):
                _, profile_id = heapq.heappop(self._expiries)
                state = self.states.get(profile_id)
                if state is not None and self._scheduled.get(profile_id) == next_expiry_at:
                    del self._scheduled[profile_id]
                    source = {"expiry": next_expiry_at, "profile_id": profile_id}
                    try:
                        outcome = run_due(state, self.config, next_expiry_at)
                    except Exception as exc:  # a bug: this profile's expiry is lost, not the run
                        self._internal_error(exc, b"", source)
                        continue
                    if outcome.state is None:  # a deleted profile's marker, at its end
                        del self.states[profile_id]
                    self._apply(outcome, raw=b"", source={})
                    again = self._scheduled.get(profile_id)
                    if again is not None and again <= next_expiry_at:
                        # A bug (due work that leaves itself due) must not loop
                        # for ever: reported, and left until the profile's next event.
                        del self._scheduled[profile_id]
                        self._internal_error(RuntimeError(f"due work left {again} due again"), b"", source)
                continue
            if next_tick is None:
                break
            tick, automation_id = next_tick
            self._tick(automation_id, tick)
            next_tick = next(ticks, None)
        self.clock = until

    def _schedules(self) -> Iterator[tuple[Reaction, Schedule]]:
        """The enabled automations and their schedules."""
        for automation in self.config.automations.values():
            if automation.enabled and automation.schedule is not None:
                yield automation, automation.schedule

    def _first_tick_after(self, clock: str) -> str | None:
        if not self._ticking:
            return None
        after = instant_from_canonical(clock)
        ticks = [
            tick
            for automation, schedule in self._schedules()
            for tick in [schedule.next_after(after)]
            if tick is not None
        ]
        return format_instant(min(ticks)) if ticks else None

    def _ticks(self, after: datetime, until: datetime) -> Iterator[tuple[str, str]]:
        pending: list[tuple[str, int, str]] = []
        for automation, schedule in self._schedules():
            for moment in schedule.ticks_between(after, until):
                pending.append((format_instant(moment), automation.priority, automation.id))
        for tick, _, automation_id in sorted(pending):
            yield tick, automation_id

    def _tick(self, automation_id: str, tick: str) -> None:
        self.stats.ticks += 1
        for profile_id in sorted(self.states):
            if self.states[profile_id].deleted_at is not None:
                continue  # a deleted profile's marker: not a profile
            event = schedule_event(automation_id, tick, profile_id)
            source = {"automation": automation_id, "tick": tick}
            raw = orjson.dumps(
                {"id": event.id, "type": event.type, "occurred_at": tick, "profile_id": profile_id}
            )
            try:
                outcome = process(event, self.states[profile_id], self.config)
            except Exception as exc:  # a bug: this profile's tick is lost, not the run
                self._internal_error(exc, raw, source)
                continue
            self._apply(outcome, raw, source)

    # --- output --------------------------------------------------------------

    def _run(self, event: Event, raw: bytes, source: dict[str, Any]) -> None:
        try:
            outcome = process(event, self.states.get(event.profile_id), self.config)
        except Exception as exc:  # a bug in the core: this line's dead letter, old state kept
            self.stats.rejected += 1
            self._internal_error(exc, raw, source)
            return
        if outcome.rejected is not None:  # a redemption that cannot be done: invalid input
            self.stats.rejected += 1
            self.on_reject(dead_letter(outcome.rejected, source, raw))
            return
        if outcome.state is None:
            self.states.pop(event.profile_id, None)
            self._scheduled.pop(event.profile_id, None)
        if outcome.skipped == "deleted_profile":
            self.stats.deleted_skipped += 1
        elif outcome.skipped is not None:
            self.stats.duplicates += 1
        self._apply(outcome, raw, source, event.profile_id)

    def _apply(
        self, outcome: Outcome, raw: bytes, source: dict[str, Any], profile_id: str | None = None
    ) -> None:
        state = outcome.state
        if state is not None:
            self.states[state.profile_id] = state
            expiry = next_due(state, self.config)
            if expiry is not None and self._scheduled.get(state.profile_id) != expiry:
                self._scheduled[state.profile_id] = expiry
                heapq.heappush(self._expiries, (expiry, state.profile_id))
        stats, on_action = self.stats, self.on_action
        actions = outcome.actions
        if actions:
            stats.actions += len(actions)
            _count(stats.actions_by_type, map(_TYPE, actions))
            for action in actions:
                if action.type == "target.send":
                    stats.sends.setdefault(action.fields["target"], [0, 0])[0] += 1
                on_action(action)
        _count(stats.verdicts, outcome.verdicts)
        if outcome.limited_targets:
            stats.limited_sends += len(outcome.limited_targets)
            for target_id in outcome.limited_targets:
                stats.sends.setdefault(target_id, [0, 0])[1] += 1
        for failure in outcome.failures:
            stats.reaction_failures += 1
            self.on_reject(self._failure_record(failure, raw, source))
        stats.reversals_unmatched += outcome.unmatched_reversals

    @staticmethod
    def _failure_record(failure: ReactionFailure, raw: bytes, source: dict[str, Any]) -> dict[str, Any]:
        # Time-driven work (an expiry, a review, a reminder) has no input line:
        # its source is the profile and what came due.
        where = source or {"profile_id": failure.profile_id, "event_id": failure.event_id}
        return dead_letter(failure.error(), where, raw, failure.reaction_id)

    def summary(self) -> dict[str, Any]:
        stats = self.stats
        return {
            "lines": stats.blank + stats.events,
            "blank": stats.blank,
            "events": stats.events,
            "processed": stats.events - stats.rejected - stats.duplicates,
            "rejected": stats.rejected,
            "duplicates": stats.duplicates,
            "internal_errors": stats.internal_errors,
            "actions": stats.actions,
            "actions_by_type": dict(sorted(stats.actions_by_type.items())),
            "reaction_failures": stats.reaction_failures,
            "limited_sends": stats.limited_sends,
            "automation_ticks": stats.ticks,
            "profiles": sum(1 for s in self.states.values() if s.deleted_at is None),
            "deleted_skipped": stats.deleted_skipped,
            "reversals_unmatched": stats.reversals_unmatched,
            "clock": self.clock,
            "config_version": self.config.version,
            "reactions": stats.reaction_counts(),
            "targets": {t: {"sent": n[0], "limited": n[1]} for t, n in sorted(stats.sends.items())},
        }
