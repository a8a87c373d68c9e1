"""The pure core: `process(event, state, config) -> Outcome`.

No Kafka, no HTTP, no clock, no globals: replay, the worker, `explain` and the
benchmarks all call these functions, so the embedded and distributed
transports cannot drift apart. Time is the event's `occurred_at`.

One event runs in this order:
1. dedupe: an event id seen within the dedupe window is skipped with no
   actions (a transaction (`system`, `id`) already counted, after step 3);
2. the time-driven work due before the event runs, each at its own time
   (`due.run_due`: statuses and rewards that expire, tier reviews), so the
   actions never depend on when a transport's ticks ran;
3. the event's facts are taken in: a snapshot replaces held tags and statuses,
   a transaction joins the aggregations;
4. a profile new to a tier program joins it at its floor;
5. the reactions listening to the event type run by priority then id; each
   sees the state the ones before it left. A reaction whose rule, amount or
   template fails at run time is rolled back whole and reported as a
   `ReactionFailure`; the others still run;
6. tiers whose measure now reaches higher are attained.

Steps and reviews raise reactor's own events (`status.applied`,
`tier.changed`, …: CONTRACT §7); the reactions listening to one run right
after the reaction (or review) that raised it, in the order raised, each
in a frame of its own (`event` and `trigger` in its context), at most
`MAX_CASCADE` deep. The steps themselves are in `steps`, the time-driven
work in `due`, the decisions of each incentive concept in `tiers`,
`achievements` and `ledger`: this module runs them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from itertools import compress
from typing import Any, NamedTuple, Protocol

from reactor.actions import Action, ReactionFailure, action_id
from reactor.clock import seconds, shift
from reactor.config import Config, Dependents, Reaction, Step, Target
from reactor.context import PARTS, ContextView, profile_view
from reactor.due import MEMO_FIELDS, earliest_reminder, forget_fired, forget_source, next_due_at, run_due_work
from reactor.errors import RuleError, TemplateError
from reactor.events import (
    PROFILE_DELETED,
    PROFILE_DEPERSONALISED,
    PROFILE_UPDATED,
    REMINDER,
    SCHEDULE,
    TRANSACTION_CREATED,
    Event,
)
from reactor.redemptions import REDEEM, Rejected
from reactor.reminders import Due, due_reminders
from reactor.rules import ConditionBatch, ContextData
from reactor.specs import StatusSpec
from reactor.state import COPY as _COPY
from reactor.state import ProfileState, benefit_order, money, purchase_key
from reactor.steps import STEPS, ChainStopped
from reactor.tiers import Program, Verdict, attained

__all__ = [
    "MAX_CASCADE",
    "ChainStopped",
    "Observer",
    "Outcome",
    "Run",
    "next_due",
    "process",
    "remind",
    "run_due",
    "schedule_event",
]

#: How deep reactions on reactor's own events may cascade (CONTRACT §7).
MAX_CASCADE = 8
#: How long a fired reminder is remembered after its due time (longer than a
#: year, so that a yearly one is never mistaken for the next year's).
_REMEMBER_REMINDERS = timedelta(days=400)
_MEMO_FIELDS = frozenset(MEMO_FIELDS)


class Outcome(NamedTuple):
    """What one call to the core decided (a named tuple: one is made per
    event, and a frozen dataclass costs several times as much to make).

    `state` is None when the profile must be forgotten (a deleted profile's
    marker at its end): a transport deletes what it holds for it (a tombstone
    in the changelog); or when nothing was held and nothing is (a rejected
    redemption for a profile never seen).
    `skipped` says why an event did nothing (`duplicate_event`,
    `duplicate_transaction`).

    `verdicts` has one `(reaction id, verdict)` for each reaction (or
    automation) whose `when` held, in the order they ran: `fired` (its chain
    emitted at least one action), `matched` (it emitted none: a `filter`
    stopped it, or there was nothing to do), `limited` (its `limit` was
    reached, so it did not run), `failed` (rolled back, see `failures`).
    `limited_targets` names the target of each `target.send` dropped by its
    target's `limit`; `unmatched_reversals` counts `points.reverse` steps
    whose refund named no purchase kept (CONTRACT §7).
    """

    state: ProfileState | None
    actions: tuple[Action, ...] = ()
    failures: tuple[ReactionFailure, ...] = ()
    skipped: str | None = None
    verdicts: tuple[tuple[str, str], ...] = ()
    limited_targets: tuple[str, ...] = ()
    unmatched_reversals: int = 0
    #: A redemption that could not be done (`{code, message, path}`): the
    #: event is invalid input, to dead-letter; nothing changed (CONTRACT §8).
    rejected: dict[str, str] | None = None

    @property
    def limited_sends(self) -> int:
        """How many `target.send` steps their target's limit dropped."""
        return len(self.limited_targets)


def schedule_event(automation_id: str, tick: str, profile_id: str) -> Event:
    """The synthetic event an automation tick runs with for one profile."""
    return Event(
        id=f"{automation_id}@{tick}",
        type=SCHEDULE,
        occurred_at=tick,
        profile_id=profile_id,
        data={"automation": automation_id},
        extra={},
    )


class Observer(Protocol):
    """What `reactor explain` watches while an event runs; never needed to
    process one. Each method gets the context as the step sees it."""

    def reaction(self, reaction: Reaction, context: dict[str, Any], limited: bool) -> None:
        """Before `reaction` runs (its `when` not yet evaluated); `limited`
        says whether its limit is reached."""

    def filter(self, reaction: Reaction, step: Step, context: dict[str, Any], holds: bool) -> None:
        """A `filter` step of `reaction` was evaluated (false stops the chain)."""

    def capped(self, reaction: Reaction, step: Step, target: Target) -> None:
        """A `target.send` of `reaction` was dropped by its target's limit."""


def _rank_order(spec: StatusSpec) -> tuple[int, str]:
    return spec.rank, spec.handle


class Run:
    """The working state of one call: the profile's state (derived from the
    given one, its fields copied when first changed), the actions emitted so
    far, and the frame being run (the event, its context, rebuilt only when a
    step changed something since it was last built)."""

    __slots__ = (
        "_changed",
        "_data",
        "_data_keys",
        "_free_positions",
        "_held",
        "_owned",
        "_raised_count",
        "_stale",
        "_undo",
        "actions",
        "cause",
        "config",
        "depth",
        "earned",
        "earning",
        "event",
        "event_id",
        "failures",
        "id_key",
        "limited_targets",
        "now",
        "observe",
        "position",
        "previous_profile",
        "profile",
        "purchase",
        "raised",
        "reaction_id",
        "running",
        "state",
        "unmatched_reversals",
        "verdicts",
        "view",
    )

    def __init__(
        self, event: Event, state: ProfileState, config: Config, observe: Observer | None = None
    ) -> None:
        self.observe = observe
        #: The reaction running, for the observer.
        self.running: Reaction | None = None
        self.event = event
        self.state = state
        self.config = config
        self.now = event.occurred_at
        self.actions: list[Action] = []
        self.failures: list[ReactionFailure] = []
        self.verdicts: list[tuple[str, str]] = []
        self.limited_targets: list[str] = []
        self.unmatched_reversals = 0
        self.profile = state.profile(profile_view)
        self.previous_profile: dict[str, Any] | None = None
        self.view = ContextView(state, event, config, self.profile, None)
        self._data: ContextData | None = None  # the parsed context rules evaluate
        self._data_keys: frozenset[str] | None = None  # the keys it holds (None: all)
        self._stale: set[str] = set()  # keys changed since it was parsed
        self._changed: set[str] | None = set()  # parts changed since a batch ran (None: any)
        self._held: list[StatusSpec] | None = None
        # Fields of the state this run has copied and may change in place; the
        # others are shared with the state `process` was given (copy-on-write).
        self._owned: set[str] = set()
        # While a reaction that may fail runs: the fields it changed, as they were.
        self._undo: dict[str, Any] | None = None
        # Who the next action is attributed to, and what its id derives from:
        # the event and reaction while a reaction runs, the expired status during expiry.
        self.event_id: str | None = event.id
        self.reaction_id: str | None = None
        self.id_key = event.id
        self.position = 0
        self._free_positions: dict[str, int] = {}  # id key -> next position of actions no reaction made
        # Reactor's own events (CONTRACT §7): what causes them now, how many
        # each cause raised, the ones raised and not yet run, and how deep.
        self.cause = event.id
        self._raised_count: dict[str, int] = {}
        self.raised: list[tuple[str, str, dict[str, Any]]] = []
        self.depth = 0
        # The purchase this event recorded, and what its reactions earned.
        self.purchase: list[Any] | None = None
        self.earned: dict[str, list[Any]] = {}
        self.earning: dict[str, list[Any]] | None = None

    # --- context -------------------------------------------------------------

    def reset_context(self) -> None:
        """The state changed in ways that touch much of the context (a snapshot
        or transaction taken in, a reaction rolled back)."""
        self.view.reset(self.profile, self.previous_profile)
        self._data = None
        self._changed = None
        self._held = None

    def changed(self, part: str) -> None:
        """One part of the state changed: drop those keys from the context, and
        parse it for rules again only when a rule that reads one of them runs."""
        keys = PARTS[part]
        self.view.invalidate(keys)
        self._stale.update(keys)
        changed = self._changed
        if changed is not None:
            changed.add(part)
        if part == "statuses":
            self._held = None

    def take_changes(self) -> set[str] | None:
        """The parts changed since the last call (None: any), and start afresh."""
        changed, self._changed = self._changed, set()
        return changed

    def context(self) -> dict[str, Any]:
        """The full context, as templates and `explain` see it."""
        return self.view.full()

    def context_of(self, names: frozenset[str]) -> dict[str, Any]:
        """The context for `names` only (a template's `names`): the keys it
        leaves out are never computed, and those it has are the full context's."""
        return self.view.subset(names)

    def data(self, reads: frozenset[str] | None) -> ContextData:
        """The parsed context for a rule that reads the top-level keys `reads`
        (None: any). Parsing is the costly part, so only the keys rules read are
        parsed, and a rule that reads nothing changed since reuses the parse."""
        data, keys, stale = self._data, self._data_keys, self._stale
        if (
            data is not None
            and (keys is None or (reads is not None and reads <= keys))
            and (not stale or (reads is not None and stale.isdisjoint(reads)))
        ):
            return data
        if reads is None:
            keys, payload = None, self.view.full()
        else:
            # Parse what this rule reads, plus what the current parse holds if
            # that is still good (so rules that read a little less or more do not
            # take turns parsing).
            keys = reads if data is None or keys is None or stale else reads | keys
            payload = self.view.subset(keys)
        self._data, self._data_keys = ContextData(payload), keys
        stale.clear()
        return self._data

    def touch(self, *fields: str) -> None:
        """`fields` of the state are about to change in place: copy each one the
        first time, so the state `process` was given never changes, and keep
        its value as it was while a reaction that may fail runs."""
        owned, undo, state = self._owned, self._undo, self.state
        for name in fields:
            if name in _MEMO_FIELDS and state.due_memo is not None:
                # The due-time memo knows these fields by identity; one changed
                # in place is the same object with other contents.
                state.due_memo = forget_source(state.due_memo, name)
            if name not in owned:
                owned.add(name)
            elif undo is None or name in undo:
                continue
            # Not copied yet: the value shared with the given state. Copied
            # already: this reaction's starting value, from now on unchanged.
            before = getattr(state, name)
            copy = _COPY[name]
            if copy is not None:
                setattr(state, name, copy(before))
            if undo is not None and name not in undo:
                undo[name] = before

    def undo(self, saved: dict[str, Any]) -> None:
        """Put back the fields a failed reaction changed. What comes back was
        never changed in place, so it may be shared: it must be copied again
        before it is."""
        for name, value in saved.items():
            setattr(self.state, name, value)
            self._owned.discard(name)

    # --- frames --------------------------------------------------------------

    def enter(self, event: Event, event_id: str | None, id_key: str, cause: str) -> tuple[Any, ...]:
        """Run what follows as `event` (a derived event, or time-driven work
        at `event.occurred_at`); returns what `leave` puts back."""
        saved = (
            self.event,
            self.now,
            self.view,
            self._data,
            self._data_keys,
            self._stale,
            self._changed,
            self.previous_profile,
            self.event_id,
            self.id_key,
            self.cause,
            self.running,
            self.reaction_id,
            self.position,
            self._undo,
        )
        self.event, self.now = event, event.occurred_at
        self.previous_profile = None
        self.view = ContextView(self.state, event, self.config, self.profile, None)
        self._data, self._data_keys, self._stale, self._changed = None, None, set(), set()
        self.event_id, self.id_key, self.cause = event_id, id_key, cause
        self.running, self.reaction_id, self.position, self._undo = None, None, 0, None
        self._held = None
        return saved

    def leave(self, saved: tuple[Any, ...]) -> None:
        (
            self.event,
            self.now,
            self.view,
            self._data,
            self._data_keys,
            self._stale,
            self._changed,
            self.previous_profile,
            self.event_id,
            self.id_key,
            self.cause,
            self.running,
            self.reaction_id,
            self.position,
            self._undo,
        ) = saved
        self.reset_context()  # the frame left may have changed anything

    # --- emitting --------------------------------------------------------------

    def emit(self, kind: str, fields: dict[str, Any], at: str | None = None) -> str:
        """Add an action; returns its id."""
        profile_id, reaction_id, id_key = self.state.profile_id, self.reaction_id, self.id_key
        if reaction_id is None:
            position = self._free_positions.get(id_key, 0)
            self._free_positions[id_key] = position + 1
        else:
            position = self.position
            self.position = position + 1
        identity = action_id(profile_id, id_key, reaction_id or "", position)
        self.actions.append(
            Action(  # id, type, profile_id, reaction_id, event_id, at, config_version, fields
                identity,
                kind,
                profile_id,
                reaction_id,
                self.event_id,
                at or self.now,
                self.config.version,
                fields,
            )
        )
        return identity

    def raise_event(self, kind: str, trigger: dict[str, Any]) -> None:
        """Reactor's own event `kind` happened (CONTRACT §7). Its id is
        `<cause>/<kind>/<n>`, counted per cause whether anyone listens or not,
        so ids do not move when a listener is added."""
        cause = self.cause
        n = self._raised_count.get(cause, 0) + 1
        self._raised_count[cause] = n
        if self.config.reactions_for(kind):
            self.raised.append((f"{cause}/{kind}/{n}", kind, trigger))

    def dispatch(self, raised_by: str | None = None) -> None:
        """Run the reactions listening to the events raised so far, in the
        order raised (each one's own cascade right after its reaction)."""
        if not self.raised:
            return
        pending, self.raised = self.raised, []
        for event_id, kind, trigger in pending:
            if self.depth >= MAX_CASCADE:
                self.failures.append(
                    ReactionFailure(
                        raised_by or kind,
                        self.event.id,
                        self.state.profile_id,
                        "cascade_depth",
                        f"{kind} ({event_id}) not run: reactions on reactor's own events "
                        f"cascade at most {MAX_CASCADE} deep",
                        event_id,
                    )
                )
                continue
            derived = Event(event_id, kind, self.now, self.state.profile_id, {"trigger": trigger}, {})
            saved = self.enter(derived, event_id, event_id, event_id)
            self.depth += 1
            try:
                self.run_reactions(kind)
            finally:
                self.depth -= 1
                self.leave(saved)

    def held_specs(self) -> list[StatusSpec]:
        """Specs of held, unexpired statuses, best rank first."""
        held = self._held
        if held is None:
            statuses, defined, now = self.state.statuses, self.config.statuses, self.now
            held = [
                defined[h]
                for h, (_, expires) in statuses.items()
                if h in defined and (expires is None or expires > now)
            ]
            if len(held) > 1:
                held.sort(key=_rank_order)
            self._held = held
        return held

    # --- snapshot and transaction --------------------------------------------------

    def take_snapshot(self, snapshot: dict[str, Any]) -> None:
        state = self.state
        self.previous_profile = self.profile if state.snapshot else None  # the view of the old snapshot
        state.snapshot = snapshot
        self.profile = state.profile(profile_view)
        # A snapshot repeats most of what the last one said: a part that comes
        # out equal keeps its object, so what knows parts by identity (the
        # reminders' due-time memo) sees it unchanged.
        if isinstance(snapshot.get("tags"), list):
            tags = sorted(set(snapshot["tags"]))
            if tags != state.tags:
                state.tags = tags
        if isinstance(snapshot.get("statuses"), list):
            held: dict[str, list[Any]] = {}
            for status in snapshot["statuses"]:
                handle, expires = status["handle"], status.get("expires_at")
                if expires is not None and expires <= self.now:
                    continue  # upstream sent a status that has already run out
                applied = state.statuses.get(handle, [self.now])[0]
                held[handle] = [applied, expires]
            if held != state.statuses:
                state.statuses = held
            # Benefits follow the statuses that grant them (see README, "Snapshots").
            benefits = [b for b in state.benefits if b[3] is None or b[3] in held]
            granted = {(b[0], b[3]) for b in benefits}
            for handle, (_, expires) in held.items():
                spec = self.config.statuses.get(handle)
                for grant in spec.grants if spec else ():
                    if (
                        grant,
                        handle,
                    ) not in granted:  # granted by what upstream set: no action, no action id
                        benefits.append([grant, self.now, expires, handle, f"granted:{handle}:{grant}", None])
            benefits.sort(key=benefit_order)
            if benefits != state.benefits:
                state.benefits = benefits
        self.reset_context()

    def take_transaction(self, transaction: dict[str, Any]) -> bool:
        """Count the transaction; False if it was already counted."""
        system, txn_id = transaction.get("system") or "", transaction["id"]
        if self.state.seen_transaction(purchase_key(system, txn_id)):
            return False
        location = transaction.get("location")
        location_id = location.get("id") if isinstance(location, dict) else None
        at, total = self.event.transaction_at, float(transaction["total"])
        assert at is not None
        if total >= 0:  # a purchase: the one before it (a refund is not a purchase)
            self.view.previous_spend_at = self.state.last_purchase_before(at)
        record = self.state.record_transaction(system, txn_id, at, total, location_id)
        if total >= 0:
            self.purchase = record
        self.reset_context()
        return True

    def keep_earned(self) -> None:
        """Note on this event's purchase what its reactions earned, by kind,
        for a refund to take back (CONTRACT §7)."""
        if self.purchase is not None and self.earned:
            self.purchase[4] = [seconds(self.event.occurred_at), self.earned]

    # --- tiers ---------------------------------------------------------------------------

    def measure(self, program: Program) -> float:
        if program.measure == "spend_12m":
            return money(self.state.purchases.sums[0])
        return self.state.tier_points_12m()

    def assign(self, program: Program, verdict: Verdict) -> None:
        """Hold `verdict.tier` in `program`: `tier.assign`, and `tier.changed`
        when it differs from the level held (CONTRACT §7)."""
        held = self.state.tiers.get(program.program)
        previous = held[0] if held is not None else None
        if verdict.reason == "maintained":
            assert held is not None and held[2] is not None
            review_at = shift(held[2], program.review_after)
        elif verdict.tier == program.floor:
            review_at = None  # the floor is never reviewed
        else:
            review_at = shift(self.now, program.review_after)
        since = held[1] if held is not None and previous == verdict.tier else self.now
        self.touch("tiers")
        self.state.tiers[program.program] = [verdict.tier, since, review_at]
        self.emit(
            "tier.assign",
            {
                "program": program.program,
                "tier": verdict.tier,
                "previous": previous,
                "reason": verdict.reason,
                "review_at": review_at,
            },
        )
        self.changed("tiers")
        if verdict.tier != previous:
            trigger = {
                "program": program.program,
                "tier": verdict.tier,
                "previous": previous,
                "reason": verdict.reason,
            }
            self.raise_event("tier.changed", trigger)

    def join_programs(self) -> None:
        """A profile holding no level of a program holds its floor (`joined`)."""
        for program in self.config.tiers:
            if program.program not in self.state.tiers:
                self.assign(program, Verdict(program.floor, "joined"))
                self.dispatch()

    def check_attain(self) -> None:
        """Move up every program whose measure now reaches a higher level,
        again after any cascade that raised, until nothing changes."""
        if not self.config.tiers:
            self.dispatch()
            return
        for _ in range(len(self.config.tiers) * 64 + 1):
            moved = False
            for program in self.config.tiers:
                held = self.state.tiers.get(program.program)
                verdict = attained(program, held[0] if held else None, self.measure(program))
                if verdict is not None:
                    self.assign(program, verdict)
                    moved = True
            self.dispatch()
            if not moved:
                return

    # --- reminders -------------------------------------------------------------------

    def fire_reminder(self, due: Due, at: str) -> None:
        """Run a reminder for one item and due time, at `at` (its due time, or
        later when the item appeared after it), once: the state remembers it."""
        reminder, rule = due.reminder, due.reminder.reminder
        assert rule is not None
        context = {"id": reminder.id, "of": rule.of, "due_at": due.due, "item": due.item}
        event = Event(due.key, REMINDER, at, self.state.profile_id, {"reminder": context}, {})
        saved = self.enter(event, due.key, due.key, due.key)
        try:
            self.touch("reminded")
            forget = shift(at, -_REMEMBER_REMINDERS)
            reminded = self.state.reminded
            for key in [k for k, when in reminded.items() if when < forget]:
                del reminded[key]  # long past: its item and due time do not come back
            reminded[due.key] = due.due
            self.state.due_memo = forget_fired(self.state.due_memo, reminder.id)
            self.run_reaction(reminder)
        finally:
            self.leave(saved)

    def fire_reminders(self, now: str) -> None:
        """Fire, at `now`, every reminder already due that has not fired: its
        item appeared after its due time (CONTRACT §8)."""
        if not self.config.enabled_reminders:
            return
        earliest = earliest_reminder(self.state, self.config)
        if earliest is None or earliest > now:
            return
        for due in due_reminders(self.state, self.config, now, now):
            if due.due <= now and due.key not in self.state.reminded:
                self.fire_reminder(due, now)

    def settle_due(self, now: str) -> None:
        """At the end of an event: fire the reminders already due (an item
        appeared after its reminder's due time), or, when nothing is due by
        `now`, remember the state's next due time for the transport, which asks
        for it (`next_due`) of every outcome's state: one look for both."""
        due = next_due_at(self.state, self.config)
        if due is not None and due <= now:
            self.fire_reminders(now)  # (and the transport works the next due time out)
        else:
            self.state.next_due_memo = (self.config.version, due)

    # --- reactions -------------------------------------------------------------------

    def run_reactions(self, event_type: str) -> None:
        """Run the reactions listening to `event_type`, in order.

        Their conditions are evaluated in one batch (one native call) against
        the context as it stands. When a reaction that fired changed a part of
        the state that later reactions' rules read, those rules (and only
        those, in one batch of their own) are evaluated again for what follows,
        so each reaction still sees the changes of the ones before it.
        """
        reactions = self.config.reactions_for(event_type)
        batch = self.config.batch_for(event_type)
        values = None
        if batch is not None and self.observe is None:
            values = [True] * batch.size if batch.always else batch.evaluate(self.data(batch.reads))
        if batch is None or values is None:
            for reaction in reactions:
                self.run_reaction(reaction)
            return
        dependents = self.config.dependents[event_type]
        count = len(reactions)
        hits = list(compress(range(count), values))
        k = 0
        self.take_changes()
        while k < len(hits):
            i = hits[k]
            k += 1
            self.run_reaction(reactions[i], holds=True)
            changed = self.take_changes()
            if changed is not None and not changed:
                continue
            values = self.evaluate_again(batch, dependents, values, changed, i)
            if values is None:  # a rule failed: run the rest one by one
                for reaction in reactions[i + 1 :]:
                    self.run_reaction(reaction)
                return
            hits = list(compress(range(i + 1, count), values[i + 1 :]))
            k = 0

    def evaluate_again(
        self,
        batch: ConditionBatch,
        dependents: Mapping[str, Dependents],
        values: list[Any],
        changed: set[str] | None,
        after: int,
    ) -> list[Any] | None:
        """The conditions' values once reaction `after` changed the parts
        `changed` of the state (None: any); None if a rule failed."""
        if changed is None:
            return batch.evaluate(self.data(batch.reads))
        for part in changed:
            depending = dependents.get(part)
            if depending is None or depending.indices[-1] <= after:
                continue  # no later rule reads it
            again = depending.batch.evaluate(self.data(depending.batch.reads))
            if again is None:
                return None
            for j, value in zip(depending.indices, again, strict=True):
                values[j] = value
        return values

    def run_reaction(self, reaction: Reaction, holds: bool = False) -> None:
        """Run one reaction whose `when` is known to hold (`holds`) or is
        evaluated here. Its `limit` counts the run only when the chain emitted
        an action (CONTRACT §11): a chain a `filter` stopped first is free.
        The events its chain raised run once it is done."""
        limit = reaction.limit
        limited = limit is not None and self.state.limit_reached(
            "fired", reaction.id, self.now, limit.per_profile, limit.window
        )
        if self.observe is not None:
            self.observe.reaction(reaction, dict(self.context()), limited)
            self.running = reaction
        self.reaction_id, self.position = reaction.id, 0
        saved_actions, started = len(self.actions), False
        self.earning = {} if self.depth == 0 and self.purchase is not None else None
        try:
            condition = reaction.condition
            if not holds and condition is not None and not condition.holds(self.data(condition.reads)):
                return
            if limited:
                self.verdicts.append((reaction.id, "limited"))
                return
            started = True
            self._undo = {} if reaction.can_fail else None
            try:
                for step in reaction.steps:
                    STEPS[type(step.spec)](self, step)
            except ChainStopped:
                pass
            self._undo = None
            if self.earning:
                _merge_earned(self.earned, self.earning)
            if len(self.actions) == saved_actions:
                self.verdicts.append((reaction.id, "matched"))
            else:
                self.verdicts.append((reaction.id, "fired"))
                if limit is not None:
                    self.touch("fired")
                    self.state.count_use("fired", reaction.id, self.now, limit.per_profile, limit.window)
        except (RuleError, TemplateError) as exc:
            if started:  # undo the reaction whole: its state changes and its actions
                self.undo(self._undo or {})
                del self.actions[saved_actions:]
                self.raised.clear()  # what it raised did not happen
                self.reset_context()
            self.verdicts.append((reaction.id, "failed"))
            self.failures.append(
                ReactionFailure(
                    reaction.id, self.event.id, self.state.profile_id, exc.code, exc.message, exc.path
                )
            )
            return
        finally:
            self.earning = None
            self.reaction_id = None
            self._undo = None
        if self.raised:
            self.dispatch(reaction.id)

    def outcome(self, skipped: str | None = None) -> Outcome:
        return Outcome(
            state=self.state,
            actions=tuple(self.actions),
            failures=tuple(self.failures),
            skipped=skipped,
            verdicts=tuple(self.verdicts),
            limited_targets=tuple(self.limited_targets),
            unmatched_reversals=self.unmatched_reversals,
        )


def _merge_earned(into: dict[str, list[Any]], earned: Mapping[str, list[Any]]) -> None:
    for kind, (points, *statuses) in earned.items():
        held = into.get(kind)
        if held is None:
            into[kind] = [points, *statuses]
        else:
            held[0] += points
            held.extend(s for s in statuses if s not in held[1:])


def process(
    event: Event, state: ProfileState | None, config: Config, observe: Observer | None = None
) -> Outcome:
    """Run `event` against the profile's `state` (None for a new profile).

    Never mutates `state`: the returned `Outcome.state` is a new object, which
    shares with `state` the fields this event did not change.
    """
    given, kind, at = state, event.type, event.occurred_at
    if state is not None and state.deleted_at is not None:
        if kind == SCHEDULE or at <= state.deleted_at:
            # Late (or an automation tick): it cannot bring a forgotten profile back.
            return Outcome(state=state, skipped="deleted_profile")
        state = None  # after the deletion: a new profile
    if kind == PROFILE_DELETED:
        return _forget(event, config)
    dedupe = config.programme.dedupe_window
    if kind != SCHEDULE and state is not None and state.seen_event(event.id, at, dedupe):
        return Outcome(state=state, skipped="duplicate_event")
    current = state.derive() if state is not None else ProfileState(event.profile_id)
    run = Run(event, current, config, observe)
    memo = state.next_due_memo if state is not None else None
    if memo is not None and memo[0] == config.version and (memo[1] is None or memo[1] > at):
        current.drop_expired(at)  # nothing came due since (see `next_due`)
    else:
        run_due_work(run, at)
    current.advance_clock(at, dedupe)
    if kind == PROFILE_DEPERSONALISED:
        return _depersonalise(run, event)
    if kind == PROFILE_UPDATED:
        run.take_snapshot(event.data["profile"])
    elif kind == TRANSACTION_CREATED and not run.take_transaction(event.data["transaction"]):
        current.remember_event(event.id, at)
        return Outcome(state=current, actions=tuple(run.actions), skipped="duplicate_transaction")
    elif kind in REDEEM:
        try:
            REDEEM[kind](run, event)
        except Rejected as exc:
            return Outcome(state=given, rejected=exc.as_dict())
    run.join_programs()
    if kind == SCHEDULE:
        automation = config.automations.get(event.data["automation"])
        if automation is not None and automation.enabled:
            run.run_reaction(automation)
    else:
        run.run_reactions(kind)
        run.state.remember_event(event.id, at)
    run.check_attain()
    run.settle_due(at)
    run.keep_earned()
    return run.outcome()


def _forget(event: Event, config: Config) -> Outcome:
    """`profile.deleted` (CONTRACT §8): everything held is forgotten; a marker
    of the deletion stays for `programme.forget_window`, so that a late
    redelivery of an older event cannot bring the profile back; downstream is
    told to forget too (`profile.forget`), even for a profile never seen."""
    marker = ProfileState(event.profile_id, clock=event.occurred_at, deleted_at=event.occurred_at)
    run = Run(event, marker, config)
    run.emit("profile.forget", {"profile_id": event.profile_id})
    return Outcome(state=marker, actions=tuple(run.actions))


def _depersonalise(run: Run, event: Event) -> Outcome:
    """`profile.depersonalised` (CONTRACT §8): every snapshot field but `id`
    is dropped (names, email, birthday, identities, attributes, …); the
    aggregations, balances, tiers, achievements, statuses, tags and limits
    stay. A later snapshot may bring fields back."""
    state = run.state
    state.snapshot = None
    run.emit("profile.depersonalise", {"profile_id": event.profile_id})
    state.remember_event(event.id, event.occurred_at)
    return run.outcome()


def remind(
    state: ProfileState, config: Config, due: Due, at: str, observe: Observer | None = None
) -> Outcome:
    """Fire one reminder for `state` at `at` (for `explain`; replay and the
    worker fire reminders through `run_due` and `process`)."""
    current = state.derive()
    run = Run(Event(due.key, REMINDER, at, state.profile_id, {}, {}), current, config, observe)
    run.fire_reminder(due, at)
    return run.outcome()


def next_due(state: ProfileState, config: Config) -> str | None:
    """When the profile's next time-driven work is due (a status or reward
    that expires, a tier review, a reminder; for a deleted profile's marker,
    its end), or None. A transport calls `run_due` for the profile once its
    clock reaches it; `process` also runs whatever is due before an event, so
    the actions never depend on when (or whether) a transport's ticks ran."""
    if state.deleted_at is not None:
        return shift(state.deleted_at, config.programme.forget_window)
    memo = state.next_due_memo
    if memo is not None and memo[0] == config.version:
        return memo[1]
    due = next_due_at(state, config)
    state.next_due_memo = (config.version, due)
    return due


def run_due(state: ProfileState, config: Config, until: str) -> Outcome:
    """Run the time-driven work of `state` due at or before `until`, each at
    its own time and in time order (see `due`). Never mutates `state`."""
    if state.deleted_at is not None:  # a marker: gone once its window has passed
        gone = shift(state.deleted_at, config.programme.forget_window) <= until
        return Outcome(state=None if gone else state)
    current = state.derive()
    tick = Event(id="due", type=SCHEDULE, occurred_at=until, profile_id=state.profile_id, data={}, extra={})
    run = Run(tick, current, config)
    run_due_work(run, until)
    return run.outcome()
