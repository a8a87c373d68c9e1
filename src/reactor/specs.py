"""The YAML schema ops staff write: one pydantic model per kind of entry.

Models refuse unknown keys and are strict about types (a `tag: 2026` is an
error, not the string "2026"); durations are `30d`, `12h`, `15m`. They do no
I/O and hold no compiled rules: `config.load_config` reads files, checks
references and compiles rules, schedules and templates around them.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from reactor.clock import parse_duration, parse_instant

__all__ = [
    "REMINDER_OF",
    "SPECS",
    "STEP_TYPES",
    "AchievementProgressStep",
    "AchievementSpec",
    "AutomationSpec",
    "BenefitCreateStep",
    "BenefitSpec",
    "FilterStep",
    "LimitSpec",
    "ModifiersSpec",
    "PointKindSpec",
    "PointsAwardStep",
    "PointsReverseStep",
    "ProgrammeSpec",
    "ReactionSpec",
    "ReminderSpec",
    "RewardCreateStep",
    "RuleSpec",
    "Spec",
    "StatusApplyStep",
    "StatusRemoveStep",
    "StatusSpec",
    "StepSpec",
    "TagAddStep",
    "TagRemoveStep",
    "TargetSendStep",
    "TargetSpec",
    "TierLevelSpec",
    "TierSpec",
]

Duration = Annotated[timedelta, BeforeValidator(parse_duration)]
Handle = Annotated[str, StringConstraints(min_length=1, strip_whitespace=True)]


def _instant(value: Any) -> datetime:
    return parse_instant(value.isoformat() if isinstance(value, datetime) else value)


Instant = Annotated[datetime, BeforeValidator(_instant)]


class Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class LimitSpec(Spec):
    """`{per_profile: N}` (ever) or `{per_profile: N, window: 30d}` (rolling)."""

    per_profile: Annotated[int, Field(ge=1)]
    window: Duration | None = None


class ModifiersSpec(Spec):
    reward_extra_days: Annotated[int, Field(ge=0)] | None = None
    benefit_extra_days: Annotated[int, Field(ge=0)] | None = None
    tier_points_multiplier: Annotated[float, Field(gt=0)] | None = None
    reward_points_multiplier: Annotated[float, Field(gt=0)] | None = None


class StatusSpec(Spec):
    handle: Handle
    name: str
    rank: Annotated[int, Field(ge=1)]
    group: str | None = None
    exclusive: bool = False
    customer_facing: bool = True
    default_duration: Duration | None = None
    modifiers: ModifiersSpec = ModifiersSpec()
    grants: list[Handle] = []
    meta: dict[str, Any] = {}


class BenefitSpec(Spec):
    handle: Handle
    name: str
    kind: Handle
    value: float | None = None
    applies_to: str | None = None
    valid_for: Duration | None = None
    meta: dict[str, Any] = {}


class FilterStep(Spec):
    type: Literal["filter"]
    when: Any


class StatusApplyStep(Spec):
    type: Literal["status.apply"]
    status: Handle
    duration: Duration | None = None


class StatusRemoveStep(Spec):
    type: Literal["status.remove"]
    status: Handle


class TagAddStep(Spec):
    type: Literal["tag.add"]
    tag: Handle


class TagRemoveStep(Spec):
    type: Literal["tag.remove"]
    tag: Handle


class BenefitCreateStep(Spec):
    type: Literal["benefit.create"]
    benefit: Handle


class RewardCreateStep(Spec):
    type: Literal["reward.create"]
    amount: Any
    currency: Handle | None = None
    valid_for: Duration


class PointsAwardStep(Spec):
    type: Literal["points.award"]
    kind: Handle  # tier, reward, or a kind declared under `points`
    points: Any


class PointsReverseStep(Spec):
    """Take back what the refunded purchase (`transaction.original_id`) earned."""

    type: Literal["points.reverse"]


class AchievementProgressStep(Spec):
    type: Literal["achievement.progress"]
    achievement: Handle
    count: Any = 1


class TargetSendStep(Spec):
    type: Literal["target.send"]
    target: Handle


StepSpec = Annotated[
    FilterStep
    | StatusApplyStep
    | StatusRemoveStep
    | TagAddStep
    | TagRemoveStep
    | BenefitCreateStep
    | RewardCreateStep
    | PointsAwardStep
    | PointsReverseStep
    | AchievementProgressStep
    | TargetSendStep,
    Field(discriminator="type"),
]
STEP_TYPES = (
    "filter",
    "status.apply",
    "status.remove",
    "tag.add",
    "tag.remove",
    "benefit.create",
    "reward.create",
    "points.award",
    "points.reverse",
    "achievement.progress",
    "target.send",
)


class RuleSpec(Spec):
    id: Handle
    name: str | None = None
    description: str | None = None
    enabled: bool = True
    when: Any = None
    limit: LimitSpec | None = None
    priority: int = 100
    actions: Annotated[list[StepSpec], Field(min_length=1)]


class ReactionSpec(RuleSpec):
    on: Annotated[
        list[
            Literal[
                "profile.updated",
                "transaction.created",
                "tier.changed",
                "status.applied",
                "status.removed",
                "achievement.level",
                "reward.expired",
                "reward.redeemed",
                "points.redeemed",
                "benefit.claimed",
            ]
        ],
        Field(min_length=1),
    ]


class AutomationSpec(RuleSpec):
    schedule: str | None = None
    timezone: str = "UTC"
    every: Duration | None = None
    at: Instant | None = None


def _offset(value: Any) -> timedelta:
    """A duration that may be zero (`0d`): a reminder's `before`/`after`."""
    if isinstance(value, str) and value.strip() in ("0d", "0h", "0m"):
        return timedelta(0)
    return parse_duration(value)


Offset = Annotated[timedelta, BeforeValidator(_offset)]


def _time_of_day(value: Any) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        # YAML 1.1 reads an unquoted 09:00 as a sexagesimal number (540): say so.
        raise ValueError(f'write the time of day in quotes, as "HH:MM" (YAML read {value} as a number)')
    if not isinstance(value, str) or len(value) != 5 or value[2] != ":":
        raise ValueError(f'{value!r} is not a time of day such as "09:00"')
    hours, minutes = value[:2], value[3:]
    if not (hours.isdigit() and minutes.isdigit() and int(hours) < 24 and int(minutes) < 60):
        raise ValueError(f'{value!r} is not a time of day such as "09:00" (00:00 to 23:59)')
    return value


TimeOfDay = Annotated[str, BeforeValidator(_time_of_day)]

#: What a reminder may be relative to (CONTRACT §8); `profile.<field>` besides.
REMINDER_OF = (
    "reward.expires_at",
    "benefit.expires_at",
    "status.expires_at",
    "tier.review_at",
    "profile.birthday",
)


class ReminderSpec(RuleSpec):
    """Steps that run at a time relative to one of a profile's own dates."""

    of: Handle
    before: Offset | None = None
    after: Offset | None = None
    at: TimeOfDay | None = None


class TargetSpec(Spec):
    id: Handle
    name: str | None = None
    url: Handle
    method: Literal["POST", "PUT", "PATCH"] = "POST"
    headers: dict[str, str] = {}
    secret: str | None = None
    template: str | None = None
    body: str | None = None
    limit: LimitSpec | None = None
    max_attempts: Annotated[int, Field(ge=1, le=100)] = 8
    timeout: Annotated[float, Field(gt=0, le=300)] = 10.0
    concurrency: Annotated[int, Field(ge=1, le=256)] = 4
    rate_limit: Annotated[float, Field(gt=0)] | None = None


class ProgrammeSpec(Spec):
    """`programme:` settings (one mapping per configuration root)."""

    timezone: str = "UTC"
    forget_window: Duration = timedelta(days=30)
    dedupe_window: Duration = timedelta(days=7)


class PointKindSpec(Spec):
    """A kind of points besides the built-in `tier` and `reward`."""

    handle: Handle
    name: str
    meta: dict[str, Any] = {}


class TierLevelSpec(Spec):
    handle: Handle
    name: str
    attain: Annotated[float, Field(ge=0)]
    maintain: Annotated[float, Field(ge=0)] | None = None
    meta: dict[str, Any] = {}


class TierSpec(Spec):
    """One tier program: levels lowest first, held one at a time."""

    program: Handle
    name: str | None = None
    measure: Literal["tier_points_12m", "spend_12m"]
    review_after: Duration
    floor: Handle | None = None
    levels: Annotated[list[TierLevelSpec], Field(min_length=1)]


class AchievementSpec(Spec):
    handle: Handle
    name: str
    levels: Annotated[list[Annotated[float, Field(gt=0)]], Field(min_length=1)]
    meta: dict[str, Any] = {}


SPECS: dict[str, type[Spec]] = {
    "statuses": StatusSpec,
    "benefits": BenefitSpec,
    "reactions": ReactionSpec,
    "automations": AutomationSpec,
    "targets": TargetSpec,
    "reminders": ReminderSpec,
    "points": PointKindSpec,
    "tiers": TierSpec,
    "achievements": AchievementSpec,
}
