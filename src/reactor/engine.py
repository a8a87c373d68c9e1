"""The pure core: `process(event, state, config) -> Outcome`.

No Kafka, no HTTP, no clock, no globals: replay, the worker, `explain` and the
benchmarks all call these functions, so the embedded and distributed
transports cannot drift apart. Time is the event's `occurred_at`.

One event runs in this order:
1. dedupe: an event id already seen, or a transaction (`system`, `id`) already
   counted, is skipped with no actions;
2. statuses whose `expires_at` has passed are removed (`status.remove`,
   reason `expired`, at their expiry time);
3. the event's facts are taken in: a snapshot replaces held tags and statuses,
   a transaction joins the aggregations;
4. the reactions listening to the event type run by priority then id; each
   sees the state the ones before it left. A reaction whose rule, amount or
   template fails at run time is rolled back whole and reported as a
   `ReactionFailure`; the others still run.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from itertools import compress
from typing import Any, Protocol

from reactor.actions import Action, ReactionFailure, action_id, best_modifier, round_points
from reactor.clock import seconds, shift
from reactor.config import Config, Dependents, Reaction, Step, Target
from reactor.context import PARTS, ContextView, profile_view
from reactor.errors import RuleError, TemplateError
from reactor.events import (
    PROFILE_DELETED,
    PROFILE_UPDATED,
    SCHEDULE,
    TRANSACTION_CREATED,
    Event,
)
from reactor.rules import ConditionBatch, ContextData
from reactor.specs import (
    BenefitCreateStep,
    FilterStep,
    PointsAwardStep,
    RewardCreateStep,
    StatusApplyStep,
    StatusRemoveStep,
    StatusSpec,
    TagAddStep,
    TagRemoveStep,
    TargetSendStep,
)
from reactor.state import COPY as _COPY
from reactor.state import ProfileState, round_money

__all__ = ["Observer", "Outcome", "next_due", "process", "run_due", "schedule_event"]


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one call to the core decided.

    `state` is None when the profile must be forgotten (`profile.deleted`):
    a transport deletes what it holds for it (a tombstone in the changelog).
    `skipped` says why an event did nothing (`duplicate_event`,
    `duplicate_transaction`).

    `verdicts` has one `(reaction id, verdict)` for each reaction (or
    automation) whose `when` held, in the order they ran: `fired` (its chain
    emitted at least one action), `matched` (it emitted none: a `filter`
    stopped it, or there was nothing to do), `limited` (its `limit` was
    reached, so it did not run), `failed` (rolled back, see `failures`).
    `limited_targets` names the target of each `target.send` dropped by its
    target's `limit`.
    """

    state: ProfileState | None
    actions: tuple[Action, ...] = ()
    failures: tuple[ReactionFailure, ...] = ()
    skipped: str | None = None
    verdicts: tuple[tuple[str, str], ...] = ()
    limited_targets: tuple[str, ...] = ()

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


class _ChainStopped(Exception):
    """A `filter` step was false: the rest of the chain does not run."""


class _Run:
    """The working state of one call: the profile's state (derived from the
    given one, its fields copied when first changed), the actions emitted so
    far, and a context rebuilt only when a step changed something since it was
    last built."""

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
            if name not in owned:
                owned.add(name)
            elif undo is None or name in undo:
                continue
            # Not copied yet: the value shared with the given state. Copied
            # already: this reaction's starting value, from now on unchanged.
            before = getattr(state, name)
            setattr(state, name, _COPY[name](before))
            if undo is not None and name not in undo:
                undo[name] = before

    def undo(self, saved: dict[str, Any]) -> None:
        """Put back the fields a failed reaction changed. What comes back was
        never changed in place, so it may be shared: it must be copied again
        before it is."""
        for name, value in saved.items():
            setattr(self.state, name, value)
            self._owned.discard(name)

    # --- emitting --------------------------------------------------------------

    def emit(self, kind: str, fields: dict[str, Any], at: str | None = None) -> None:
        profile_id, reaction_id, position = self.state.profile_id, self.reaction_id, self.position
        self.actions.append(
            Action(  # id, type, profile_id, reaction_id, event_id, at, config_version, fields
                action_id(profile_id, self.id_key, reaction_id or "", position),
                kind,
                profile_id,
                reaction_id,
                self.event_id,
                at or self.now,
                self.config.version,
                fields,
            )
        )
        self.position = position + 1

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

    # --- statuses ----------------------------------------------------------------

    def remove_status(self, handle: str, reason: str, at: str | None = None) -> None:
        if handle not in self.state.statuses:
            return
        self.touch("statuses", "benefits")
        del self.state.statuses[handle]
        self.emit("status.remove", {"status": handle, "reason": reason}, at)
        kept = []
        for held in self.state.benefits:
            if held[3] == handle:
                self.emit("benefit.revoke", {"benefit": held[0], "reason": reason}, at)
            else:
                kept.append(held)
        self.state.benefits = kept
        self.changed("statuses")

    def apply_status(self, step: Step) -> None:
        asked: StatusApplyStep = step.spec
        spec = self.config.statuses[asked.status]
        duration = asked.duration or spec.default_duration
        expires = shift(self.now, duration) if duration else None
        held = self.state.statuses.get(spec.handle)
        if held is not None:
            current = held[1]
            if current is None or (expires is not None and expires <= current):
                return  # already held at least as long: nothing to do
            self.touch("statuses", "benefits")
            held = self.state.statuses[spec.handle]
            held[1] = expires
            for benefit in self.state.benefits:
                if benefit[3] == spec.handle:
                    benefit[2] = expires
            self.state.sort_benefits()
            self.emit("status.apply", {"status": spec.handle, "expires_at": expires})
            self.changed("statuses")
            return
        if spec.group is not None and spec.exclusive:
            for other in sorted(self.state.statuses):
                other_spec = self.config.statuses.get(other)
                if other_spec is not None and other_spec.group == spec.group:
                    self.remove_status(other, "replaced")
        self.touch("statuses", "benefits")
        self.state.statuses[spec.handle] = [self.now, expires]
        self.emit("status.apply", {"status": spec.handle, "expires_at": expires})
        for grant in spec.grants:
            self.state.add_benefit([grant, self.now, expires, spec.handle])
            self.emit(
                "benefit.create",
                {"benefit": grant, "expires_at": expires, "granted_by": spec.handle, "modifiers": []},
            )
        self.changed("statuses")

    def expire_statuses(self, until: str) -> None:
        due = sorted(
            (expires, handle)
            for handle, (_, expires) in self.state.statuses.items()
            if expires is not None and expires <= until
        )
        for expires, handle in due:
            # Expiry is not caused by an event: `event_id` is null and the action
            # ids depend only on what expired, whoever notices it first.
            saved = self.event_id, self.id_key
            self.event_id, self.reaction_id = None, None
            self.id_key, self.position = f"expired:{handle}:{expires}", 0
            self.remove_status(handle, "expired", at=expires)
            self.event_id, self.id_key = saved
        self.state.drop_expired(until)

    # --- snapshot and transaction --------------------------------------------------

    def take_snapshot(self, snapshot: dict[str, Any]) -> None:
        state = self.state
        self.previous_profile = self.profile if state.snapshot else None  # the view of the old snapshot
        state.snapshot = snapshot
        self.profile = state.profile(profile_view)
        if isinstance(snapshot.get("tags"), list):
            state.tags = sorted(set(snapshot["tags"]))
        if isinstance(snapshot.get("statuses"), list):
            held: dict[str, list[Any]] = {}
            for status in snapshot["statuses"]:
                handle, expires = status["handle"], status.get("expires_at")
                if expires is not None and expires <= self.now:
                    continue  # upstream sent a status that has already run out
                applied = state.statuses.get(handle, [self.now])[0]
                held[handle] = [applied, expires]
            state.statuses = held
            # Benefits follow the statuses that grant them (see README, "Snapshots").
            benefits = [b for b in state.benefits if b[3] is None or b[3] in held]
            granted = {(b[0], b[3]) for b in benefits}
            for handle, (_, expires) in held.items():
                spec = self.config.statuses.get(handle)
                for grant in spec.grants if spec else ():
                    if (grant, handle) not in granted:
                        benefits.append([grant, self.now, expires, handle])
            state.benefits = benefits
            state.sort_benefits()
        self.reset_context()

    def take_transaction(self, transaction: dict[str, Any]) -> bool:
        """Count the transaction; False if it was already counted."""
        system, txn_id = transaction.get("system") or "", transaction["id"]
        if self.state.seen_transaction(f"{system}\x1f{txn_id}"):
            return False
        location = transaction.get("location")
        location_id = location.get("id") if isinstance(location, dict) else None
        at, total = self.event.transaction_at, float(transaction["total"])
        assert at is not None
        if total >= 0:  # a purchase: the one before it (a refund is not a purchase)
            self.view.previous_spend_at = self.state.last_purchase_before(at)
        self.state.record_transaction(system, txn_id, at, total, location_id)
        self.reset_context()
        return True

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
        an action (CONTRACT §11): a chain a `filter` stopped first is free."""
        limit = reaction.limit
        limited = limit is not None and self.state.limit_reached(
            "fired", reaction.id, self.now, limit.per_profile, limit.window
        )
        if self.observe is not None:
            self.observe.reaction(reaction, dict(self.context()), limited)
            self.running = reaction
        self.reaction_id, self.position = reaction.id, 0
        saved_actions, started = len(self.actions), False
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
                    self.run_step(step)
            except _ChainStopped:
                pass
            if len(self.actions) == saved_actions:
                self.verdicts.append((reaction.id, "matched"))
                return
            self.verdicts.append((reaction.id, "fired"))
            if limit is not None:
                self._undo = None
                self.touch("fired")
                self.state.count_use("fired", reaction.id, self.now, limit.per_profile, limit.window)
        except (RuleError, TemplateError) as exc:
            if started:  # undo the reaction whole: its state changes and its actions
                self.undo(self._undo or {})
                del self.actions[saved_actions:]
                self.reset_context()
            self.verdicts.append((reaction.id, "failed"))
            self.failures.append(
                ReactionFailure(
                    reaction.id, self.event.id, self.state.profile_id, exc.code, exc.message, exc.path
                )
            )
        finally:
            self.reaction_id = None
            self._undo = None

    def run_step(self, step: Step) -> None:
        _STEPS[type(step.spec)](self, step)

    def check_filter(self, step: Step) -> None:
        assert step.condition is not None
        holds = step.condition.holds(self.data(step.condition.reads))
        if self.observe is not None and self.running is not None:
            self.observe.filter(self.running, step, dict(self.context()), holds)
        if not holds:
            raise _ChainStopped

    def remove_status_step(self, step: Step) -> None:
        self.remove_status(step.spec.status, "reaction")

    def change_tag(self, step: Step) -> None:
        spec: TagAddStep | TagRemoveStep = step.spec
        tags = self.state.tags
        adding = isinstance(spec, TagAddStep)
        if (spec.tag in tags) == adding:
            return  # already as asked: no action
        self.touch("tags")
        tags = self.state.tags
        if adding:
            tags.append(spec.tag)
            tags.sort()
        else:
            tags.remove(spec.tag)
        self.emit(spec.type, {"tag": spec.tag})
        self.changed("tags")

    def _expiry(self, valid_for: timedelta | None, modifier: str) -> tuple[str | None, list[str]]:
        if valid_for is None:
            return None, []
        extra, used = best_modifier(self.held_specs(), modifier, 0)
        return shift(self.now, valid_for + timedelta(days=extra)), used

    def create_benefit(self, step: Step) -> None:
        benefit = self.config.benefits[step.spec.benefit]
        expires, used = self._expiry(benefit.valid_for, "benefit_extra_days")
        self.touch("benefits")
        self.state.add_benefit([benefit.handle, self.now, expires, None])
        self.emit(
            "benefit.create",
            {"benefit": benefit.handle, "expires_at": expires, "granted_by": None, "modifiers": used},
        )
        self.changed("benefits")

    def create_reward(self, step: Step) -> None:
        spec: RewardCreateStep = step.spec
        assert step.amount is not None
        amount = round_money(step.amount.value(self.data(step.amount.reads)))
        if amount <= 0:
            return  # nothing to issue (e.g. a percentage of a refund)
        currency = spec.currency
        if currency is None:
            transaction = self.event.data.get("transaction") or {}
            currency = transaction.get("currency")
            if not isinstance(currency, str):
                raise RuleError(
                    f"{step.where}: the transaction has no currency; set `currency:` on the step",
                    code="missing_value",
                    path=step.where,
                )
        expires, used = self._expiry(spec.valid_for, "reward_extra_days")
        self.touch("rewards")
        self.state.add_reward([amount, currency, self.now, expires])
        self.emit(
            "reward.create",
            {"amount": amount, "currency": currency, "expires_at": expires, "modifiers": used},
        )
        self.changed("rewards")

    def award_points(self, step: Step) -> None:
        spec: PointsAwardStep = step.spec
        amount = step.amount
        assert amount is not None
        base = amount.value(self.data(amount.reads))
        held = self.held_specs()
        multiplier, used = best_modifier(held, spec.multiplier, 1) if held else (1, [])
        points = round_points(base * multiplier)
        if points == 0:
            return
        state = self.state
        if spec.kind == "tier":
            self.touch("tier_points")
            state.tier_points.append([seconds(self.now), points])
            self.changed("tier_points")
        else:
            self.touch("point_balance")
            state.point_balance += points
            self.changed("point_balance")
        self.emit("points.award", {"kind": spec.kind, "points": points, "modifiers": used})

    def send(self, step: Step) -> None:
        target = self.config.targets[step.spec.target]
        limit = target.spec.limit
        if limit is not None and self.state.limit_reached(
            "sent", target.id, self.now, limit.per_profile, limit.window
        ):
            self.limited_targets.append(target.id)
            if self.observe is not None and self.running is not None:
                self.observe.capped(self.running, step, target)
            return
        payload = target.template.render(self.context())
        if limit is not None:
            self.touch("sent")
            self.state.count_use("sent", target.id, self.now, limit.per_profile, limit.window)
        self.emit("target.send", {"target": target.id, "payload": payload})

    def outcome(self, skipped: str | None = None) -> Outcome:
        return Outcome(
            state=self.state,
            actions=tuple(self.actions),
            failures=tuple(self.failures),
            skipped=skipped,
            verdicts=tuple(self.verdicts),
            limited_targets=tuple(self.limited_targets),
        )


#: What runs each type of step.
_STEPS: dict[type, Callable[[_Run, Step], None]] = {
    FilterStep: _Run.check_filter,
    StatusApplyStep: _Run.apply_status,
    StatusRemoveStep: _Run.remove_status_step,
    TagAddStep: _Run.change_tag,
    TagRemoveStep: _Run.change_tag,
    BenefitCreateStep: _Run.create_benefit,
    RewardCreateStep: _Run.create_reward,
    PointsAwardStep: _Run.award_points,
    TargetSendStep: _Run.send,
}


def process(
    event: Event, state: ProfileState | None, config: Config, observe: Observer | None = None
) -> Outcome:
    """Run `event` against the profile's `state` (None for a new profile).

    Never mutates `state`: the returned `Outcome.state` is a new object, which
    shares with `state` the fields this event did not change.
    """
    if event.type == PROFILE_DELETED:
        return Outcome(state=None)
    current = state.derive() if state is not None else ProfileState(event.profile_id)
    # The clock first: what fell out of the windows (the dedupe window
    # included) is forgotten before the event is looked at.
    current.advance_clock(event.occurred_at)
    if event.type != SCHEDULE and current.seen_event(event.id):
        return Outcome(state=state, skipped="duplicate_event")
    run = _Run(event, current, config, observe)
    run.expire_statuses(event.occurred_at)
    if event.type == PROFILE_UPDATED:
        run.take_snapshot(event.data["profile"])
    elif event.type == TRANSACTION_CREATED and not run.take_transaction(event.data["transaction"]):
        current.remember_event(event.id, event.occurred_at)
        return Outcome(state=current, actions=tuple(run.actions), skipped="duplicate_transaction")
    if event.type == SCHEDULE:
        automation = config.automations.get(event.data["automation"])
        if automation is not None and automation.enabled:
            run.run_reaction(automation)
    else:
        run.run_reactions(event.type)
        run.state.remember_event(event.id, event.occurred_at)
    return run.outcome()


def next_due(state: ProfileState, config: Config) -> str | None:
    """When the profile's next time-driven work is due (a status expiry), or
    None. A transport calls `run_due` for the profile once its clock reaches
    it; `process` also runs whatever is due before an event, so the actions
    never depend on when (or whether) a transport's ticks ran."""
    times = [expires for _, expires in state.statuses.values() if expires is not None]
    return min(times) if times else None


def run_due(state: ProfileState, config: Config, until: str) -> Outcome:
    """Run the time-driven work of `state` due at or before `until`, in time
    order: statuses that expire emit `status.remove` (reason `expired`) and
    `benefit.revoke`. Never mutates `state`."""
    current = state.derive()
    tick = Event(id="expiry", type=SCHEDULE, occurred_at=until, profile_id=state.profile_id)
    run = _Run(tick, current, config)
    run.expire_statuses(until)
    return run.outcome()
