"""`reactor diff`: what a change of configuration does to the same history.

Both configurations replay the file in one process, in lockstep: each line goes
to the base replay, then to the new one, and the actions each emitted for it
are compared there and then. An action's id derives from its profile, event,
reaction and position (never from the configuration), and time-driven work
(expiries, automation ticks) runs in both as the same event crosses its time,
so an action that both configurations emit is emitted for the same line by
both. Comparing line by line keeps only the differences in memory, however
long the history.

Actions are compared whole except for `config_version`, which names the
configuration and so always differs. An action emitted under both with the
same id but other content (a payload that reads a changed balance) counts as
removed from the base and added in the new configuration.
"""

from __future__ import annotations

import bisect
import difflib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import orjson

from reactor.actions import Action
from reactor.config import Config
from reactor.replay import Replay
from reactor.report.tally import Tally

__all__ = [
    "KINDS",
    "DiffResult",
    "ProfileDiff",
    "RuleChange",
    "Side",
    "as_dict",
    "check_profile_actions",
    "comparable",
    "configuration_changes",
    "profile_actions",
    "rule_changes",
    "run_diff",
]

#: The rule collections a configuration may have, and the kind each holds.
#: (`reminders` arrives with CONTRACT §8; read with getattr until then.)
KINDS = (("reactions", "reaction"), ("automations", "automation"), ("reminders", "reminder"))

#: Profiles listed with their differing actions in the text and JSON reports.
FIRST_PROFILES = 10

Status = Literal["added", "removed", "changed"]


@dataclass(frozen=True, slots=True)
class RuleChange:
    """A rule (or status, benefit, target) added, removed or changed, by id.
    `changes` are `(path, base value, new value)`, with `MISSING` for a side
    that has no value at that path."""

    id: str
    kind: str
    status: Status
    changes: tuple[tuple[str, Any, Any], ...] = ()


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


@dataclass(slots=True)
class ProfileDiff:
    """The actions one profile gets under the new configuration and not the
    base (`added`), and the other way round (`removed`), in output order."""

    profile_id: str
    added: list[Action] = field(default_factory=list)
    removed: list[Action] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Side:
    """One configuration's run: where it came from, its replay summary and
    what its actions add up to."""

    name: str
    root: Path
    config: Config
    summary: dict[str, Any]
    tally: Tally


@dataclass(frozen=True, slots=True)
class DiffResult:
    file: str
    base: Side
    new: Side
    rules: tuple[RuleChange, ...]
    configuration: tuple[RuleChange, ...]
    #: how many profiles get different actions
    differing: int
    #: how many profiles get any action under either configuration
    with_actions: int
    #: the differing profiles with the smallest ids, with their actions
    profiles: tuple[ProfileDiff, ...]
    #: the replay's clock at the end (last event, or `until` when later)
    clock: str | None


# --- the lockstep run ------------------------------------------------------------


def comparable(action: Action) -> tuple[Any, ...]:
    """An action as compared (hashable): everything but its `config_version`."""
    return (*action[:6], orjson.dumps(action.fields, option=orjson.OPT_SORT_KEYS))


def _same(a: Action, b: Action) -> bool:
    return a[:6] == b[:6] and a.fields == b.fields


def _only_in(these: list[Action], those: list[Action]) -> list[Action]:
    """The actions of `these` that `those` lacks, counted as a multiset, in order.
    Two actions can be the same only with the same id (it derives from the
    profile, event, reaction and position), so each is compared whole only
    with the actions of its id: no action is serialised to be compared."""
    left: dict[str, list[Action]] = {}
    for action in those:
        left.setdefault(action.id, []).append(action)
    out = []
    for action in these:
        twins = left.get(action.id)
        if twins:
            for k, twin in enumerate(twins):
                if _same(action, twin):
                    del twins[k]
                    break
            else:
                out.append(action)
        else:
            out.append(action)
    return out


class _Lockstep:
    """Two replays fed the same lines, their actions compared line by line."""

    def __init__(
        self,
        base: Config,
        new: Config,
        file_name: str,
        on_reject: Callable[[dict[str, Any], str], None],
        keep: int,
    ) -> None:
        self.base_actions: list[Action] = []
        self.new_actions: list[Action] = []
        self.base = Replay(base, self.base_actions.append, lambda r: on_reject(r, "base"), file_name)
        self.new = Replay(new, self.new_actions.append, lambda r: on_reject(r, "new"), file_name)
        self.base_tally, self.new_tally = Tally(), Tally()
        self.file_name = file_name
        self.keep = keep
        self.differing: set[str] = set()
        # The `keep` differing profiles with the smallest ids so far: a profile
        # dropped from them never comes back (only smaller ids push it out).
        self.kept: dict[str, ProfileDiff] = {}
        self.kept_ids: list[str] = []

    def feed_lines(self, lines: Iterable[tuple[int, bytes]]) -> None:
        base, new, settle, name = self.base, self.new, self.settle, self.file_name
        for number, raw in lines:
            source = {"file": name, "line": number}
            base.feed(raw, source)
            new.feed(raw, source)
            if self.base_actions or self.new_actions:
                settle()

    def finish(self, until: str | None) -> None:
        self.base.finish(until)
        self.new.finish(until)
        self.settle()
        self.base_tally.close(self.base.clock)
        self.new_tally.close(self.new.clock)

    def settle(self) -> None:
        """Tally and compare what both emitted since the last line."""
        base, new = self.base_actions, self.new_actions
        add = self.base_tally.add
        for action in base:
            add(action)
        add = self.new_tally.add
        for action in new:
            add(action)
        if len(base) != len(new) or not all(map(_same, base, new)):
            self.record(_only_in(new, base), _only_in(base, new))
        base.clear()
        new.clear()

    def record(self, added: list[Action], removed: list[Action]) -> None:
        for sign, actions in (("added", added), ("removed", removed)):
            for action in actions:
                profile_id = action.profile_id
                self.differing.add(profile_id)
                entry = self.kept.get(profile_id)
                if entry is None:
                    entry = self.keep_profile(profile_id)
                    if entry is None:
                        continue
                getattr(entry, sign).append(action)

    def keep_profile(self, profile_id: str) -> ProfileDiff | None:
        ids = self.kept_ids
        if len(ids) >= self.keep:
            if not ids or profile_id > ids[-1]:
                return None
            del self.kept[ids.pop()]
        bisect.insort(ids, profile_id)
        entry = self.kept[profile_id] = ProfileDiff(profile_id)
        return entry


def run_diff(
    base: Config,
    new: Config,
    lines: Iterable[tuple[int, bytes]],
    *,
    file_name: str = "-",
    until: str | None = None,
    base_root: Path | None = None,
    new_root: Path | None = None,
    on_reject: Callable[[dict[str, Any], str], None] = lambda record, side: None,
    keep: int = FIRST_PROFILES,
) -> DiffResult:
    """Replay `lines` under both configurations and compare.

    `on_reject` gets each dead-letter record with the side (`base`, `new`)
    whose replay produced it. `keep` is how many differing profiles (smallest
    ids first) keep their added and removed actions.
    """
    run = _Lockstep(base, new, file_name, on_reject, keep)
    run.feed_lines(lines)
    run.finish(until)
    profiles = set(run.base_tally.profiles) | run.new_tally.profiles
    return DiffResult(
        file=file_name,
        base=Side("base", base_root or base.root, base, run.base.summary(), run.base_tally),
        new=Side("new", new_root or new.root, new, run.new.summary(), run.new_tally),
        rules=rule_changes(base, new),
        configuration=configuration_changes(base, new),
        differing=len(run.differing),
        with_actions=len(profiles),
        profiles=tuple(run.kept[p] for p in run.kept_ids),
        clock=run.new.clock,
    )


def profile_actions(
    config: Config,
    lines: Iterable[tuple[int, bytes]],
    profile_ids: Iterable[str],
    until: str | None,
    file_name: str = "-",
) -> dict[str, list[Action]]:
    """Every action the given profiles get under `config`: a replay of their
    own lines only, run on to `until` (the full run's end). A profile's
    actions depend only on its own events and on the clock (CONTRACT §9
    partitions by profile for the same reason), so this equals the full
    replay's actions for them. Lines that are not JSON objects are skipped:
    the full run reported them."""
    wanted = set(profile_ids)
    out: dict[str, list[Action]] = {p: [] for p in sorted(wanted)}
    runner = Replay(config, lambda a: out[a.profile_id].append(a), lambda r: None, file_name)

    def own(number_lines: Iterable[tuple[int, bytes]]) -> Iterator[tuple[int, bytes]]:
        for number, raw in number_lines:
            try:
                event = orjson.loads(raw)
            except orjson.JSONDecodeError:
                continue
            if isinstance(event, dict) and event.get("profile_id") in wanted:
                yield number, raw

    runner.feed_lines(own(lines))
    runner.finish(until)
    return out


# --- what changed in the configuration ---------------------------------------


def _rules(config: Config) -> dict[str, tuple[str, Any]]:
    out = {}
    for attribute, kind in KINDS:
        for rule_id, rule in getattr(config, attribute, {}).items():
            spec = getattr(rule, "spec", None)
            out[rule_id] = (kind, spec.model_dump(mode="json") if spec is not None else {})
    return out


def _compact(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def definition_changes(base: Any, new: Any, path: str = "") -> Iterator[tuple[str, Any, Any]]:
    """The leaves that differ between two plain-JSON values, as `(path, base,
    new)`; `path` joins keys with `.` and list indices as `[i]`. Lists are
    aligned first (difflib), so a step inserted in a chain is one change, not
    one per step after it."""
    if base == new:
        return
    if isinstance(base, dict) and isinstance(new, dict):
        for key in [*base, *(k for k in new if k not in base)]:
            sub = f"{path}.{key}" if path else str(key)
            yield from definition_changes(base.get(key, MISSING), new.get(key, MISSING), sub)
        return
    if isinstance(base, list) and isinstance(new, list):
        matcher = difflib.SequenceMatcher(
            a=[_compact(v) for v in base], b=[_compact(v) for v in new], autojunk=False
        )
        for op, i1, i2, j1, j2 in matcher.get_opcodes():
            if op == "equal":
                continue
            if op == "replace" and i2 - i1 == j2 - j1:
                for k in range(i2 - i1):
                    yield from definition_changes(base[i1 + k], new[j1 + k], f"{path}[{j1 + k}]")
                continue
            for i in range(i1, i2):
                yield (f"{path}[{i}]", base[i], MISSING)
            for j in range(j1, j2):
                yield (f"{path}[{j}]", MISSING, new[j])
        return
    yield (path, base, new)


def _compare(
    base: Mapping[str, tuple[str, Any]], new: Mapping[str, tuple[str, Any]]
) -> tuple[RuleChange, ...]:
    out = []
    for item_id in sorted(set(base) | set(new)):
        if item_id not in new:
            out.append(RuleChange(item_id, base[item_id][0], "removed"))
        elif item_id not in base:
            out.append(RuleChange(item_id, new[item_id][0], "added"))
        else:
            (base_kind, before), (new_kind, after) = base[item_id], new[item_id]
            changes = tuple(definition_changes(before, after))
            if base_kind != new_kind:
                changes = (("kind", base_kind, new_kind), *changes)
            if changes:
                out.append(RuleChange(item_id, new_kind, "changed", changes))
    return tuple(out)


def rule_changes(base: Config, new: Config) -> tuple[RuleChange, ...]:
    """Reactions, automations and reminders added, removed and changed, by id."""
    return _compare(_rules(base), _rules(new))


def _template_text(config: Config, template: str | None) -> str | None:
    if template is None:
        return None
    try:
        return (config.root / "targets" / template).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):  # it loaded, so it was readable: a race at worst
        return None


def _catalogue(config: Config) -> dict[str, tuple[str, Any]]:
    out: dict[str, tuple[str, Any]] = {}
    for handle, status in config.statuses.items():
        out[f"status:{handle}"] = ("status", status.model_dump(mode="json"))
    for handle, benefit in config.benefits.items():
        out[f"benefit:{handle}"] = ("benefit", benefit.model_dump(mode="json"))
    for target_id, target in config.targets.items():
        definition = target.spec.model_dump(mode="json")
        text = _template_text(config, target.spec.template)
        if text is not None:
            definition["template text"] = text
        out[f"target:{target_id}"] = ("target", definition)
    return out


def configuration_changes(base: Config, new: Config) -> tuple[RuleChange, ...]:
    """Statuses, benefits and targets (with their template's text) added,
    removed and changed: they change what the rules do without being rules."""
    changes = _compare(_catalogue(base), _catalogue(new))
    return tuple(RuleChange(c.id.split(":", 1)[1], c.kind, c.status, c.changes) for c in changes)


# --- the figures, as one JSON object -------------------------------------------


def _counts(summary: Mapping[str, Any], rule_id: str, present: bool) -> dict[str, int] | None:
    if not present:
        return None
    zero = {"matched": 0, "fired": 0, "limited": 0, "failed": 0}
    return dict(summary["reactions"].get(rule_id, zero))


def rule_rows(result: DiffResult) -> dict[str, dict[str, Any]]:
    """Per reaction, automation and reminder of either configuration: its kind,
    whether it was added, removed, changed or is the same, and its counts under
    each (None where it does not exist)."""
    base, new = _rules(result.base.config), _rules(result.new.config)
    status = {c.id: c.status for c in result.rules}
    rows = {}
    for rule_id in sorted(set(base) | set(new)):
        kind = (new.get(rule_id) or base[rule_id])[0]
        before = _counts(result.base.summary, rule_id, rule_id in base)
        after = _counts(result.new.summary, rule_id, rule_id in new)
        rows[rule_id] = {
            "kind": kind,
            "status": status.get(rule_id, "same"),
            "base": before,
            "new": after,
            "differs": before != after,
        }
    return rows


def _pairs(base: Mapping[str, Any], new: Mapping[str, Any], zero: Any = 0) -> dict[str, dict[str, Any]]:
    return {
        key: {"base": base.get(key, zero), "new": new.get(key, zero)} for key in sorted(set(base) | set(new))
    }


def _change_dict(change: tuple[str, Any, Any]) -> dict[str, Any]:
    path, before, after = change
    out: dict[str, Any] = {"path": path}
    if before is not MISSING:
        out["base"] = before
    if after is not MISSING:
        out["new"] = after
    return out


def _changes_dict(changes: Iterable[RuleChange]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {"added": [], "removed": [], "changed": []}
    for change in changes:
        entry: dict[str, Any] = {"id": change.id, "kind": change.kind}
        if change.status == "changed":
            entry["changes"] = [_change_dict(c) for c in change.changes]
        out[change.status].append(entry)
    return out


def reward_rows(result: DiffResult) -> dict[str, dict[str, Any]]:
    base, new = result.base.tally.rewards, result.new.tally.rewards
    zero = {"count": 0, "issued": 0.0, "redeemed": 0.0, "expired": 0.0, "forgotten": 0.0, "outstanding": 0.0}
    return {
        currency: {
            "base": base[currency].as_dict() if currency in base else dict(zero),
            "new": new[currency].as_dict() if currency in new else dict(zero),
        }
        for currency in sorted(set(base) | set(new))
    }


def target_rows(result: DiffResult) -> dict[str, dict[str, Any]]:
    zero = {"sent": 0, "limited": 0}
    return _pairs(result.base.summary["targets"], result.new.summary["targets"], zero)


def as_dict(result: DiffResult, first: int = FIRST_PROFILES) -> dict[str, Any]:
    """Everything `reactor diff` reports, as plain JSON (`--json`)."""
    base, new = result.base, result.new
    return {
        "file": result.file,
        "events": new.summary["events"],
        "rejected": new.summary["rejected"],
        "duplicates": new.summary["duplicates"],
        "clock": result.clock,
        "base": {"config": str(base.root), "config_version": base.config.version, "summary": base.summary},
        "new": {"config": str(new.root), "config_version": new.config.version, "summary": new.summary},
        "rules": _changes_dict(result.rules),
        "configuration": _changes_dict(result.configuration),
        "reactions": rule_rows(result),
        "actions_by_type": _pairs(base.tally.by_type, new.tally.by_type),
        "points_by_kind": _pairs(base.tally.points, new.tally.points),
        "rewards": reward_rows(result),
        "targets": target_rows(result),
        "profiles": {
            "differ": result.differing,
            "with_actions": result.with_actions,
            "first": [
                {
                    "profile_id": p.profile_id,
                    "added": [a.as_dict() for a in p.added],
                    "removed": [a.as_dict() for a in p.removed],
                }
                for p in result.profiles[:first]
            ],
        },
    }


def check_profile_actions(result: DiffResult, actions: Mapping[str, Mapping[str, list[Action]]]) -> None:
    """Check that a second replay of some profiles (`profile_actions`, under
    `actions["base"]` and `actions["new"]`) differs exactly as the lockstep run
    found: a disagreement is a bug, never a report. Raises RuntimeError."""
    for entry in result.profiles:
        if entry.profile_id not in actions["base"]:
            continue
        before, after = actions["base"][entry.profile_id], actions["new"][entry.profile_id]
        added, removed = _only_in(after, before), _only_in(before, after)
        if Counter(map(comparable, added)) != Counter(map(comparable, entry.added)) or Counter(
            map(comparable, removed)
        ) != Counter(map(comparable, entry.removed)):
            raise RuntimeError(
                f"the replay of {entry.profile_id}'s own events disagrees with the full replay: "
                "please report this as a bug"
            )
