"""The worker's wall-clock work (expiry, automations) and hot reload, on a real broker."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from harness import Deployment, WorkerProcess, consume, create_topics, publish, reactor_cli, worker_env

from support import write_config

pytestmark = [pytest.mark.kafka, pytest.mark.slow]


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def event(event_id: str, profile: str, at: datetime, **profile_fields: object) -> bytes:
    return orjson.dumps(
        {
            "id": event_id,
            "type": "profile.updated",
            "occurred_at": iso(at),
            "profile_id": profile,
            "data": {"profile": {"id": profile, **profile_fields}},
        }
    )


@pytest.fixture
def run(kafka_bootstrap, tmp_path):
    deployment = Deployment({}, tmp_path)

    def start(env: dict[str, str], name: str = "w") -> WorkerProcess:
        return deployment(name, env=env)

    yield start
    deployment.stop_all()


def test_a_status_expires_within_60_seconds_of_its_expiry(kafka_bootstrap, tmp_path, run):
    root = write_config(
        tmp_path / "cfg",
        {
            "reactions/r.yaml": """
        statuses:
          - {handle: trial, name: Trial, rank: 1, default_duration: 1m}
        reactions:
          - {id: start-trial, on: [profile.updated], actions: [{type: status.apply, status: trial}]}
    """
        },
    )
    env = worker_env(kafka_bootstrap, tmp_path, config=root)
    run(env)
    # The event happened 57 s ago: its one-minute status runs out 3 s from now.
    publish(env, [event("e1", "p-1", datetime.now(UTC) - timedelta(seconds=57))])
    actions = consume(kafka_bootstrap, env["REACTOR_ACTIONS_TOPIC"], lambda r: len(r) >= 2, timeout=70)
    applied, removed = actions[0], actions[1]
    noticed = time.time()
    assert (applied["type"], removed["type"], removed["reason"]) == (
        "status.apply",
        "status.remove",
        "expired",
    )
    assert removed["at"] == applied["expires_at"] and removed["event_id"] is None
    expires = datetime.fromisoformat(applied["expires_at"]).timestamp()
    assert noticed - expires < 60


def test_an_automation_fires_once_on_its_schedule_and_a_restart_neither_skips_nor_repeats_it(
    kafka_bootstrap, tmp_path, run
):
    at = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=25)
    root = write_config(
        tmp_path / "cfg",
        {
            "reactions/r.yaml": f"""
        automations:
          - id: launch-gift
            at: "{iso(at)}"
            actions: [{{type: reward.create, amount: 5, currency: AUD, valid_for: 30d}}]
    """
        },
    )
    env = worker_env(kafka_bootstrap, tmp_path, config=root)
    first = run(env, "first")
    publish(env, [event("e1", "p-1", datetime.now(UTC)), event("e2", "p-2", datetime.now(UTC))])
    time.sleep(3)
    first.stop()  # down when the automation is due...
    while datetime.now(UTC) < at + timedelta(seconds=2):
        time.sleep(0.5)
    second = run(env, "second")  # ...so it must fire after the restart, for both profiles, once
    rewards = consume(kafka_bootstrap, env["REACTOR_ACTIONS_TOPIC"], lambda r: len(r) >= 2, timeout=60)
    assert sorted(r["profile_id"] for r in rewards) == ["p-1", "p-2"]
    assert {r["event_id"] for r in rewards} == {f"launch-gift@{iso(at)}"}
    assert all(r["at"] == iso(at) for r in rewards)
    second.stop()
    run(env, "third")
    time.sleep(5)  # several ticks after another restart
    again = consume(kafka_bootstrap, env["REACTOR_ACTIONS_TOPIC"], lambda r: False, timeout=3)
    assert len(again) == 2, "the tick must not repeat"


def test_hot_reload_swaps_a_good_config_and_keeps_the_last_good_one_on_a_bad_one(
    kafka_bootstrap, tmp_path, run
):
    rules = tmp_path / "cfg" / "reactions" / "r.yaml"
    root = write_config(
        tmp_path / "cfg",
        {
            "reactions/r.yaml": """
        reactions:
          - {id: hello, on: [profile.updated], actions: [{type: tag.add, tag: hello}]}
    """
        },
    )
    env = worker_env(kafka_bootstrap, tmp_path, config=root)
    worker = run(env)
    first_version = worker.health()["config_version"]
    publish(env, [event("e1", "p-1", datetime.now(UTC))])
    consume(kafka_bootstrap, env["REACTOR_ACTIONS_TOPIC"], lambda r: len(r) >= 1)

    rules.write_text(
        rules.read_text() + "  - {id: again, on: [profile.updated], actions: [{type: tag.add, tag: again}]}\n"
    )
    deadline = time.monotonic() + 30
    while worker.health()["config_version"] == first_version and time.monotonic() < deadline:
        time.sleep(0.2)
    second_version = worker.health()["config_version"]
    assert second_version != first_version
    publish(env, [event("e2", "p-2", datetime.now(UTC))])
    actions = consume(kafka_bootstrap, env["REACTOR_ACTIONS_TOPIC"], lambda r: len(r) >= 3)
    assert [(a["profile_id"], a["tag"], a["config_version"]) for a in actions] == [
        ("p-1", "hello", first_version),
        ("p-2", "again", second_version),  # same priority: by id
        ("p-2", "hello", second_version),
    ]

    good = rules.read_text()
    rules.write_text(good + "  - {id: broken, on: [profile.updated], actions: [{type: tag.ad, tag: x}]}\n")
    deadline = time.monotonic() + 30
    while "configuration rejected" not in worker.log() and time.monotonic() < deadline:
        time.sleep(0.2)
    assert "reactions/r.yaml:4:" in worker.log() and "unknown step type 'tag.ad'" in worker.log()
    assert worker.health()["config_version"] == second_version
    assert 'reactor_config_reloads_total{outcome="rejected"} 1.0' in worker.metrics()
    publish(env, [event("e3", "p-3", datetime.now(UTC))])
    actions = consume(kafka_bootstrap, env["REACTOR_ACTIONS_TOPIC"], lambda r: len(r) >= 5)
    assert {(a["tag"], a["config_version"]) for a in actions if a["profile_id"] == "p-3"} == {
        ("hello", second_version),
        ("again", second_version),
    }


def test_the_worker_refuses_to_start_on_a_bad_configuration(kafka_bootstrap, tmp_path):
    root = write_config(
        tmp_path / "cfg", {"reactions/r.yaml": "reactions:\n  - {id: r, on: [nope], actions: []}\n"}
    )
    env = worker_env(kafka_bootstrap, tmp_path, config=root)
    done = reactor_cli(env, "worker")
    assert done.returncode == 1
    assert b"reactions/r.yaml:2:" in done.stderr


def test_the_worker_refuses_input_topics_that_disagree_on_partitions(kafka_bootstrap, tmp_path):
    env = worker_env(kafka_bootstrap, tmp_path)

    create_topics(kafka_bootstrap, {env["REACTOR_PROFILE_TOPIC"]: 2, env["REACTOR_TRANSACTION_TOPIC"]: 3})
    done = reactor_cli(env, "worker")
    assert done.returncode == 1
    assert b"input topics have different partition counts" in done.stderr
    assert env["REACTOR_PROFILE_TOPIC"].encode() in done.stderr
    assert b"Traceback" not in done.stderr


def test_the_worker_refuses_a_changelog_that_disagrees_with_the_inputs(kafka_bootstrap, tmp_path):
    env = worker_env(kafka_bootstrap, tmp_path)
    create_topics(kafka_bootstrap, {env["REACTOR_PROFILE_TOPIC"]: 4, f"{env['REACTOR_APP_ID']}.profiles": 2})
    done = reactor_cli(env, "worker")
    assert done.returncode == 1 and b"Traceback" not in done.stderr
    lines = done.stderr.decode().strip().splitlines()
    assert lines[-1].startswith("reactor: the state changelog") and "2 partitions" in lines[-1]


def test_an_automation_over_many_profiles_runs_in_bounded_batches_once_each_across_a_kill(
    kafka_bootstrap, tmp_path, run
):
    """1,200 profiles on 4 partitions, 10 per transaction: a tick's round takes
    many batches, each recording how far it got. kill -9 in the middle of it,
    restart: every profile gets the automation's action exactly once."""
    at = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=20)
    root = write_config(
        tmp_path / "cfg",
        {
            "reactions/r.yaml": f"""
        automations:
          - id: launch-gift
            at: "{iso(at)}"
            actions: [{{type: tag.add, tag: launched}}]
    """
        },
    )
    env = worker_env(kafka_bootstrap, tmp_path, config=root, REACTOR_BATCH_SIZE="10")
    create_topics(kafka_bootstrap, {env["REACTOR_PROFILE_TOPIC"]: 4, env["REACTOR_TRANSACTION_TOPIC"]: 4})
    profiles = [f"p-{n:04d}" for n in range(1200)]
    first = run(env, "w")
    publish(env, [event(f"e-{p}", p, datetime.now(UTC)) for p in profiles])
    consume(kafka_bootstrap, env["REACTOR_ACTIONS_TOPIC"], lambda r: False, timeout=1)  # let it settle
    while datetime.now(UTC) < at:
        time.sleep(0.1)
    seen = consume(kafka_bootstrap, env["REACTOR_ACTIONS_TOPIC"], lambda r: len(r) >= 50, timeout=60)
    first.kill()
    assert len(seen) < len(profiles), "the round ended before the kill"
    run(env, "w")  # the same instance resumes the round from its record
    actions = consume(
        kafka_bootstrap, env["REACTOR_ACTIONS_TOPIC"], lambda r: len(r) >= len(profiles), timeout=120
    )
    time.sleep(3)
    actions = consume(kafka_bootstrap, env["REACTOR_ACTIONS_TOPIC"], lambda r: False, timeout=3)
    assert sorted(a["profile_id"] for a in actions) == profiles  # each once
    assert {a["event_id"] for a in actions} == {f"launch-gift@{iso(at)}"}


def test_a_reminder_fires_once_across_kill_9_before_and_after_it_falls_due(kafka_bootstrap, tmp_path, run):
    """CONTRACT §8: a reminder fires once per item and due time. The worker is
    killed (SIGKILL) before the reminder falls due and restarted after: it fires
    late, at once; killed again right after, the restart must not fire it again
    (what fired is in the profile's state, committed with the action)."""
    root = write_config(
        tmp_path / "cfg",
        {
            "reactions/r.yaml": """
        reactions:
          - id: gift
            on: [profile.updated]
            actions: [{type: reward.create, amount: 5, currency: AUD, valid_for: 3m}]
        reminders:
          - id: gift-expiring
            of: reward.expires_at
            before: 2m
            actions: [{type: tag.add, tag: gift-expiring}]
    """
        },
    )
    env = worker_env(kafka_bootstrap, tmp_path, config=root)
    # The gift runs out 130 s from now, so its reminder falls due in 10 s.
    occurred = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=50)
    due = occurred + timedelta(minutes=1)
    worker = run(env)
    publish(env, [event("e1", "p-1", occurred)])
    actions_topic = env["REACTOR_ACTIONS_TOPIC"]
    first = consume(kafka_bootstrap, actions_topic, lambda r: len(r) >= 1, timeout=60)
    assert [a["type"] for a in first] == ["reward.create"]
    assert datetime.now(UTC) < due, "the reward took too long: the kill would come after the reminder"
    worker.kill()
    while datetime.now(UTC) < due + timedelta(seconds=2):
        time.sleep(0.5)
    worker = run(env)  # down when it fell due: it fires now
    fired = consume(kafka_bootstrap, actions_topic, lambda r: len(r) >= 2, timeout=60)
    worker.kill()
    reminder = fired[1]
    assert (reminder["type"], reminder["tag"], reminder["reaction_id"]) == (
        "tag.add",
        "gift-expiring",
        "gift-expiring",
    )
    assert reminder["at"] == iso(due)
    run(env)
    time.sleep(6)  # several ticks after the restart
    again = consume(kafka_bootstrap, actions_topic, lambda r: False, timeout=3)
    assert [a["type"] for a in again] == ["reward.create", "tag.add"], "the reminder must fire once"
