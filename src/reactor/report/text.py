"""The plain-text `reactor diff` report, for a terminal or a CI log.

Aligned columns, ASCII of its own (a CI log may not render more; ids and values
are printed as the configuration and events hold them), and by default only
the rows that differ: a change to one reaction reads as a few lines, not as the
whole programme. `base -> new (+delta)` where a figure changed, the figure
alone where it did not; `-` where the rule does not exist on that side.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import orjson

from reactor.actions import Action
from reactor.diff import (
    FIRST_PROFILES,
    MISSING,
    DiffResult,
    RuleChange,
    reward_rows,
    rule_rows,
    target_rows,
)

__all__ = ["render_diff_text", "table"]

#: Actions shown per profile, each way, before "... and N more".
ACTIONS_SHOWN = 8
#: A value in a rule change or an action's fields is cut to this many characters.
VALUE_WIDTH = 70


def table(header: Sequence[str], rows: Iterable[Sequence[str]], numeric_from: int = 1) -> list[str]:
    """Rows as aligned lines: columns from `numeric_from` on are right-aligned."""
    body = [list(header), *(list(r) for r in rows)]
    widths = [max(len(row[i]) for row in body) for i in range(len(header))]
    lines = []
    for row in body:
        cells = [c.rjust(widths[i]) if i >= numeric_from else c.ljust(widths[i]) for i, c in enumerate(row)]
        lines.append("  " + "  ".join(cells).rstrip())
    return lines


def number(value: float, money: bool = False) -> str:
    if money:
        return f"{value:,.2f}"
    return f"{value:,}" if isinstance(value, int) else f"{value:,.2f}"


def change(before: float | None, after: float | None, money: bool = False) -> str:
    """`12`, `12 -> 20 (+8)`, `- -> 5`, `6 -> -`."""
    if before == after and before is not None:
        return number(before, money)
    left = "-" if before is None else number(before, money)
    right = "-" if after is None else number(after, money)
    text = f"{left} -> {right}"
    if before is not None and after is not None:
        delta = after - before
        text += f" ({'+' if delta > 0 else ''}{number(round(delta, 2) if money else delta, money)})"
    return text


def _short(value: Any) -> str:
    if value is MISSING:
        return "(none)"
    text = value if isinstance(value, str) else orjson.dumps(value).decode()
    text = text.replace("\n", "\\n")
    return text if len(text) <= VALUE_WIDTH else text[: VALUE_WIDTH - 3] + "..."


def _rule_changes(title: str, changes: Sequence[RuleChange]) -> list[str]:
    if not changes:
        return []
    counts = {s: sum(1 for c in changes if c.status == s) for s in ("added", "removed", "changed")}
    lines = [f"{title}: " + ", ".join(f"{n} {s}" for s, n in counts.items() if n), ""]
    mark = {"added": "+", "removed": "-", "changed": "~"}
    width = max(len(c.id) for c in changes)
    for c in changes:
        lines.append(f"  {mark[c.status]} {c.id.ljust(width)}  {c.kind} {c.status}")
        if c.changes:
            path_width = max(len(path) for path, _, _ in c.changes)
            for path, before, after in c.changes:
                lines.append(f"      {path.ljust(path_width)}  {_short(before)} -> {_short(after)}")
    return [*lines, ""]


METRICS = ("matched", "fired", "limited", "failed")


def _reactions(result: DiffResult, show_all: bool) -> list[str]:
    rows = rule_rows(result)
    shown = {k: v for k, v in rows.items() if show_all or v["differs"]}
    differ = sum(v["differs"] for v in rows.values())
    title = f"Reactions, automations and reminders: {differ} of {len(rows)} differ"
    if not shown:
        return [title, ""]
    body = []
    for rule_id, row in shown.items():
        label = rule_id if row["status"] == "same" else f"{rule_id} ({row['status']})"
        cells = [label, row["kind"]]
        for metric in METRICS:
            before = row["base"][metric] if row["base"] is not None else None
            after = row["new"][metric] if row["new"] is not None else None
            cells.append(change(before, after))
        body.append(cells)
    return [title, "", *table(["id", "kind", *METRICS], body, numeric_from=2), ""]


def _pairs_table(
    title: str, key: str, pairs: Mapping[str, Mapping[str, Any]], show_all: bool, money: bool = False
) -> list[str]:
    shown = {k: v for k, v in pairs.items() if show_all or v["base"] != v["new"]}
    differ = sum(1 for v in pairs.values() if v["base"] != v["new"])
    head = f"{title}: {differ} of {len(pairs)} differ"
    if not shown:
        return [head, ""]
    body = [
        [k, number(v["base"], money), number(v["new"], money), _delta(v["base"], v["new"], money)]
        for k, v in shown.items()
    ]
    return [head, "", *table([key, "base", "new", "change"], body), ""]


def _delta(before: float, after: float, money: bool = False) -> str:
    delta = round(after - before, 2) if money else after - before
    if delta == 0:
        return "0"
    return f"{'+' if delta > 0 else ''}{number(delta, money)}"


def _rewards(result: DiffResult, show_all: bool) -> list[str]:
    rows = reward_rows(result)
    shown = {k: v for k, v in rows.items() if show_all or v["base"] != v["new"]}
    differ = sum(1 for v in rows.values() if v["base"] != v["new"])
    head = f"Rewards by currency: {differ} of {len(rows)} differ"
    if not shown:
        return [head, ""]
    body = []
    for currency, row in shown.items():
        before, after = row["base"], row["new"]
        body.append(
            [
                currency,
                change(before["count"], after["count"]),
                change(before["issued"], after["issued"], money=True),
                change(before["outstanding"], after["outstanding"], money=True),
            ]
        )
    return [head, "", *table(["currency", "issued", "amount", "outstanding at the end"], body), ""]


def _targets(result: DiffResult, show_all: bool) -> list[str]:
    rows = target_rows(result)
    shown = {k: v for k, v in rows.items() if show_all or v["base"] != v["new"]}
    differ = sum(1 for v in rows.values() if v["base"] != v["new"])
    head = f"Targets: {differ} of {len(rows)} differ"
    if not shown:
        return [head, ""]
    body = [
        [
            target_id,
            change(row["base"]["sent"], row["new"]["sent"]),
            change(row["base"]["limited"], row["new"]["limited"]),
        ]
        for target_id, row in shown.items()
    ]
    return [head, "", *table(["target", "sent", "limited"], body), ""]


SKIP_FIELDS = {"id", "type", "profile_id", "reaction_id", "event_id", "at", "config_version"}


def action_line(sign: str, action: Action) -> str:
    """One action on one line: its id, type, reaction, event, time and fields."""
    fields = " ".join(f"{k}={_short(v)}" for k, v in action.as_dict().items() if k not in SKIP_FIELDS)
    where = f"{action.reaction_id or '-'} @ {action.event_id or '-'} {action.at}"
    line = f"    {sign} {action.id}  {action.type:<14} {where}  {fields}"
    return line.rstrip()


def _profiles(result: DiffResult) -> list[str]:
    head = f"Profiles whose actions differ: {result.differing} of {result.with_actions} with actions"
    if not result.differing:
        return [head, ""]
    listed = result.profiles[:FIRST_PROFILES]
    lines = [head + (f" (the first {len(listed)} by id)" if result.differing > len(listed) else ""), ""]
    for entry in listed:
        lines.append(f"  {entry.profile_id}  +{len(entry.added)} -{len(entry.removed)}")
        for sign, actions in (("+", entry.added), ("-", entry.removed)):
            for action in actions[:ACTIONS_SHOWN]:
                lines.append(action_line(sign, action))
            if len(actions) > ACTIONS_SHOWN:
                more = len(actions) - ACTIONS_SHOWN
                lines.append(f"    {sign} ... and {more} more (--json lists them all)")
    return [*lines, ""]


def render_diff_text(result: DiffResult, show_all: bool = False) -> str:
    """The report: what changed in the configuration, then every figure that
    differs (all of them with `show_all`), then the first profiles affected."""
    base, new = result.base, result.new
    summary = new.summary
    lines = [
        f"reactor diff {result.file}: {summary['events']} events, {summary['rejected']} rejected, "
        f"{summary['duplicates']} duplicates, up to {result.clock or '-'}",
        *table(
            ["", "configuration", "version", "actions"],
            [
                ["base", str(base.root), base.config.version, number(base.summary["actions"])],
                ["new", str(new.root), new.config.version, number(summary["actions"])],
            ],
            numeric_from=3,
        ),
        "",
    ]
    if not result.rules and not result.configuration:
        lines += ["The two configurations define the same rules, statuses, benefits and targets.", ""]
    lines += _rule_changes("Rules", result.rules)
    lines += _rule_changes("Statuses, benefits and targets", result.configuration)
    lines += _reactions(result, show_all)
    lines += _pairs_table("Actions by type", "type", _by(result, "by_type"), show_all)
    lines += _pairs_table("Points by kind", "kind", _by(result, "points"), show_all)
    lines += _rewards(result, show_all)
    lines += _targets(result, show_all)
    lines += _profiles(result)
    if not show_all:
        lines.append("(only what differs; --all shows every row, --json everything)")
    return "\n".join(lines).rstrip() + "\n"


def _by(result: DiffResult, attribute: str) -> dict[str, dict[str, Any]]:
    base: Mapping[str, Any] = getattr(result.base.tally, attribute)
    new: Mapping[str, Any] = getattr(result.new.tally, attribute)
    return {k: {"base": base.get(k, 0), "new": new.get(k, 0)} for k in sorted(set(base) | set(new))}
