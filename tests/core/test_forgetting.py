"""Forgetting properly (CONTRACT §8): `profile.deleted` leaves only a marker
that stops late events for `forget_window` and tells downstream to forget;
`profile.depersonalised` drops personal fields and keeps the rest."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from reactor.config import load_config
from reactor.context import build_context
from reactor.engine import next_due, process, run_due
from reactor.events import decode_event
from reactor.replay import Replay
from support import brief, event, profile_updated, run, transaction, write_config

RULES = """
programme: {forget_window: 30d}
reactions:
  - {id: points, on: [transaction.created], actions: [{type: points.award, kind: reward, points: {"var": "transaction.total"}}]}
  - {id: hello, on: [profile.updated], limit: {per_profile: 1}, actions: [{type: tag.add, tag: hello}]}
"""


@pytest.fixture
def config(tmp_path: Path):
    return load_config(write_config(tmp_path / "cfg", {"reactions/r.yaml": RULES}))


def deleted(at: str, id: str = "del-1", profile_id: str = "p-1") -> bytes:
    return event("profile.deleted", profile_id, at, id)


def test_a_deletion_forgets_everything_and_tells_downstream(config):
    state, actions, _ = run(
        config,
        profile_updated(email="ava@example.com", at="2026-01-01T00:00:00Z"),
        transaction(100, at="2026-01-02T00:00:00Z"),
        deleted("2026-02-01T00:00:00Z"),
    )
    forget = actions[-1]
    assert (forget["type"], forget["profile_id"], forget["event_id"], forget["reaction_id"]) == (
        "profile.forget",
        "p-1",
        "del-1",
        None,
    )
    assert forget["at"] == "2026-02-01T00:00:00Z"
    # Only the marker is left: the profile id and when it was deleted.
    assert orjson.loads(state.to_json()) == {
        "v": 3,
        "p": "p-1",
        "c": "2026-02-01T00:00:00Z",
        "dl": "2026-02-01T00:00:00Z",
    }


def test_a_late_event_from_before_the_deletion_is_skipped(config):
    state, _, _ = run(config, profile_updated(at="2026-01-01T00:00:00Z"), deleted("2026-02-01T00:00:00Z"))
    late = process(decode_event(transaction(50, at="2026-01-15T00:00:00Z")), state, config)
    assert late.skipped == "deleted_profile" and late.actions == () and late.state is state
    at_deletion = process(decode_event(profile_updated(at="2026-02-01T00:00:00Z")), state, config)
    assert at_deletion.skipped == "deleted_profile"  # at or before the deletion


def test_an_event_after_the_deletion_starts_a_new_profile(config):
    state, _, _ = run(
        config,
        profile_updated(at="2026-01-01T00:00:00Z"),
        transaction(100, at="2026-01-02T00:00:00Z"),
        deleted("2026-02-01T00:00:00Z"),
    )
    fresh, actions, _ = run(
        config,
        profile_updated(at="2026-02-02T00:00:00Z"),
        transaction(5, at="2026-02-03T00:00:00Z"),
        state=state,
    )
    # The once-per-profile tag again, and a balance from nothing.
    assert brief(actions) == [
        ("tag.add", {"tag": "hello"}),
        ("points.award", {"kind": "reward", "points": 5, "modifiers": [], "balance": 5}),
    ]
    assert fresh.deleted_at is None and fresh.spend_all == 5


def test_the_marker_is_gone_after_the_forget_window(config):
    state, _, _ = run(config, deleted("2026-02-01T00:00:00Z"))
    assert next_due(state, config) == "2026-03-03T00:00:00Z"  # 30 days on
    assert run_due(state, config, "2026-03-02T23:59:59Z").state is state
    assert run_due(state, config, "2026-03-03T00:00:00Z").state is None  # forgotten: a tombstone


def test_deleting_a_profile_never_seen_still_tells_downstream(config):
    _, actions, _ = run(config, deleted("2026-02-01T00:00:00Z", profile_id="p-unknown"))
    assert [(a["type"], a["profile_id"]) for a in actions] == [("profile.forget", "p-unknown")]


def test_depersonalising_drops_personal_fields_and_keeps_the_rest(config):
    state, _, _ = run(
        config,
        profile_updated(
            email="ava@example.com",
            first_name="Ava",
            birthday="1990-04-02",
            tags=["vip-waitlist"],
            identities=[{"handle": "instagram", "identifier": "ava.styles"}],
            attributes={"custom": {"employee_id": "E-1"}},
            at="2026-01-01T00:00:00Z",
        ),
        transaction(100, at="2026-01-02T00:00:00Z"),
    )
    after, actions, _ = run(
        config, event("profile.depersonalised", at="2026-01-03T00:00:00Z", id="dep-1"), state=state
    )
    assert [(a["type"], a["event_id"], a["reaction_id"]) for a in actions] == [
        ("profile.depersonalise", "dep-1", None)
    ]
    context = build_context(after, decode_event(transaction(1, at="2026-01-04T00:00:00Z")), config)
    assert context["profile"] == {"id": "p-1"}
    assert "email" not in context and "first_name" not in context and context["previous_profile"] is None
    # Kept: balances, aggregations, tags, limits.
    assert context["point_balance"] == 100 and context["aggregations"]["spend_all"] == 100
    assert context["flattened_tags"] == ["hello", "vip-waitlist"]
    assert after.fired["hello"]
    # A later snapshot brings fields back (upstream is the source of truth).
    back, _, _ = run(config, profile_updated(first_name="Ava", at="2026-01-05T00:00:00Z"), state=after)
    assert back.snapshot["first_name"] == "Ava"


def test_replay_leaves_deleted_profiles_out_of_automations_and_the_count(tmp_path):
    root = write_config(
        tmp_path / "cfg",
        {
            "reactions/r.yaml": RULES
            + """
automations:
  - {id: daily, schedule: "0 0 * * *", actions: [{type: tag.add, tag: ticked}]}
"""
        },
    )
    config = load_config(root)
    actions = []
    runner = Replay(config, on_action=actions.append, on_reject=lambda r: None)
    lines = [
        profile_updated("p-1", at="2026-01-01T12:00:00Z"),
        deleted("2026-01-01T13:00:00Z", profile_id="p-1"),
    ]
    runner.feed_lines(enumerate(lines, 1))
    runner.finish("2026-01-03T00:00:00Z")
    assert [a.type for a in actions] == ["tag.add", "profile.forget"]  # no tick for a deleted profile
    assert runner.summary()["profiles"] == 0
