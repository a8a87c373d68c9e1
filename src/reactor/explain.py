"""`reactor explain`: why each reaction did or did not match an event.

The event runs through the same `process` as everywhere else, after the
optional history has built the profile's state; an observer captures the
context each reaction saw, and its `when` is traced node by node.
"""

from __future__ import annotations

from typing import IO, Any

import orjson

from reactor.config import Config, Reaction
from reactor.engine import process
from reactor.events import decode_event
from reactor.replay import Replay, read_lines
from reactor.rules import explain_rule, is_truthy

__all__ = ["explain_event", "render_text"]


def explain_event(
    config: Config, raw: bytes, history: IO[bytes] | None = None, history_name: str = ""
) -> dict[str, Any]:
    """A report on `raw` (one event). Raises `InvalidEvent` if it is not one."""
    runner = Replay(config, on_action=lambda _: None, on_reject=lambda _: None, file_name=history_name)
    if history is not None:
        runner.feed_lines(read_lines(history))
    event = decode_event(raw)
    if runner.clock is not None and event.occurred_at > runner.clock:
        runner.advance(event.occurred_at)
    seen: dict[str, tuple[dict[str, Any], bool]] = {}

    def observe(reaction: Reaction, context: dict[str, Any], limited: bool) -> None:
        # The context is rebuilt, never mutated, once built: keeping it is safe.
        seen[reaction.id] = (context, limited)

    outcome = process(event, runner.states.get(event.profile_id), config, observe)
    failures = {f.reaction_id: f.error() for f in outcome.failures}
    reactions = []
    for reaction in sorted(config.reactions.values(), key=lambda r: (r.priority, r.id)):
        entry: dict[str, Any] = {"id": reaction.id, "name": reaction.name, "on": list(reaction.on)}
        if reaction.id not in seen:
            entry["status"] = "disabled" if not reaction.enabled else "not listening"
            reactions.append(entry)
            continue
        context, limited = seen[reaction.id]
        tree = explain_rule(reaction.when, context) if reaction.when is not None else None
        matched = not limited and (tree is None or ("error" not in tree and is_truthy(tree.get("value"))))
        entry["status"] = "limit reached" if limited else ("matched" if matched else "not matched")
        entry["when"] = tree
        entry["actions"] = [a.as_dict() for a in outcome.actions if a.reaction_id == reaction.id]
        if reaction.id in failures:
            entry["status"] = "failed"
            entry["error"] = failures[reaction.id]
        reactions.append(entry)
    return {
        "event": {
            "id": event.id,
            "type": event.type,
            "profile_id": event.profile_id,
            "occurred_at": event.occurred_at,
        },
        "config_version": config.version,
        "skipped": outcome.skipped,
        "reactions": reactions,
    }


def _show(value: Any) -> str:
    return orjson.dumps(value).decode()


def _tree_lines(node: dict[str, Any], depth: int) -> list[str]:
    pad = "    " + "  " * depth
    if "error" in node:
        outcome = f"error: {node['error']}"
    elif "value" in node:
        outcome = _show(node["value"])
    else:
        outcome = "(not evaluated)"
    lines = [f"{pad}{_show(node['expression'])}  =>  {outcome}"]
    for child in node.get("children", ()):
        lines.extend(_tree_lines(child, depth + 1))
    return lines


def render_text(report: dict[str, Any]) -> str:
    """The report as text for a terminal."""
    event = report["event"]
    lines = [
        f"event {event['id']} ({event['type']}) for {event['profile_id']} at {event['occurred_at']}"
        f"  [config {report['config_version']}]"
    ]
    if report["skipped"]:
        lines.append(f"skipped: {report['skipped'].replace('_', ' ')}; no reaction runs")
    for entry in report["reactions"]:
        lines.append(
            f"{entry['status'].upper():>14}  {entry['id']}"
            + (f"  ({entry['name']})" if entry.get("name") else "")
        )
        if entry["status"] in ("not listening", "disabled"):
            lines.append(f"    on: {', '.join(entry['on'])}")
            continue
        if entry.get("when") is not None:
            lines.extend(_tree_lines(entry["when"], 0))
        for action in entry.get("actions", ()):
            detail = {
                k: v
                for k, v in action.items()
                if k not in ("id", "profile_id", "reaction_id", "event_id", "at", "config_version", "type")
            }
            lines.append(f"    -> {action['type']} {_show(detail)}")
        if "error" in entry:
            lines.append(f"    error: {entry['error']['message']}")
    return "\n".join(lines)
