"""The YAML schema ops staff write: one pydantic model per kind of entry.

Models refuse unknown keys and are strict about types (a `tag: 2026` is an
error, not the string "2026"); durations are `30d`, `12h`, `15m`. They do no
I/O and hold no compiled rules: `config.load_config` reads files, checks
references and compiles rules, schedules and templates around them.

They also hold the bounds of `limits` that concern one field: no control
characters in ids, handles, names and paths (they reach action ids, logs and
file names), numbers finite and integers within ±2^53, durations of at most
100 years, multipliers and extra days bounded, and target URLs that can be sent
to (http or https, a host, a port from 1 to 65535).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from reactor.clock import parse_duration, parse_instant
from reactor.limits import (
    EXTRA_DAYS_MAX,
    INTEGER_MAX,
    MULTIPLIER_MAX,
    NAME_MAX,
    PATH_MAX,
    URL_MAX,
    control_character,
    json_number_problems,
)

__all__ = [
    "REMINDER_OF",
    "SPECS",
    "STEP_MODELS",
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


def _no_control(text: str, allowed: str = "") -> str:
    bad = control_character(text, allowed)
    if bad is not None:
        raise ValueError(f"holds a control character ({bad})")
    return text


def _bounded(most: int) -> AfterValidator:
    def check(text: str) -> str:
        _no_control(text)
        if len(text) > most:
            raise ValueError(f"is longer than {most:,} characters")
        return text

    return AfterValidator(check)


#: An id, handle, tag or reference: it reaches action ids, metrics and logs.
Handle = Annotated[str, StringConstraints(min_length=1, strip_whitespace=True), _bounded(NAME_MAX)]
#: Text on one line (a name): any length, no control characters.
Name = Annotated[str, AfterValidator(_no_control)]
#: Free text (a description): tabs and line breaks allowed, no other control characters.
Text = Annotated[str, AfterValidator(lambda text: _no_control(text, "\t\n\r"))]
#: An integer that every JSON reader holds exactly.
Whole = Annotated[int, Field(ge=-INTEGER_MAX, le=INTEGER_MAX)]
#: A path of a file, relative to its folder.
FilePath = Annotated[str, _bounded(PATH_MAX)]

_HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")


def _header_name(name: str) -> str:
    if not _HEADER_NAME.match(name):
        raise ValueError(f"{name[:100]!r} is not an HTTP header name (letters, digits and !#$%&'*+-.^_`|~)")
    return name


HeaderName = Annotated[str, AfterValidator(_header_name)]
HeaderValue = Annotated[str, AfterValidator(lambda value: _no_control(value, "\t"))]


def _url(url: str) -> str:
    """A URL that can be sent to: http or https, a host, a port from 1 to 65535.
    Parts written as `${VAR}` come from the environment when sending, and are
    checked then."""
    _no_control(url)
    if len(url) > URL_MAX:
        raise ValueError(f"is longer than {URL_MAX:,} characters")
    if any(c.isspace() for c in url):
        raise ValueError(f"{url!r} holds a space: write it as %20")
    scheme, separator, rest = url.partition("://")
    if not separator:
        if url.startswith("${"):
            return url  # the whole base from the environment
        raise ValueError(f"{url!r} is not an http:// or https:// URL")
    if "${" not in scheme and scheme.lower() not in ("http", "https"):
        raise ValueError(f"a target URL must use http or https, not {scheme}:")
    authority = re.split(r"[/?#]", rest, maxsplit=1)[0]
    host_port = authority.rpartition("@")[2]
    if "${" in host_port:
        return url
    if host_port.startswith("["):  # an IPv6 address, [::1]:8080
        host, _, after = host_port[1:].partition("]")
        port = after[1:] if after.startswith(":") else None
    else:
        host, colon, port_text = host_port.partition(":")
        port = port_text if colon else None
    if not host:
        raise ValueError(f"{url!r} has no host")
    if port and not (port.isascii() and port.isdigit() and 1 <= int(port) <= 65535):
        raise ValueError(f"port {port[:20]!r} of {url!r} is not a number from 1 to 65535")
    return url


def _numbers(value: dict[str, Any]) -> dict[str, Any]:
    for pointer, message in json_number_problems(value):
        raise ValueError(f"at {pointer}: {message}")
    return value


#: Free-form data that travels into the context and templates.
Meta = Annotated[dict[str, Any], AfterValidator(_numbers)]


def _instant(value: Any) -> datetime:
    return parse_instant(value.isoformat() if isinstance(value, datetime) else value)


Instant = Annotated[datetime, BeforeValidator(_instant)]


class Spec(BaseModel):
    # NaN and infinities are refused in every float field (`finite_number`).
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)


class LimitSpec(Spec):
    """`{per_profile: N}` (ever) or `{per_profile: N, window: 30d}` (rolling)."""

    per_profile: Annotated[int, Field(ge=1, le=INTEGER_MAX)]
    window: Duration | None = None


class ModifiersSpec(Spec):
    reward_extra_days: Annotated[int, Field(ge=0, le=EXTRA_DAYS_MAX)] | None = None
    benefit_extra_days: Annotated[int, Field(ge=0, le=EXTRA_DAYS_MAX)] | None = None
    tier_points_multiplier: Annotated[float, Field(gt=0, le=MULTIPLIER_MAX)] | None = None
    reward_points_multiplier: Annotated[float, Field(gt=0, le=MULTIPLIER_MAX)] | None = None


class StatusSpec(Spec):
    handle: Handle
    name: Name
    rank: Annotated[int, Field(ge=1, le=INTEGER_MAX)]
    group: Handle | None = None
    exclusive: bool = False
    customer_facing: bool = True
    default_duration: Duration | None = None
    modifiers: ModifiersSpec = ModifiersSpec()
    grants: list[Handle] = []
    meta: Meta = {}


class BenefitSpec(Spec):
    handle: Handle
    name: Name
    kind: Handle
    value: float | None = None
    applies_to: Name | None = None
    valid_for: Duration | None = None
    meta: Meta = {}


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


#: The model of each step type.
STEP_MODELS: dict[str, type[Spec]] = {
    "filter": FilterStep,
    "status.apply": StatusApplyStep,
    "status.remove": StatusRemoveStep,
    "tag.add": TagAddStep,
    "tag.remove": TagRemoveStep,
    "benefit.create": BenefitCreateStep,
    "reward.create": RewardCreateStep,
    "points.award": PointsAwardStep,
    "points.reverse": PointsReverseStep,
    "achievement.progress": AchievementProgressStep,
    "target.send": TargetSendStep,
}


class RuleSpec(Spec):
    id: Handle
    name: Name | None = None
    description: Text | None = None
    enabled: bool = True
    when: Any = None
    limit: LimitSpec | None = None
    priority: Whole = 100
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
    schedule: Annotated[str, _bounded(NAME_MAX)] | None = None
    timezone: Annotated[str, _bounded(NAME_MAX)] = "UTC"
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
    if not (
        value.isascii() and hours.isdigit() and minutes.isdigit() and int(hours) < 24 and int(minutes) < 60
    ):
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
    name: Name | None = None
    url: Annotated[str, StringConstraints(min_length=1, strip_whitespace=True), AfterValidator(_url)]
    method: Literal["POST", "PUT", "PATCH"] = "POST"
    # Values may hold ${VAR}: what the environment gives is checked when sending.
    headers: dict[HeaderName, HeaderValue] = {}
    secret: str | None = None
    template: FilePath | None = None
    body: str | None = None
    limit: LimitSpec | None = None
    max_attempts: Annotated[int, Field(ge=1, le=100)] = 8
    timeout: Annotated[float, Field(gt=0, le=300)] = 10.0
    concurrency: Annotated[int, Field(ge=1, le=256)] = 4
    rate_limit: Annotated[float, Field(gt=0)] | None = None


class ProgrammeSpec(Spec):
    """`programme:` settings (one mapping per configuration root)."""

    timezone: Annotated[str, _bounded(NAME_MAX)] = "UTC"
    forget_window: Duration = timedelta(days=30)
    dedupe_window: Duration = timedelta(days=7)


class PointKindSpec(Spec):
    """A kind of points besides the built-in `tier` and `reward`."""

    handle: Handle
    name: Name
    meta: Meta = {}


class TierLevelSpec(Spec):
    handle: Handle
    name: Name
    attain: Annotated[float, Field(ge=0)]
    maintain: Annotated[float, Field(ge=0)] | None = None
    meta: Meta = {}


class TierSpec(Spec):
    """One tier program: levels lowest first, held one at a time."""

    program: Handle
    name: Name | None = None
    measure: Literal["tier_points_12m", "spend_12m"]
    review_after: Duration
    floor: Handle | None = None
    levels: Annotated[list[TierLevelSpec], Field(min_length=1)]


class AchievementSpec(Spec):
    handle: Handle
    name: Name
    levels: Annotated[list[Annotated[float, Field(gt=0)]], Field(min_length=1)]
    meta: Meta = {}


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
