"""The configuration ops staff edit: YAML under `reactions/` and `targets/`.

`load_config(root)` is the one place configuration is read. It parses every
`*.yaml` (and `*.yml`) file with positions (ruamel.yaml), validates each item
with pydantic models that refuse unknown keys, checks every reference between
items, compiles every rule, amount, schedule and template, and returns a frozen
`Config`. Every problem found, not only the first, is reported as
`path:line:col: message` in one `ConfigError`. A running worker only ever swaps
in a `Config` that loaded cleanly.

Loading is bounded (see `limits` and `config_files`): files only from inside
the root, file sizes and YAML nodes (aliases expanded) counted, at most
`CONFIG_ENTRIES_MAX` entries, rules of bounded size, and nothing that can only
fail later (a cron that never fires, a URL that cannot be sent to).
"""

from __future__ import annotations

import difflib
import hashlib
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    ValidationError,
)
from ruamel.yaml.comments import CommentedMap, CommentedSeq

from reactor.achievements import Achievement
from reactor.config_files import INVALID, Budget, find_yaml_files, parse_yaml, read_bounded, resolve_inside
from reactor.context import PARTS
from reactor.errors import ConfigError, ConfigIssue
from reactor.events import DERIVED_TYPES, PROFILE_UPDATED, REDEMPTION_TYPES, TRANSACTION_CREATED
from reactor.ledger import BUILT_IN_KINDS
from reactor.limits import (
    AMOUNT_MAX,
    CONFIG_ENTRIES_MAX,
    POINTS_MAX,
    YEARLY_OFFSET_MAX,
    describe_number,
    json_number_problems,
    rule_problems,
)
from reactor.reminders import ReminderRule
from reactor.rules import (
    Amount,
    Condition,
    ConditionBatch,
    check_rule,
    compile_amount,
    compile_batch,
    compile_condition,
)
from reactor.schedules import Schedule, cron_problem
from reactor.schema import Shape, check_path, check_rule_paths, context_shape, did_you_mean
from reactor.specs import (
    REMINDER_OF,
    SPECS,
    STEP_MODELS,
    STEP_TYPES,
    AchievementProgressStep,
    AchievementSpec,
    AutomationSpec,
    BenefitSpec,
    FilterStep,
    LimitSpec,
    PointsAwardStep,
    ProgrammeSpec,
    ReminderSpec,
    RewardCreateStep,
    RuleSpec,
    Spec,
    StatusSpec,
    TargetSendStep,
    TargetSpec,
    TierSpec,
)
from reactor.state import DEDUPE_WINDOW
from reactor.templates import Template, TemplateSyntaxProblem, compile_template
from reactor.tiers import Level, Program

__all__ = [
    "BenefitSpec",
    "Config",
    "LimitSpec",
    "Reaction",
    "StatusSpec",
    "Step",
    "Target",
    "load_config",
]

TOP_LEVEL_KEYS = (
    "programme",
    "points",
    "tiers",
    "achievements",
    "statuses",
    "benefits",
    "reactions",
    "automations",
    "reminders",
    "targets",
)
#: Sections whose entries are named by `handle` (per section) or `program`;
#: the others by `id`, unique across reactions, automations and targets.
_NAMED_BY = {
    "statuses": "handle",
    "benefits": "handle",
    "points": "handle",
    "achievements": "handle",
    "tiers": "program",
}
#: How one entry of each section is named in messages.
_SINGULAR = {
    "statuses": "status",
    "benefits": "benefit",
    "reactions": "reaction",
    "automations": "automation",
    "targets": "target",
    "points": "point",
    "tiers": "tier",
    "achievements": "achievement",
}
CONFIG_DIRS = ("reactions", "targets")


@dataclass(frozen=True, slots=True)
class Step:
    """One step of a chain, with its rule or amount compiled. `index` is the
    step's place in the YAML list."""

    spec: Any
    where: str
    index: int
    condition: Condition | None = None
    amount: Amount | None = None


@dataclass(frozen=True, slots=True)
class Dependents:
    """The `when`s of some reactions, as one batch; `indices` are their places
    among the reactions of one event type, in order."""

    batch: ConditionBatch
    indices: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Reaction:
    """A reaction (fired by events) or an automation (fired by a schedule)."""

    id: str
    kind: Literal["reaction", "automation", "reminder"]
    name: str | None
    on: tuple[str, ...]
    enabled: bool
    priority: int
    limit: LimitSpec | None
    steps: tuple[Step, ...]
    where: str
    when: Any = None
    condition: Condition | None = None
    schedule: Schedule | None = None
    #: Whether a step can fail at run time (a rule, an expression amount, a
    #: template): only then is the state saved to roll the reaction back.
    can_fail: bool = True
    #: The entry as written in the YAML, checked (for `reactor diff`, which
    #: says what changed in a reaction's definition).
    spec: RuleSpec | None = field(default=None, compare=False, repr=False)
    #: A reminder's due rule (CONTRACT §8).
    reminder: ReminderRule | None = None


@dataclass(frozen=True, slots=True)
class Target:
    """A downstream HTTP endpoint. `url`, `headers` and `secret` still hold their
    `${VAR}` references: they are resolved at delivery time, never earlier."""

    spec: TargetSpec
    template: Template
    where: str

    @property
    def id(self) -> str:
        return self.spec.id


@dataclass(frozen=True, slots=True)
class Programme:
    """Programme-wide settings (`programme:` in the YAML, CONTRACT §7)."""

    timezone: str = "UTC"
    forget_window: timedelta = timedelta(days=30)
    dedupe_window: timedelta = DEDUPE_WINDOW


@dataclass(frozen=True, slots=True)
class Config:
    """A loaded, checked, compiled configuration. Immutable: reload builds a new one."""

    root: Path
    version: str
    statuses: Mapping[str, StatusSpec]
    benefits: Mapping[str, BenefitSpec]
    reactions: Mapping[str, Reaction]
    automations: Mapping[str, Reaction]
    targets: Mapping[str, Target]
    by_event_type: Mapping[str, tuple[Reaction, ...]] = field(default_factory=dict)
    exclusive_groups: frozenset[str] = frozenset()
    #: The `when` of every reaction in `by_event_type[type]`, compiled as one batch.
    batches: Mapping[str, ConditionBatch] = field(default_factory=dict)
    #: For each part of the state (`context.PARTS`), the `when`s of
    #: `by_event_type[type]` that read it, to evaluate again when it changes.
    dependents: Mapping[str, Mapping[str, Dependents]] = field(default_factory=dict)
    #: The incentive programme (CONTRACT §7): tier programs in configuration
    #: order, achievements, point kinds, programme-wide settings.
    tiers: tuple[Program, ...] = ()
    #: Reminders by priority then id (CONTRACT §8).
    reminders: Mapping[str, Reaction] = field(default_factory=dict)
    #: The enabled ones among them, in the same order.
    enabled_reminders: tuple[Reaction, ...] = ()
    achievements: Mapping[str, Achievement] = field(default_factory=dict)
    point_kinds: tuple[str, ...] = BUILT_IN_KINDS
    programme: Programme = field(default_factory=lambda: Programme())

    def reactions_for(self, event_type: str) -> tuple[Reaction, ...]:
        """Enabled reactions listening to `event_type`, by priority then id."""
        return self.by_event_type.get(event_type, ())

    def batch_for(self, event_type: str) -> ConditionBatch | None:
        return self.batches.get(event_type)


# --- YAML with positions ---------------------------------------------------


@dataclass
class _Item:
    section: str
    file: str
    node: Any
    spec: Any


def _plain(node: Any) -> Any:
    """ruamel's commented containers and scalar types, as plain JSON-like Python."""
    if isinstance(node, Mapping):
        return {str(k): _plain(v) for k, v in node.items()}
    if isinstance(node, list | tuple):
        return [_plain(v) for v in node]
    if isinstance(node, bool) or node is None:
        return node
    if isinstance(node, int):
        return int(node)
    if isinstance(node, float):
        return float(node)
    if isinstance(node, datetime | date):
        return node.isoformat()
    return str(node)


def _at(node: Any, part: Any, where: str) -> tuple[int, int] | None:
    """0-based (line, col) of `node`'s key or value `part` (`where`: key, value,
    item), or of the value's own start when `node` does not hold it itself (a
    key merged in with `<<: *anchor` is written at the anchor)."""
    try:
        line, col = getattr(node.lc, where)(part)
        return line, col
    except (KeyError, IndexError, TypeError):
        lc = getattr(node[part], "lc", None)
        return (lc.line, lc.col) if lc is not None and lc.line is not None else None


def _position(node: Any, path: Sequence[Any]) -> tuple[int, int]:
    """1-based (line, col) of the deepest YAML node reachable along `path`."""
    line, col = (getattr(node, "lc", None) and (node.lc.line, node.lc.col)) or (0, 0)
    for part in path:
        if isinstance(node, CommentedMap) and part in node:
            found = _at(node, part, "value" if part != path[-1] else "key")
        elif isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node):
            found = _at(node, part, "item")
        else:
            continue
        if found is not None:
            line, col = found
        node = node[part]
    return line + 1, col + 1


def _value_position(node: Any, path: Sequence[Any]) -> tuple[int, int]:
    """Like `_position`, but pointing at the value of the last key."""
    if path and isinstance(node, CommentedMap | CommentedSeq):
        parent_line, parent_col = _position(node, path[:-1])
        parent = node
        for part in path[:-1]:
            try:
                parent = parent[part]
            except (KeyError, IndexError, TypeError):
                return parent_line, parent_col
        last = path[-1]
        if isinstance(parent, CommentedMap) and last in parent:
            found = _at(parent, last, "value")
            return (found[0] + 1, found[1] + 1) if found is not None else (parent_line, parent_col)
    return _position(node, path)


def _pointer_path(pointer: str) -> list[Any]:
    parts: list[Any] = []
    for raw in pointer.split("/")[1:]:
        part = raw.replace("~1", "/").replace("~0", "~")
        parts.append(int(part) if part.isdigit() else part)
    return parts


def _describe_validation(error: Mapping[str, Any]) -> str:
    loc = [p for p in error["loc"] if not (isinstance(p, str) and p in STEP_TYPES)]
    if loc and loc[-1] == "[key]":  # a bad key of a mapping: named by the mapping
        loc = loc[:-2]
    names = [p for p in loc if isinstance(p, str)]
    name = names[-1] if names else ""
    kind = error["type"]
    if kind == "extra_forbidden":
        return f"unknown key `{name}`"
    if kind == "missing":
        return f"missing required key `{name}`"
    if kind == "union_tag_invalid":
        tag = error.get("ctx", {}).get("tag", "")
        close = difflib.get_close_matches(str(tag), STEP_TYPES, n=1)
        hint = f" (did you mean `{close[0]}`?)" if close else ""
        return f"unknown step type {tag!r}{hint}: expected one of {', '.join(STEP_TYPES)}"
    if kind == "union_tag_not_found":
        return "a step needs a `type`: one of " + ", ".join(STEP_TYPES)
    if kind == "literal_error":
        choices = re.findall(r"'([^']*)'", str(error.get("ctx", {}).get("expected", "")))
        got = error.get("input")
        hint = did_you_mean(str(got), choices) if isinstance(got, str) else ""
        return f"`{name}`: {got!r} is not one of {', '.join(choices)}{hint}"
    message = error["msg"]
    if kind == "value_error":
        message = str(error.get("ctx", {}).get("error", message))
    return f"`{name}`: {message}" if name else message


class _Loader:
    """Collects issues while reading one configuration root."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.issues: list[ConfigIssue] = []
        self.items: list[_Item] = []
        self.programme: _Item | None = None
        self.digest = hashlib.sha256()
        #: What the files read so far used of the root's bounds (`config_files`).
        self.budget = Budget()
        self.entries = 0

    def issue(self, file: str, line: int, col: int, message: str) -> None:
        self.issues.append(ConfigIssue(file, line, col, message))

    def read(self) -> None:
        for path in find_yaml_files(self.root, CONFIG_DIRS, self.issue):
            if self.budget.spent:
                break  # a bound of the whole root is passed (reported): it cannot load
            rel = path.relative_to(self.root).as_posix()
            text = read_bounded(path, rel, self.budget, self.issue)
            if text is None:
                continue
            self.digest.update(rel.encode() + b"\0" + text + b"\0")
            document = parse_yaml(rel, text, self.budget, self.issue)
            if document is not INVALID:
                self.read_document(rel, document)

    def read_document(self, rel: str, document: Any) -> None:
        if document is None:
            return
        if not isinstance(document, CommentedMap):
            self.issue(rel, 1, 1, f"expected a mapping with keys {', '.join(TOP_LEVEL_KEYS)}")
            return
        for key in document:
            line, col = _position(document, [key])
            if key == "programme":
                self.read_programme(rel, document)
                continue
            if key not in SPECS:
                close = difflib.get_close_matches(str(key), TOP_LEVEL_KEYS, n=1)
                hint = f" (did you mean `{close[0]}`?)" if close else ""
                self.issue(rel, line, col, f"unknown top-level key `{key}`{hint}")
                continue
            entries = document[key]
            if entries is None:
                continue
            if not isinstance(entries, CommentedSeq):
                self.issue(rel, *_value_position(document, [key]), f"`{key}` must be a list")
                continue
            for index, node in enumerate(entries):
                self.entries += 1
                if self.entries > CONFIG_ENTRIES_MAX:
                    line, col = entries.lc.item(index)
                    self.issue(
                        rel,
                        line + 1,
                        col + 1,
                        f"more than {CONFIG_ENTRIES_MAX:,} entries (statuses, benefits, reactions, "
                        "automations and targets together) in the configuration root; the entries "
                        "and files after this one are not read",
                    )
                    self.budget.spent = True
                    return
                self.read_item(rel, key, entries, index, node)

    def read_programme(self, rel: str, document: CommentedMap) -> None:
        node = document["programme"]
        if node is None:
            return
        if not isinstance(node, CommentedMap):
            self.issue(rel, *_value_position(document, ["programme"]), "`programme` must be a mapping")
            return
        if self.programme is not None:
            line, _ = _position(self.programme.node, [])
            self.issue(
                rel,
                *_position(document, ["programme"]),
                f"`programme` is already set in {self.programme.file}:{line}: one per configuration",
            )
            return
        try:
            spec = ProgrammeSpec.model_validate(_plain(node))
        except ValidationError as exc:
            for error in exc.errors(include_url=False):
                loc = list(error["loc"])
                where = _position if error["type"] in ("missing", "extra_forbidden") else _value_position
                self.issue(rel, *where(node, loc), f"programme: {_describe_validation(error)}")
            return
        self.programme = _Item("programme", rel, node, spec)

    def read_item(self, rel: str, section: str, entries: CommentedSeq, index: int, node: Any) -> None:
        if not isinstance(node, CommentedMap):
            line, col = entries.lc.item(index)
            self.issue(rel, line + 1, col + 1, f"each entry of `{section}` must be a mapping")
            return
        raw = _plain(node)
        try:
            spec = SPECS[section].model_validate(raw)
        except ValidationError as exc:
            errors = exc.errors(include_url=False)
            renames = _near_misses(SPECS[section], errors)
            for error in errors:
                if _covered(error, renames):
                    continue  # `acitons` says it: no "missing `actions`" beside it
                loc = [p for p in error["loc"] if not (isinstance(p, str) and p in STEP_TYPES)]
                if error["type"] == "union_tag_invalid":
                    loc.append("type")
                if loc and loc[-1] == "[key]":
                    line, col = _position(node, loc[:-1])  # at the key
                elif error["type"] in ("missing", "extra_forbidden"):
                    line, col = _position(node, loc)
                else:
                    line, col = _value_position(node, loc)
                hint = renames.get(_container(error), {}).get(str(error["loc"][-1]), "")
                hint = f" (did you mean `{hint}`?)" if hint else ""
                self.issue(
                    rel, line, col, f"{_SINGULAR.get(section, section)}: {_describe_validation(error)}{hint}"
                )
            # Every problem in one run: check what can be checked of the entry as
            # it was meant (typos of keys put right, bad steps left out); it is
            # never loaded, since it has problems already.
            repaired = _repaired(SPECS[section], raw, errors, renames)
            if repaired is not None:
                self.items.append(_Item(section, rel, node, repaired))
            return
        self.items.append(_Item(section, rel, node, spec))


def _container(error: Mapping[str, Any]) -> tuple[Any, ...]:
    return tuple(error["loc"][:-1])


def _model_at(model: type[Spec], loc: Sequence[Any]) -> type[Spec] | None:
    """The spec model a location inside an entry leads to (its container)."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            continue
        if isinstance(part, str) and part in STEP_TYPES:
            current = STEP_MODELS.get(part)
            continue
        fields = getattr(current, "model_fields", None)
        if fields is None or part not in fields:
            return None
        current = _spec_in(fields[part].annotation)
    return current if isinstance(current, type) and issubclass(current, Spec) else None


def _spec_in(annotation: Any) -> Any:
    """The Spec model inside an annotation (`X | None`, `list[X]`), if one."""
    if isinstance(annotation, type) and issubclass(annotation, Spec):
        return annotation
    for inner in getattr(annotation, "__args__", ()) or ():
        found = _spec_in(inner)
        if found is not None:
            return found
    return None


def _near_misses(model: type[Spec], errors: list[Any]) -> dict[tuple[Any, ...], dict[str, str]]:
    """For each mapping with unknown keys: unknown key -> the field it misspells."""
    out: dict[tuple[Any, ...], dict[str, str]] = {}
    for error in errors:
        if error["type"] != "extra_forbidden":
            continue
        container = _model_at(model, error["loc"][:-1])
        name = str(error["loc"][-1])
        if container is None:
            continue
        hint = did_you_mean(name, container.model_fields)
        if hint:
            out.setdefault(_container(error), {})[name] = hint.split("`")[1]
    return out


def _covered(error: Mapping[str, Any], renames: Mapping[tuple[Any, ...], Mapping[str, str]]) -> bool:
    return error["type"] == "missing" and error["loc"][-1] in renames.get(_container(error), {}).values()


def _repaired(
    model: type[Spec], raw: Any, errors: list[Any], renames: Mapping[tuple[Any, ...], Mapping[str, str]]
) -> Any:
    """The entry with its misspelt top-level keys put right and its unknown
    keys and broken steps left out, checked; None if it still does not pass."""
    if not isinstance(raw, dict):
        return None
    fixed = dict(raw)
    for old, new in renames.get((), {}).items():
        if new not in fixed:
            fixed[new] = fixed.pop(old)
    for error in errors:
        loc = error["loc"]
        if error["type"] == "extra_forbidden" and len(loc) == 1:
            fixed.pop(loc[0], None)
    broken = {
        loc[1] for e in errors if len(loc := e["loc"]) > 1 and loc[0] == "actions" and isinstance(loc[1], int)
    }
    if broken and isinstance(fixed.get("actions"), list):
        fixed["actions"] = [a for i, a in enumerate(fixed["actions"]) if i not in broken]
    try:
        return model.model_validate(fixed)
    except ValidationError:
        return None


def _key(item: _Item) -> str:
    return str(getattr(item.spec, _NAMED_BY.get(item.section, "id"), ""))


def _where(item: _Item, path: Sequence[Any] = ()) -> str:
    line, col = _position(item.node, path) if path else _position(item.node, [])
    return f"{item.file}:{line}:{col}"


class _Compiler:
    """Second pass: uniqueness, references, rules, schedules, templates."""

    def __init__(self, loader: _Loader) -> None:
        self.loader = loader
        self.by_section: dict[str, dict[str, _Item]] = {s: {} for s in SPECS}
        self._shapes: dict[tuple[str, tuple[str, ...]], Shape] = {}

    def issue_at(self, item: _Item, path: Sequence[Any], message: str, value: bool = True) -> None:
        line, col = _value_position(item.node, path) if value else _position(item.node, path)
        self.loader.issue(item.file, line, col, message)

    def index(self) -> None:
        ids: dict[str, _Item] = {}
        for item in self.loader.items:
            key = _key(item)
            field_name = _NAMED_BY.get(item.section, "id")
            table = self.by_section[item.section]
            shared = field_name == "id"
            previous = ids.get(key) if shared else table.get(key)
            if previous is not None:
                line, _ = _position(previous.node, [])
                self.issue_at(
                    item,
                    [field_name],
                    f"duplicate {field_name} {key!r}: already used in {previous.file}:{line}",
                )
                continue
            if shared:
                ids[key] = item
            table[key] = item

    def check_references(self) -> None:
        self.check_statuses()
        kinds = {kind: None for kind in BUILT_IN_KINDS} | dict(self.by_section["points"])
        for item in self.by_section["points"].values():
            if item.spec.handle in BUILT_IN_KINDS:
                self.issue_at(
                    item, ["handle"], f"`{item.spec.handle}` points are built in: declare other kinds"
                )
        for section in ("reactions", "automations", "reminders"):
            for item in self.by_section[section].values():
                for i, step in enumerate(item.spec.actions):
                    self.check_step(section, item, i, step, kinds)

    def check_statuses(self) -> None:
        benefits = self.by_section["benefits"]
        groups: dict[str, tuple[bool, _Item]] = {}
        for item in self.by_section["statuses"].values():
            spec: StatusSpec = item.spec
            for i, grant in enumerate(spec.grants):
                if grant not in benefits:
                    self.issue_at(item, ["grants", i], self.unknown("benefit", grant, benefits))
            if spec.group is not None:
                seen = groups.setdefault(spec.group, (spec.exclusive, item))
                if seen[0] != spec.exclusive:
                    self.issue_at(
                        item,
                        ["exclusive"],
                        f"group {spec.group!r} is {'exclusive' if seen[0] else 'not exclusive'} "
                        f"for status {_key(seen[1])!r}: every status of a group must agree",
                    )

    def check_step(self, section: str, item: _Item, i: int, step: Any, kinds: Mapping[str, Any]) -> None:
        """The references of step `i` of a reaction or automation."""
        for attr, kind, table in (
            ("status", "status", "statuses"),
            ("benefit", "benefit", "benefits"),
            ("target", "target", "targets"),
            ("achievement", "achievement", "achievements"),
        ):
            ref = getattr(step, attr, None)
            if ref is not None and ref not in self.by_section[table]:
                self.issue_at(item, ["actions", i, attr], self.unknown(kind, ref, self.by_section[table]))
        if isinstance(step, PointsAwardStep) and step.kind not in kinds:
            self.issue_at(item, ["actions", i, "kind"], self.unknown("point kind", step.kind, kinds))
        if isinstance(step, RewardCreateStep) and step.currency is None:
            on = getattr(item.spec, "on", [])
            if section != "reactions" or set(on) != {TRANSACTION_CREATED}:
                self.issue_at(
                    item,
                    ["actions", i],
                    "reward.create needs `currency:` here: only a reaction on "
                    "transaction.created alone can take the transaction's currency",
                )

    @staticmethod
    def unknown(kind: str, ref: str, table: Mapping[str, Any]) -> str:
        return f"unknown {kind} {ref!r}{did_you_mean(ref, table, quote=chr(39))}"

    def shape_for(self, item: _Item) -> Shape:
        """The context a rule of `item` (a reaction, automation or reminder) sees."""
        section, on = item.section, tuple(getattr(item.spec, "on", ()))
        key = (section, on)
        if key not in self._shapes:
            self._shapes[key] = context_shape(
                programs=[i.spec.program for i in self.by_section["tiers"].values()],
                achievements=list(self.by_section["achievements"]),
                kinds=[*BUILT_IN_KINDS, *self.by_section["points"]],
                listens_to=on,
                reminder=section == "reminders",
            )
        return self._shapes[key]

    def paths(self, item: _Item, path: list[Any], rule: Any) -> bool:
        """Report each `var` path of `rule` no context can hold; True if none."""
        problems = check_rule_paths(rule, self.shape_for(item))
        for problem in problems:
            self.issue_at(item, path + _pointer_path(problem.pointer), f"rule: {problem.message}")
        return not problems

    def rule_checked(self, item: _Item, path: list[Any], rule: Any) -> bool:
        """Whether `rule` is within its bounds, compiles and reads only paths a
        context can hold; else its problems are reported."""
        bounds = rule_problems(rule)  # before compiling: an oversized rule is only counted
        for pointer, message in bounds:
            self.issue_at(item, path + _pointer_path(pointer), f"rule: {message}")
        if bounds:
            return False
        problems = check_rule(rule)
        for problem in problems:
            self.issue_at(item, path + _pointer_path(problem.pointer), f"rule: {problem.message}")
        return not problems and self.paths(item, path, rule)

    def condition(self, item: _Item, path: list[Any], rule: Any) -> Condition | None:
        if not self.rule_checked(item, path, rule):
            return None
        return compile_condition(rule, _where(item, path))

    def amount(self, item: _Item, path: list[Any], source: Any) -> Amount | None:
        if isinstance(source, bool) or source is None or isinstance(source, str | list):
            self.issue_at(item, path, "must be a number or a JSON Logic expression (an object)")
            return None
        if isinstance(source, int | float):
            name = path[-1]  # amount, points or count
            most, bound = (AMOUNT_MAX, "±10^12") if name == "amount" else (POINTS_MAX, "±2^53")
            if next(json_number_problems(source), None) is not None or not -most <= source <= most:
                given = describe_number(source)
                self.issue_at(item, path, f"`{name}` must be a finite number within {bound}, not {given}")
                return None
        elif not self.rule_checked(item, path, source):
            return None
        return compile_amount(source, _where(item, path))

    def steps(self, item: _Item) -> tuple[Step, ...] | None:
        spec: RuleSpec = item.spec
        steps: list[Step] = []
        ok = True
        for i, step in enumerate(spec.actions):
            path: list[Any] = ["actions", i]
            condition, amount = None, None
            if isinstance(step, FilterStep):
                condition = self.condition(item, [*path, "when"], step.when)
                ok &= condition is not None
            elif isinstance(step, RewardCreateStep | PointsAwardStep | AchievementProgressStep):
                attr = {RewardCreateStep: "amount", PointsAwardStep: "points"}.get(type(step), "count")
                amount = self.amount(item, [*path, attr], getattr(step, attr))
                ok &= amount is not None
            steps.append(Step(step, _where(item, path), i, condition, amount))
        return tuple(steps) if ok else None

    def schedule(self, item: _Item) -> Schedule | None:
        spec: AutomationSpec = item.spec
        given = [k for k in ("schedule", "every", "at") if getattr(spec, k) is not None]
        if len(given) != 1:
            self.issue_at(
                item,
                given[1:2] or [],
                "an automation needs exactly one of `schedule` (cron), `every` or `at`",
                value=False,
            )
            return None
        try:
            ZoneInfo(spec.timezone)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            self.issue_at(item, ["timezone"], f"unknown time zone {spec.timezone!r} (e.g. Australia/Sydney)")
            return None
        if spec.schedule is not None:
            problem = cron_problem(spec.schedule)
            if problem is not None:
                self.issue_at(item, ["schedule"], problem)
                return None
            return Schedule(cron=spec.schedule, timezone=spec.timezone)
        if spec.every is not None:
            return Schedule(every=spec.every)
        return Schedule(at=spec.at)

    def reaction(self, item: _Item) -> Reaction | None:
        spec = item.spec
        condition = self.condition(item, ["when"], spec.when) if spec.when is not None else None
        steps = self.steps(item)
        is_automation = item.section == "automations"
        schedule = self.schedule(item) if is_automation else None
        rule = self.reminder_rule(item) if item.section == "reminders" else None
        if steps is None or (is_automation and schedule is None):
            return None
        if item.section == "reminders" and rule is None:
            return None
        if spec.when is not None and condition is None:
            return None
        can_fail = any(
            step.condition is not None
            or (step.amount is not None and step.amount.reads != frozenset())
            # Amounts and points can leave their range at run time (limits.py).
            or isinstance(step.spec, TargetSendStep | RewardCreateStep | PointsAwardStep)
            for step in steps
        )
        return Reaction(
            id=spec.id,
            kind=_KIND_OF_SECTION[item.section],
            name=spec.name,
            on=tuple(getattr(spec, "on", ())),
            enabled=spec.enabled,
            priority=spec.priority,
            limit=spec.limit,
            steps=steps,
            where=_where(item),
            when=spec.when,
            condition=condition,
            schedule=schedule,
            can_fail=can_fail,
            spec=spec,
            reminder=rule,
        )

    def reminder_rule(self, item: _Item) -> ReminderRule | None:
        """A reminder's `of`, `before`/`after` and `at`, checked (CONTRACT §8)."""
        spec: ReminderSpec = item.spec
        ok = True
        of = spec.of
        if of not in REMINDER_OF and not (of.startswith("profile.") and len(of) > len("profile.")):
            choices = [*REMINDER_OF, "profile.<field>"]
            self.issue_at(
                item,
                ["of"],
                f"unknown `of` {of!r}{did_you_mean(of, REMINDER_OF, chr(39))}: one of {', '.join(choices)}",
            )
            ok = False
        if (spec.before is None) == (spec.after is None):
            given = [key for key in ("before", "after") if getattr(spec, key) is not None]
            self.issue_at(
                item,
                given[1:2] or [],
                "a reminder needs exactly one of `before` or `after` (0d for the time itself)",
                value=False,
            )
            ok = False
        if not ok:
            return None
        offset = -spec.before if spec.before is not None else spec.after
        assert offset is not None
        if of == "profile.birthday" and abs(offset) > YEARLY_OFFSET_MAX:
            # A year or more would come due before the previous birthday's own reminder,
            # and replay's work grows with the cube of it (20 years: minutes for one profile).
            key = "before" if spec.before is not None else "after"
            self.issue_at(item, [key], f"a birthday comes every year: `{key}` must be at most 365d")
            return None
        return ReminderRule(of, offset, spec.at)

    def target(self, item: _Item) -> Target | None:
        spec: TargetSpec = item.spec
        if (spec.template is None) == (spec.body is None):
            self.issue_at(
                item, [], "a target needs exactly one of `template` (a file) or `body`", value=False
            )
            return None
        column = 1
        if spec.body is not None:
            source, file, where = spec.body, item.file, _where(item, ["body"])
            first_line, column = _value_position(item.node, ["body"])
            if "\n" in spec.body:  # a block scalar (`body: |`) starts on the line after the key
                first_line, column = first_line + 1, 1
        else:
            assert spec.template is not None
            targets_dir = self.loader.root / "targets"
            path = resolve_inside(targets_dir / spec.template, targets_dir)
            if isinstance(path, str):
                self.issue_at(item, ["template"], f"template targets/{spec.template} {path}")
                return None
            if not path.is_file():
                self.issue_at(item, ["template"], f"template file not found: targets/{spec.template}")
                return None
            raw = read_bounded(path, f"targets/{spec.template}", self.loader.budget, self.loader.issue)
            if raw is None:
                return None
            self.loader.digest.update(b"template\0" + raw)
            try:
                source = raw.decode("utf-8")
            except UnicodeDecodeError:
                self.issue_at(item, ["template"], f"template targets/{spec.template} is not UTF-8 text")
                return None
            file = where = f"targets/{spec.template}"
            first_line = 1
        compiled = compile_template(source, where)
        if isinstance(compiled, TemplateSyntaxProblem):
            self.loader.issue(file, first_line + compiled.line - 1, column, f"template: {compiled.message}")
            return None
        # What the template reads, against the context any reaction may send it from.
        shape = self.template_shape()
        ok = True
        for read in compiled.reads():
            problem = check_path(read.path, shape)
            if problem is not None:
                self.loader.issue(file, first_line + read.line - 1, column, f"template: {problem}")
                ok = False
        return Target(spec, compiled, _where(item)) if ok else None

    def template_shape(self) -> Shape:
        if ("targets", ()) not in self._shapes:
            self._shapes[("targets", ())] = context_shape(
                programs=[i.spec.program for i in self.by_section["tiers"].values()],
                achievements=list(self.by_section["achievements"]),
                kinds=[*BUILT_IN_KINDS, *self.by_section["points"]],
                listens_to=None,
                reminder=None,
            )
        return self._shapes[("targets", ())]

    def programme(self) -> Programme:
        item = self.loader.programme
        if item is None:
            return Programme()
        spec: ProgrammeSpec = item.spec
        try:
            ZoneInfo(spec.timezone)
        except (ZoneInfoNotFoundError, ValueError, OSError):
            self.issue_at(item, ["timezone"], f"unknown time zone {spec.timezone!r} (e.g. Australia/Sydney)")
        return Programme(spec.timezone, spec.forget_window, spec.dedupe_window)

    def tier_program(self, item: _Item) -> Program | None:
        """A tier program, checked: levels lowest first (`attain` rising),
        `maintain` at most `attain`, a floor that is one of the levels."""
        spec: TierSpec = item.spec
        ok = True
        levels = []
        for i, level in enumerate(spec.levels):
            if i and level.attain <= spec.levels[i - 1].attain:
                self.issue_at(
                    item,
                    ["levels", i, "attain"],
                    f"levels go lowest first: {level.handle!r} attains at {level.attain:g}, "
                    f"not above {spec.levels[i - 1].handle!r} ({spec.levels[i - 1].attain:g})",
                )
                ok = False
            maintain = level.attain if level.maintain is None else level.maintain
            if maintain > level.attain:
                self.issue_at(
                    item,
                    ["levels", i, "maintain"],
                    f"{level.handle!r} is kept at {maintain:g}, above what attains it ({level.attain:g})",
                )
                ok = False
            levels.append(Level(level.handle, level.name, level.attain, maintain, dict(level.meta)))
        handles = [level.handle for level in spec.levels]
        floor = spec.floor or handles[0]
        if floor not in handles:
            self.issue_at(
                item, ["floor"], f"floor {floor!r} is not a level" + did_you_mean(floor, handles, "'")
            )
            ok = False
        for i, handle in enumerate(handles):
            if handle in handles[:i]:
                self.issue_at(item, ["levels", i, "handle"], f"duplicate level {handle!r}")
                ok = False
        return Program(spec.program, spec.measure, spec.review_after, tuple(levels), floor) if ok else None

    def achievement(self, item: _Item) -> Achievement | None:
        spec: AchievementSpec = item.spec
        for i in range(1, len(spec.levels)):
            if spec.levels[i] <= spec.levels[i - 1]:
                self.issue_at(
                    item,
                    ["levels", i],
                    f"levels go lowest first: {spec.levels[i]:g} is not above {spec.levels[i - 1]:g}",
                )
                return None
        thresholds = tuple(int(t) if float(t).is_integer() else t for t in spec.levels)
        return Achievement(spec.handle, spec.name, thresholds, dict(spec.meta))


_KIND_OF_SECTION: dict[str, Literal["reaction", "automation", "reminder"]] = {
    "reactions": "reaction",
    "automations": "automation",
    "reminders": "reminder",
}


def _by_priority(reactions: Iterable[Reaction]) -> tuple[Reaction, ...]:
    return tuple(sorted(reactions, key=lambda r: (r.priority, r.id)))


def _dependents(reactions: Sequence[Reaction]) -> dict[str, Dependents]:
    """For each part of the state a step can change, the `when`s that read it."""
    out = {}
    for part, keys in PARTS.items():
        indices = tuple(
            i
            for i, r in enumerate(reactions)
            if r.condition is not None
            and (r.condition.reads is None or not r.condition.reads.isdisjoint(keys))
        )
        if indices:
            conditions = [reactions[i].condition for i in indices]
            out[part] = Dependents(compile_batch(conditions), indices)
    return out


def load_config(root: str | os.PathLike[str]) -> Config:
    """Read, check and compile the configuration under `root`.

    Raises `ConfigError` listing every problem as `path:line:col: message`.
    """
    loader = _Loader(Path(root))
    loader.read()
    compiler = _Compiler(loader)
    compiler.index()
    compiler.check_references()
    reactions: dict[str, Reaction] = {}
    automations: dict[str, Reaction] = {}
    reminders: dict[str, Reaction] = {}
    for section, table in (("reactions", reactions), ("automations", automations), ("reminders", reminders)):
        for key, item in compiler.by_section[section].items():
            compiled = compiler.reaction(item)
            if compiled is not None:
                table[key] = compiled
    targets: dict[str, Target] = {}
    for key, item in compiler.by_section["targets"].items():
        target = compiler.target(item)
        if target is not None:
            targets[key] = target
    programme = compiler.programme()
    programs = [compiler.tier_program(item) for item in compiler.by_section["tiers"].values()]
    achievements: dict[str, Achievement] = {}
    for key, item in compiler.by_section["achievements"].items():
        achievement = compiler.achievement(item)
        if achievement is not None:
            achievements[key] = achievement
    if loader.issues:
        raise ConfigError(loader.issues)
    statuses = {k: i.spec for k, i in compiler.by_section["statuses"].items()}
    by_type = {
        event_type: _by_priority(r for r in reactions.values() if r.enabled and event_type in r.on)
        for event_type in (PROFILE_UPDATED, TRANSACTION_CREATED, *REDEMPTION_TYPES, *DERIVED_TYPES)
    }
    return Config(
        root=Path(root),
        version=loader.digest.hexdigest()[:12],
        statuses=statuses,
        benefits={k: i.spec for k, i in compiler.by_section["benefits"].items()},
        reactions=reactions,
        automations={a.id: a for a in _by_priority(automations.values())},
        reminders={r.id: r for r in _by_priority(reminders.values())},
        enabled_reminders=tuple(r for r in _by_priority(reminders.values()) if r.enabled and r.reminder),
        targets=targets,
        by_event_type=by_type,
        batches={t: compile_batch([r.condition for r in rs]) for t, rs in by_type.items() if rs},
        dependents={t: _dependents(rs) for t, rs in by_type.items()},
        exclusive_groups=frozenset(s.group for s in statuses.values() if s.group and s.exclusive),
        tiers=tuple(p for p in programs if p is not None),
        achievements=achievements,
        point_kinds=(*BUILT_IN_KINDS, *compiler.by_section["points"]),
        programme=programme,
    )
