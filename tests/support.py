"""Helpers for tests: configuration roots from YAML text, events as upstream sends them."""

from __future__ import annotations

import copy
import textwrap
from pathlib import Path
from typing import Any

import orjson

from reactor.config import Config
from reactor.engine import Outcome, process
from reactor.events import decode_event
from reactor.state import ProfileState

REPO = Path(__file__).resolve().parent.parent


def write_config(root: Path, files: dict[str, str]) -> Path:
    """Write `files` (relative path -> text, dedented) under `root`."""
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
    (root / "reactions").mkdir(exist_ok=True)
    (root / "targets").mkdir(exist_ok=True)
    return root


def event(
    type: str,
    profile_id: str = "p-1",
    at: str = "2026-11-20T10:00:00Z",
    id: str | None = None,
    **data: Any,
) -> bytes:
    """An event as upstream sends it, as bytes."""
    event.counter += 1  # type: ignore[attr-defined]
    return orjson.dumps(
        {
            "id": id or f"evt-{event.counter}",  # type: ignore[attr-defined]
            "type": type,
            "occurred_at": at,
            "profile_id": profile_id,
            "data": data,
        }
    )


event.counter = 0  # type: ignore[attr-defined]


def profile_updated(
    profile_id: str = "p-1", at: str = "2026-11-20T10:00:00Z", id: str | None = None, **profile: Any
) -> bytes:
    return event("profile.updated", profile_id, at, id, profile={"id": profile_id, **profile})


def transaction(
    total: float,
    profile_id: str = "p-1",
    at: str = "2026-11-20T10:00:00Z",
    id: str | None = None,
    txn_id: str | None = None,
    system: str = "pos",
    **fields: Any,
) -> bytes:
    event.counter += 1  # type: ignore[attr-defined]
    txn = {
        "id": txn_id or f"t-{event.counter}",
        "system": system,
        "total": total,
        "currency": "AUD",
        **fields,
    }  # type: ignore[attr-defined]
    return event("transaction.created", profile_id, at, id, transaction=txn)


def run(
    config: Config, *raw_events: bytes, state: ProfileState | None = None
) -> tuple[ProfileState | None, list[dict[str, Any]], list[Outcome]]:
    """Process events in order for one profile; all actions as dicts, and each
    outcome. Checks on every call that `process` left the state it was given
    exactly as it was (the engine shares unchanged fields with it)."""
    actions: list[dict[str, Any]] = []
    outcomes = []
    for raw in raw_events:
        given = copy.deepcopy(state)
        outcome = process(decode_event(raw), state, config)
        assert state == given, "process changed the state it was given"
        outcomes.append(outcome)
        state = outcome.state
        actions.extend(a.as_dict() for a in outcome.actions)
    return state, actions, outcomes


def brief(actions: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """Actions without ids and bookkeeping, for comparing with expectations by hand."""
    skip = {"id", "profile_id", "event_id", "config_version", "reaction_id", "at", "type"}
    return [(a["type"], {k: v for k, v in a.items() if k not in skip}) for a in actions]
