"""The event context: what `when`, amounts and templates see.

As in Omneo, the profile's own fields sit at the root, so conditions written
for Omneo read the same here; reactor's own keys (CONTRACT §3) sit beside them
and win over profile fields of the same name. The context is plain JSON.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reactor.clock import instant_from_canonical
from reactor.config import Config
from reactor.events import Event, TRANSACTION_CREATED
from reactor.state import ProfileState

__all__ = ["active_statuses", "build_context", "profile_view"]


def profile_view(snapshot: Mapping[str, Any] | None, profile_id: str) -> dict[str, Any]:
    """The snapshot as rules see it: always with `id`, and `identities` as an
    object keyed by `handle` (the first identity of a handle wins)."""
    view = dict(snapshot) if snapshot else {}
    view["id"] = profile_id
    identities = view.get("identities")
    if isinstance(identities, list):
        keyed: dict[str, Any] = {}
        for identity in identities:
            if isinstance(identity, Mapping) and "handle" in identity:
                keyed.setdefault(identity["handle"], identity)
        view["identities"] = keyed
    return view


def active_statuses(state: ProfileState, config: Config, now: str) -> list[dict[str, Any]]:
    """Held, unexpired statuses, best rank first (ties by handle). A status the
    configuration does not define (set upstream) ranks after all defined ones."""
    out = []
    for handle, (applied_at, expires_at) in state.statuses.items():
        if expires_at is not None and expires_at <= now:
            continue
        spec = config.statuses.get(handle)
        out.append(
            {
                "handle": handle,
                "name": spec.name if spec else handle,
                "rank": spec.rank if spec else None,
                "group": spec.group if spec else None,
                "customer_facing": spec.customer_facing if spec else True,
                "applied_at": applied_at,
                "expires_at": expires_at,
                "meta": dict(spec.meta) if spec else {},
            }
        )
    out.sort(key=lambda s: (s["rank"] is None, s["rank"] or 0, s["handle"]))
    return out


def _days_since(earlier: str | None, now: str) -> int | None:
    if earlier is None:
        return None
    delta = instant_from_canonical(now) - instant_from_canonical(earlier)
    return delta.days  # whole days, rounded down


def build_context(
    state: ProfileState,
    event: Event,
    config: Config,
    profile: Mapping[str, Any],
    previous_profile: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """The full context for `event` given `state` as it stands now.

    `profile` and `previous_profile` are `profile_view`s, built once per event.
    """
    now = event.occurred_at
    statuses = active_statuses(state, config, now)
    context: dict[str, Any] = dict(profile)
    context.update(
        event={**event.extra, "id": event.id, "type": event.type, "occurred_at": now},
        now=now,
        profile=profile,
        previous_profile=previous_profile,
        transaction=event.data.get("transaction") if event.type == TRANSACTION_CREATED else None,
        flattened_tags=list(state.tags),
        flattened_statuses=[s["handle"] for s in statuses],
        statuses=statuses,
        best_status=statuses[0]["handle"] if statuses else None,
        benefits=[
            {"benefit": b, "issued_at": issued, "expires_at": expires, "granted_by": granted}
            for b, issued, expires, granted in state.benefits
            if expires is None or expires > now
        ],
        point_balance=state.point_balance,
        tier_points_12m=state.tier_points_12m(now),
        reward_balance=state.reward_balance(now),
        aggregations=state.aggregations(now, _days_since(state.last_spend_at, now)),
    )
    return context
