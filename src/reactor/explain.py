"""`reactor explain`: why each reaction (or automation) did or did not fire.

The event runs through the same `process` as everywhere else, after the
optional history has built the profile's state; an observer captures the
context each reaction saw, each `filter` step's value and each send a
target's cap dropped, and every rule is traced node by node. With `at`,
the automations run for the profile as a tick at that time would run them,
and every reminder due by then that has not fired yet runs as it would.
For every limit, the report says when it was used and when the profile is
eligible again (CONTRACT §11).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import timedelta
from typing import IO, Any

import orjson

from reactor.clock import instant_from_canonical, shift
from reactor.config import Config, Reaction, Step, Target
from reactor.engine import Outcome, process, remind, schedule_event
from reactor.events import Event, decode_event
from reactor.reminders import due_reminders
from reactor.replay import Replay, read_lines
from reactor.rules import explain_rule, is_truthy
from reactor.specs import LimitSpec
from reactor.state import ProfileState

__all__ = ["explain_automations", "explain_event", "render_text"]

_BOOKKEEPING = ("id", "profile_id", "reaction_id", "event_id", "at", "config_version", "type")


class _Watch:
    """Collects what the engine shows an observer, per reaction."""

    def __init__(self) -> None:
        self.seen: dict[str, tuple[dict[str, Any], bool]] = {}
        self.filters: dict[str, list[dict[str, Any]]] = {}
        self.caps: dict[str, list[Target]] = {}

    def reaction(self, reaction: Reaction, context: dict[str, Any], limited: bool) -> None:
        # The context is rebuilt, never mutated, once built: keeping it is safe.
        self.seen[reaction.id] = (context, limited)

    def filter(self, reaction: Reaction, step: Step, context: dict[str, Any], holds: bool) -> None:
        entry = {
            "step": step.index,
            "where": step.where,
            "value": holds,
            "when": explain_rule(step.spec.when, context),
        }
        self.filters.setdefault(reaction.id, []).append(entry)

    def capped(self, reaction: Reaction, step: Step, target: Target) -> None:
        self.caps.setdefault(reaction.id, []).append(target)


def _history(config: Config, history: IO[bytes] | None, name: str) -> Replay:
    runner = Replay(config, on_action=lambda _: None, on_reject=lambda _: None, file_name=name)
    if history is not None:
        runner.feed_lines(read_lines(history))
    return runner


def _limit_use(limit: LimitSpec, times: Iterable[str], now: str, what: str = "limit") -> dict[str, Any]:
    """When a limit was used (within its window) and when the profile is
    eligible again (None: it is now; "never": a limit without a window)."""
    window = limit.window
    used = sorted(times)
    if window is not None:
        cutoff = shift(now, -window)
        used = [t for t in used if t > cutoff]
    eligible: str | None = None
    if len(used) >= limit.per_profile:
        # Eligible again when enough of the uses it counts leave the window.
        eligible = "never" if window is None else shift(used[len(used) - limit.per_profile], window)
    out: dict[str, Any] = {"per_profile": limit.per_profile, "used_at": used, "eligible_at": eligible}
    out["window"] = _duration(window) if window is not None else None
    return out


def _duration(value: timedelta) -> str:
    minutes = int(value.total_seconds()) // 60
    if minutes % 1440 == 0:
        return f"{minutes // 1440}d"
    if minutes % 60 == 0:
        return f"{minutes // 60}h"
    return f"{minutes}m"


def _entries(
    reactions: Iterable[Reaction], outcome: Outcome, watch: _Watch, state: ProfileState | None, now: str
) -> list[dict[str, Any]]:
    failures = {f.reaction_id: f.error() for f in outcome.failures}
    out = []
    for reaction in reactions:
        entry: dict[str, Any] = {"id": reaction.id, "name": reaction.name}
        if reaction.kind == "reaction":
            entry["on"] = list(reaction.on)
        elif reaction.schedule is not None:
            entry["schedule"] = reaction.schedule.describe()
        if reaction.id not in watch.seen:
            entry["status"] = "disabled" if not reaction.enabled else "not listening"
            out.append(entry)
            continue
        context, limited = watch.seen[reaction.id]
        tree = explain_rule(reaction.when, context) if reaction.when is not None else None
        matched = tree is None or ("error" not in tree and is_truthy(tree.get("value")))
        entry["status"] = ("limit reached" if limited else "matched") if matched else "not matched"
        entry["when"] = tree
        if reaction.limit is not None:
            times = state.fired.get(reaction.id, []) if state is not None else []
            entry["limit"] = _limit_use(reaction.limit, times, now)
        entry["filters"] = watch.filters.get(reaction.id, [])
        entry["capped"] = [_cap(target, state, now) for target in watch.caps.get(reaction.id, [])]
        entry["actions"] = [a.as_dict() for a in outcome.actions if a.reaction_id == reaction.id]
        if reaction.id in failures:
            entry["status"] = "failed"
            entry["error"] = failures[reaction.id]
        out.append(entry)
    return out


def _cap(target: Target, state: ProfileState | None, now: str) -> dict[str, Any]:
    limit = target.spec.limit
    assert limit is not None
    times = state.sent.get(target.id, []) if state is not None else []
    return {"target": target.id, **_limit_use(limit, times, now)}


def _by_priority(reactions: Iterable[Reaction]) -> list[Reaction]:
    return sorted(reactions, key=lambda r: (r.priority, r.id))


def explain_event(
    config: Config, raw: bytes, history: IO[bytes] | None = None, history_name: str = ""
) -> dict[str, Any]:
    """A report on `raw` (one event). Raises `InvalidEvent` if it is not one."""
    runner = _history(config, history, history_name)
    event = decode_event(raw)
    if runner.clock is not None and event.occurred_at > runner.clock:
        runner.advance(event.occurred_at)
    state = runner.states.get(event.profile_id)
    watch = _Watch()
    outcome = process(event, state, config, watch)
    return {
        "event": _event(event),
        "config_version": config.version,
        "skipped": outcome.skipped,
        "reactions": _entries(
            _by_priority(config.reactions.values()), outcome, watch, state, event.occurred_at
        ),
    }


def explain_automations(
    config: Config,
    profile_id: str,
    at: str,
    history: IO[bytes] | None = None,
    history_name: str = "",
) -> dict[str, Any]:
    """What each automation would do for `profile_id` if it ticked at `at`,
    after `history` (up to just before `at`); in priority order, each seeing
    what the ones before it did, as a tick runs them."""
    runner = _history(config, history, history_name)
    reminders = _reminders_by(config, runner.states.get(profile_id), at)
    before = shift(at, -timedelta(seconds=1))
    if runner.clock is None or before > runner.clock:
        runner.clock = runner.clock or before
        runner.advance(before)
    state = runner.states.get(profile_id)
    moment = instant_from_canonical(at)
    automations = []
    for automation in config.automations.values():  # by priority then id
        watch = _Watch()
        outcome = process(schedule_event(automation.id, at, profile_id), state, config, watch)
        (entry,) = _entries([automation], outcome, watch, state, at)
        schedule = automation.schedule
        if schedule is not None:
            after = schedule.next_after(moment - timedelta(seconds=1))
            entry["ticks_at"] = after is not None and after == moment
            entry["next_tick"] = _stamp(after)
        automations.append(entry)
        state = outcome.state
    return {
        "profile_id": profile_id,
        "at": at,
        "config_version": config.version,
        "known": profile_id in runner.states,
        "automations": automations,
        "reminders": reminders,
    }


def _reminders_by(config: Config, state: ProfileState | None, at: str) -> list[dict[str, Any]]:
    """Each reminder due for `state` after its last event and by `at`, run
    at its due time (or at the last event, when its item came after it)."""
    if state is None or state.clock is None:
        return []
    out = []
    for due in due_reminders(state, config, state.clock, at):
        if due.due > at:
            continue
        watch = _Watch()
        fired_at = max(due.due, state.clock)
        outcome = remind(state, config, due, fired_at, watch)
        (entry,) = _entries([due.reminder], outcome, watch, state, fired_at)
        entry["of"] = due.reminder.reminder.of if due.reminder.reminder else None
        entry["item"], entry["due_at"] = due.item_key, due.due
        out.append(entry)
    return out


def _stamp(moment: Any) -> str | None:
    from reactor.clock import format_instant

    return None if moment is None else format_instant(moment)


def _event(event: Event) -> dict[str, Any]:
    return {
        "id": event.id,
        "type": event.type,
        "profile_id": event.profile_id,
        "occurred_at": event.occurred_at,
    }


def _show(value: Any) -> str:
    return orjson.dumps(value).decode()


def _tree_lines(node: dict[str, Any], depth: int, indent: str = "    ") -> list[str]:
    pad = indent + "  " * depth
    if "error" in node:
        outcome = f"error: {node['error']}"
    elif "value" in node:
        outcome = _show(node["value"])
    else:
        outcome = "(not evaluated)"
    lines = [f"{pad}{_show(node['expression'])}  =>  {outcome}"]
    for child in node.get("children", ()):
        lines.extend(_tree_lines(child, depth + 1, indent))
    return lines


def _limit_line(label: str, use: dict[str, Any]) -> str:
    window = f" per {use['window']}" if use["window"] else ""
    used = ", ".join(use["used_at"]) or "not yet"
    eligible = use["eligible_at"]
    then = (
        "eligible now"
        if eligible is None
        else ("never eligible again (no window)" if eligible == "never" else f"eligible again at {eligible}")
    )
    return f"    {label}: {use['per_profile']}{window}; used at {used}; {then}"


def _entry_lines(entry: dict[str, Any]) -> list[str]:
    lines = [
        f"{entry['status'].upper():>14}  {entry['id']}"
        + (f"  ({entry['name']})" if entry.get("name") else "")
    ]
    if entry["status"] in ("not listening", "disabled"):
        if "on" in entry:
            lines.append(f"    on: {', '.join(entry['on'])}")
        return lines
    if "schedule" in entry:
        tick = "ticks at this time" if entry.get("ticks_at") else f"next tick {entry.get('next_tick')}"
        lines.append(f"    schedule: {entry['schedule']} ({tick})")
    if entry.get("when") is not None:
        lines.extend(_tree_lines(entry["when"], 0))
    if "limit" in entry:
        lines.append(_limit_line("limit", entry["limit"]))
    for check in entry.get("filters", ()):
        verdict = "passes" if check["value"] else "stops the chain"
        lines.append(f"    filter (step {check['step'] + 1}, {check['where']}) {verdict}:")
        lines.extend(_tree_lines(check["when"], 0, "      "))
    for cap in entry.get("capped", ()):
        lines.append(_limit_line(f"send dropped by target {cap['target']}'s cap", cap))
    for action in entry.get("actions", ()):
        detail = {k: v for k, v in action.items() if k not in _BOOKKEEPING}
        lines.append(f"    -> {action['type']} {_show(detail)}")
    if "error" in entry:
        lines.append(f"    error: {entry['error']['message']}")
    return lines


def render_text(report: dict[str, Any]) -> str:
    """The report as text for a terminal."""
    lines: list[str] = []
    if "event" in report:
        event = report["event"]
        lines.append(
            f"event {event['id']} ({event['type']}) for {event['profile_id']} at {event['occurred_at']}"
            f"  [config {report['config_version']}]"
        )
        if report["skipped"]:
            lines.append(f"skipped: {report['skipped'].replace('_', ' ')}; no reaction runs")
        for entry in report["reactions"]:
            lines.extend(_entry_lines(entry))
    if "automations" in report:
        if lines:
            lines.append("")
        known = "" if report["known"] else " (a profile the history does not know)"
        version = report["config_version"]
        lines.append(f"automations for {report['profile_id']} at {report['at']}{known}  [config {version}]")
        if not report["automations"]:
            lines.append("    (no automations)")
        for entry in report["automations"]:
            lines.extend(_entry_lines(entry))
        if report.get("reminders"):
            lines.append(f"reminders due by {report['at']}:")
            for entry in report["reminders"]:
                lines.append(f"    {entry['id']}: {entry['of']} of {entry['item']}, due {entry['due_at']}")
                lines.extend(_entry_lines(entry))
    return "\n".join(lines)
