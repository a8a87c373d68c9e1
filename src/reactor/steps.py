"""The steps of a chain (CONTRACT §2, §7): what each one does to the state,
and the actions and events it emits.

Each step is a function of the running `engine.Run` and the compiled `Step`.
A step that changes a field of the state `touch`es it first (copy-on-write,
and the undo of a reaction that fails), then says which part of the context
it `changed`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from reactor.achievements import crossed
from reactor.actions import best_modifier, round_points
from reactor.clock import seconds, shift
from reactor.errors import RuleError
from reactor.ledger import MULTIPLIER_OF, reversals
from reactor.limits import POINTS_MAX, amount_in_range, points_in_range
from reactor.specs import (
    AchievementProgressStep,
    BenefitCreateStep,
    FilterStep,
    PointsAwardStep,
    PointsReverseStep,
    RewardCreateStep,
    StatusApplyStep,
    StatusRemoveStep,
    TagAddStep,
    TagRemoveStep,
    TargetSendStep,
)
from reactor.state import purchase_key, round_money

if TYPE_CHECKING:
    from reactor.config import Step
    from reactor.engine import Run
    from reactor.rules import Amount

__all__ = ["STEPS", "ChainStopped", "remove_status"]


class ChainStopped(Exception):
    """A `filter` step was false: the rest of the chain does not run."""


def _amount(run: Run, amount: Amount) -> float:
    """An amount's value; a number needs no context."""
    number = amount.number
    return number if number is not None else amount.value(run.data(amount.reads))


def check_filter(run: Run, step: Step) -> None:
    assert step.condition is not None
    holds = step.condition.holds(run.data(step.condition.reads))
    if run.observe is not None and run.running is not None:
        run.observe.filter(run.running, step, dict(run.context()), holds)
    if not holds:
        raise ChainStopped


# --- statuses ----------------------------------------------------------------


def remove_status(run: Run, handle: str, reason: str) -> None:
    """Stop holding a status: `status.remove`, `benefit.revoke` for what it
    granted, and `status.removed`."""
    state = run.state
    if handle not in state.statuses:
        return
    run.touch("statuses", "benefits")
    del state.statuses[handle]
    run.emit("status.remove", {"status": handle, "reason": reason})
    kept = []
    for held in state.benefits:
        if held[3] == handle:
            run.emit("benefit.revoke", {"benefit": held[0], "reason": reason})
        else:
            kept.append(held)
    state.benefits = kept
    run.changed("statuses")
    run.raise_event("status.removed", {"status": handle, "reason": reason})


def remove_status_step(run: Run, step: Step) -> None:
    remove_status(run, step.spec.status, "reaction")


def apply_status(run: Run, step: Step) -> None:
    asked: StatusApplyStep = step.spec
    spec = run.config.statuses[asked.status]
    duration = asked.duration or spec.default_duration
    expires = shift(run.now, duration) if duration else None
    state = run.state
    held = state.statuses.get(spec.handle)
    if held is not None:
        current = held[1]
        if current is None or (expires is not None and expires <= current):
            return  # already held at least as long: nothing to do
        run.touch("statuses", "benefits")
        state.statuses[spec.handle][1] = expires
        for benefit in state.benefits:
            if benefit[3] == spec.handle:
                benefit[2] = expires
        state.sort_benefits()
        run.emit("status.apply", {"status": spec.handle, "expires_at": expires})
        run.changed("statuses")
        run.raise_event("status.applied", {"status": spec.handle, "reason": "extended"})
        return
    if spec.group is not None and spec.exclusive:
        for other in sorted(state.statuses):
            other_spec = run.config.statuses.get(other)
            if other_spec is not None and other_spec.group == spec.group:
                remove_status(run, other, "replaced")
    run.touch("statuses", "benefits")
    state.statuses[spec.handle] = [run.now, expires]
    run.emit("status.apply", {"status": spec.handle, "expires_at": expires})
    for grant in spec.grants:
        instance = run.emit(
            "benefit.create",
            {"benefit": grant, "expires_at": expires, "granted_by": spec.handle, "modifiers": []},
        )
        state.add_benefit([grant, run.now, expires, spec.handle, instance, None])
    run.changed("statuses")
    run.raise_event("status.applied", {"status": spec.handle, "reason": "reaction"})


# --- tags, benefits, rewards ------------------------------------------------------


def change_tag(run: Run, step: Step) -> None:
    spec: TagAddStep | TagRemoveStep = step.spec
    adding = isinstance(spec, TagAddStep)
    if (spec.tag in run.state.tags) == adding:
        return  # already as asked: no action
    run.touch("tags")
    tags = run.state.tags
    if adding:
        tags.append(spec.tag)
        tags.sort()
    else:
        tags.remove(spec.tag)
    run.emit(spec.type, {"tag": spec.tag})
    run.changed("tags")


def _expiry(run: Run, valid_for: timedelta | None, modifier: str) -> tuple[str | None, list[str]]:
    if valid_for is None:
        return None, []
    extra, used = best_modifier(run.held_specs(), modifier, 0)
    return shift(run.now, valid_for + timedelta(days=extra)), used


def create_benefit(run: Run, step: Step) -> None:
    benefit = run.config.benefits[step.spec.benefit]
    expires, used = _expiry(run, benefit.valid_for, "benefit_extra_days")
    instance = run.emit(
        "benefit.create",
        {"benefit": benefit.handle, "expires_at": expires, "granted_by": None, "modifiers": used},
    )
    run.touch("benefits")
    run.state.add_benefit([benefit.handle, run.now, expires, None, instance, None])
    run.changed("benefits")


def create_reward(run: Run, step: Step) -> None:
    spec: RewardCreateStep = step.spec
    assert step.amount is not None
    amount = round_money(amount_in_range(_amount(run, step.amount), step.where))
    if amount <= 0:
        return  # nothing to issue (e.g. a percentage of a refund)
    currency = spec.currency
    if currency is None:
        transaction = run.event.data.get("transaction") or {}
        currency = transaction.get("currency")
        if not isinstance(currency, str):
            raise RuleError(
                f"{step.where}: the transaction has no currency; set `currency:` on the step",
                code="missing_value",
                path=step.where,
            )
    expires, used = _expiry(run, spec.valid_for, "reward_extra_days")
    reward_id = run.emit(
        "reward.create",
        {"amount": amount, "currency": currency, "expires_at": expires, "modifiers": used},
    )
    run.touch("rewards", "reward_cents")
    run.state.add_reward([reward_id, amount, amount, currency, run.now, expires])
    run.changed("rewards")


# --- points -------------------------------------------------------------------------


def _balance(run: Run, kind: str) -> int:
    if kind == "tier":
        return round_points(run.state.tier_points_12m())
    return run.state.points.get(kind, 0)


def add_points(run: Run, kind: str, points: int, awarded_at: int | None = None) -> None:
    """Change a kind's balance (tier points: at `awarded_at`, so that a
    reversal leaves the 12 months with what it reverses)."""
    if kind == "tier":
        run.touch("tier_points")
        state = run.state
        state.tier_points = state.tier_points.appended(
            (seconds(run.now) if awarded_at is None else awarded_at, points), None, (points, 0)
        )
        run.changed("tier_points")
    else:
        run.touch("points")
        run.state.points[kind] = run.state.points.get(kind, 0) + points
        run.changed("points")


def award_points(run: Run, step: Step) -> None:
    # The most frequent step (on every purchase, in most programmes): the
    # range checks call out only when a value is out of range.
    spec: PointsAwardStep = step.spec
    amount = step.amount
    assert amount is not None
    base = _amount(run, amount)
    held = run.held_specs()
    kind = spec.kind
    modifier = MULTIPLIER_OF.get(kind)
    multiplier, used = best_modifier(held, modifier, 1) if held and modifier else (1, [])
    value = base * multiplier
    if not -POINTS_MAX <= value <= POINTS_MAX:
        points_in_range(value, step.where)  # raises
    points = round_points(value)
    if points == 0:
        return
    # The balance after: an award at `now` adds to the 12 months whole.
    balance = _balance(run, kind) + points
    if not -POINTS_MAX <= balance <= POINTS_MAX:
        points_in_range(balance, step.where, "the point balance")  # raises
    add_points(run, kind, points)
    run.emit("points.award", {"kind": kind, "points": points, "modifiers": used, "balance": balance})
    earning = run.earning
    if earning is not None:
        earned = earning.setdefault(kind, [0])
        earned[0] += points
        if used:
            earned.extend(s for s in used if s not in earned[1:])


def reverse_points(run: Run, step: Step) -> None:
    """Take back what the refunded purchase earned (CONTRACT §7)."""
    transaction = run.event.data.get("transaction") or {}
    original = transaction.get("original_id")
    total = float(transaction.get("total", 0))
    key = purchase_key(transaction.get("system") or "", str(original))
    record = run.state.purchases.get(key) if isinstance(original, str) and total < 0 else None
    if record is None:
        run.unmatched_reversals += 1  # no original_id, or not among the purchases kept
        return
    if record[4] is None:
        return  # it earned nothing
    awarded_at, earned = record[4]
    taken = run.state.reversed.get(key, {})
    back = reversals(earned, taken, -total, float(record[1]))
    if not back:
        return
    run.touch("reversed")
    now_taken = run.state.reversed.setdefault(key, {})
    for reversal in back:
        add_points(run, reversal.kind, -reversal.points, awarded_at if reversal.kind == "tier" else None)
        now_taken[reversal.kind] = now_taken.get(reversal.kind, 0) + reversal.points
        run.emit(
            "points.award",
            {
                "kind": reversal.kind,
                "points": -reversal.points,
                "modifiers": list(reversal.modifiers),
                "reverses": original,
                "balance": _balance(run, reversal.kind),
            },
        )


# --- achievements ---------------------------------------------------------------------


def progress_achievement(run: Run, step: Step) -> None:
    spec: AchievementProgressStep = step.spec
    achievement = run.config.achievements[spec.achievement]
    count: Any = 1 if step.amount is None else _amount(run, step.amount)
    if not count > 0:
        raise RuleError(
            f"{step.where}: achievement.progress needs a count above 0, not {count!r}",
            code="invalid_count",
            path=step.where,
        )
    if isinstance(count, float) and count.is_integer():
        count = int(count)
    total, level = run.state.achievements.get(achievement.handle, [0, 0])
    after = total + count
    levels = crossed(achievement.levels, total, after)
    run.touch("achievements")
    run.state.achievements[achievement.handle] = [after, levels[-1][0] if levels else level]
    run.emit("achievement.progress", {"achievement": achievement.handle, "count": count, "total": after})
    for number, threshold in levels:
        run.emit(
            "achievement.level",
            {"achievement": achievement.handle, "level": number, "threshold": threshold, "total": after},
        )
        run.raise_event("achievement.level", {"achievement": achievement.handle, "level": number})
    run.changed("achievements")


# --- targets ---------------------------------------------------------------------------


def send(run: Run, step: Step) -> None:
    target = run.config.targets[step.spec.target]
    limit = target.spec.limit
    state = run.state
    if limit is not None and state.limit_reached("sent", target.id, run.now, limit.per_profile, limit.window):
        run.limited_targets.append(target.id)
        if run.observe is not None and run.running is not None:
            run.observe.capped(run.running, step, target)
        return
    template = target.template
    payload = template.render(run.context_of(template.names))
    if limit is not None:
        run.touch("sent")
        state.count_use("sent", target.id, run.now, limit.per_profile, limit.window)
    run.emit("target.send", {"target": target.id, "payload": payload})


#: What runs each type of step.
STEPS: dict[type, Callable[[Run, Step], None]] = {
    FilterStep: check_filter,
    StatusApplyStep: apply_status,
    StatusRemoveStep: remove_status_step,
    TagAddStep: change_tag,
    TagRemoveStep: change_tag,
    BenefitCreateStep: create_benefit,
    RewardCreateStep: create_reward,
    PointsAwardStep: award_points,
    PointsReverseStep: reverse_points,
    AchievementProgressStep: progress_achievement,
    TargetSendStep: send,
}
