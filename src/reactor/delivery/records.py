"""What delivery writes about actions it could not deliver (yet).

- a retry record (`reactor.deliveries.retry`): the action, every attempt so
  far, and when to try next, so that pending retries survive a restart;
- a dead letter (`reactor.deliveries.dlq`): the action, the error, the last
  status and every attempt, for `reactor deliveries retry` after a fix.

Both carry the action as the worker produced it (the rendered payload, never
a resolved secret) and attempt errors already scrubbed by the deliverer.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from reactor.config import Target
from reactor.delivery.http import Attempt, Deliverer, DeliveryOutcome

__all__ = ["dead_letter", "deliver_all", "retry_record", "unknown_target"]


def dead_letter(
    action: Mapping[str, Any],
    target_id: str,
    outcome: DeliveryOutcome,
    attempts: Sequence[Attempt | Mapping[str, Any]],
) -> dict[str, Any]:
    """The `reactor.deliveries.dlq` record: the action, and every attempt."""
    last = outcome.attempt
    message = last.error or (f"HTTP {last.status}" if last.status else "failed")
    if outcome.code == "attempts_exhausted":
        message = f"gave up after {len(attempts)} attempts; last: {message}"
    return {
        "error": {"code": outcome.code, "message": message, "path": f"targets.{target_id}"},
        "target": target_id,
        "last_status": last.status,
        "attempts": [a.as_dict() if isinstance(a, Attempt) else dict(a) for a in attempts],
        "action": dict(action),
    }


def retry_record(
    action: Mapping[str, Any], attempts: Sequence[Mapping[str, Any]], wait: float
) -> dict[str, Any]:
    """The `reactor.deliveries.retry` record: try `action` again `wait` seconds from now."""
    return {"action": dict(action), "attempts": list(attempts), "next_attempt_at": time.time() + wait}


def unknown_target(target_id: str) -> DeliveryOutcome:
    """The outcome for an action whose target is not (or no longer) configured."""
    attempt = Attempt(time.time(), None, f"target {target_id!r} is not in the configuration")
    return DeliveryOutcome("dead", attempt, code="unknown_target")


async def deliver_all(
    actions: Sequence[Mapping[str, Any]],
    targets: Mapping[str, Target],
    deliverer: Deliverer,
    on_dead: Callable[[dict[str, Any]], None],
) -> dict[str, int]:
    """Deliver `target.send` actions concurrently (within each target's limits),
    retrying in place; returns counts by outcome. For `replay --deliver` and
    `deliveries retry`, which run without the worker's retry topic."""
    counts = {"delivered": 0, "dead_letter": 0}

    async def one(action: Mapping[str, Any]) -> None:
        target_id = str(action.get("target"))
        target = targets.get(target_id)
        if target is None:
            outcome = unknown_target(target_id)
            attempts: list[Attempt] = [outcome.attempt]
        else:
            outcome, attempts = await deliverer.deliver(action, target)
        if outcome.kind == "delivered":
            counts["delivered"] += 1
        else:
            counts["dead_letter"] += 1
            on_dead(dead_letter(action, target_id, outcome, attempts))

    await asyncio.gather(*(one(a) for a in actions if a.get("type") == "target.send"))
    return counts
