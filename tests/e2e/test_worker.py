"""The worker on a real Kafka broker, against replay of the same input.

Every test runs real `reactor worker` processes (tests/e2e/harness.py) on
topics of its own, publishes with `reactor publish`, and reads the output
topics with a plain aiokafka consumer.
"""

from __future__ import annotations

import collections
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest
from harness import REPO, Deployment, committed_offsets, consume, publish, without_meta, worker_env

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

EXAMPLES = (REPO / "examples" / "events.jsonl").read_bytes().splitlines()


def replay_actions(config: Path = REPO, lines: list[bytes] = EXAMPLES) -> list[dict]:
    done = subprocess.run(
        [sys.executable, "-m", "reactor", "replay", "--config", str(config), "-"],
        input=b"\n".join(lines),
        capture_output=True,
        cwd=REPO,
        timeout=120,
    )
    return [orjson.loads(line) for line in done.stdout.splitlines()]


def event_driven(actions: list[dict]) -> list[dict]:
    """Actions that come from events (and expiry), not from a scheduled
    automation: automations follow the wall clock in the worker and event time
    in replay (CONTRACT §4)."""
    automations = {"win-back"}
    return [a for a in actions if a["reaction_id"] not in automations]


def of_events(actions: list[dict]) -> list[dict]:
    """Actions of events alone. When a backfill is published in two goes, the
    worker's wall clock expires a status between them, earlier in the profile's
    story than replay's event-time clock does (CONTRACT §4: a backfill that must
    reproduce history exactly belongs in replay)."""
    return [a for a in event_driven(actions) if a["event_id"] is not None]


def missing(got: list[dict], expected: list[dict]) -> list[dict]:
    seen = {a["id"] for a in got}
    return [a for a in expected if a["id"] not in seen]


def by_profile(actions: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = collections.defaultdict(list)
    for action in actions:
        out[action["profile_id"]].append(without_meta(action))
    return dict(out)


@pytest.fixture
def deployment(kafka_bootstrap, tmp_path):
    """A function starting workers on one isolated deployment; all stopped at the end."""
    start = Deployment(worker_env(kafka_bootstrap, tmp_path), tmp_path)
    yield start
    start.stop_all()


@pytest.mark.parametrize("store", ["memory://", "rocksdb://"])
def test_the_worker_gives_the_same_actions_as_replay(kafka_bootstrap, deployment, store):
    env = deployment.env
    expected = event_driven(replay_actions())
    worker = deployment(REACTOR_STORE=store)
    publish(env, EXAMPLES)
    got = consume(
        kafka_bootstrap, env["REACTOR_ACTIONS_TOPIC"], lambda r: len(event_driven(r)) >= len(expected)
    )
    got = event_driven(got)
    # The same actions, same ids, and each profile's in the same order.
    assert by_profile(got) == by_profile(expected)
    # Actions are keyed by profile: one profile's actions are on one partition.
    partitions = collections.defaultdict(set)
    for action in got:
        partitions[action["profile_id"]].add(action["_partition"])
    assert all(len(p) == 1 for p in partitions.values())
    metrics = worker.metrics()
    assert 'reactor_events_total{outcome="processed",type="transaction.created"} 190.0' in metrics
    assert 'reactor_events_total{outcome="duplicate_event",type="transaction.created"} 1.0' in metrics
    assert "reactor_processing_seconds_bucket" in metrics and "reactor_consumer_lag" in metrics
    assert worker.health() == {"status": "ok", "ready": True, "config_version": expected[0]["config_version"]}


def test_bad_messages_go_to_the_dead_letter_topic_and_the_worker_goes_on(kafka_bootstrap, deployment):
    env = deployment.env
    worker = deployment()
    topic = env["REACTOR_TRANSACTION_TOPIC"]
    bad = [
        b"{not json",
        b'{"id":"e1","type":"order.created","occurred_at":"2026-11-20T10:00:00Z","profile_id":"p-1","data":{}}',
        b'{"id":"e2","type":"transaction.created","occurred_at":"2026-11-20T10:00:00Z","profile_id":"p-1","data":{"transaction":{"id":"t","total":"12"}}}',
    ]
    publish(env, bad, "--topic", topic)
    publish(env, EXAMPLES[:20])
    letters = consume(kafka_bootstrap, env["REACTOR_DLQ_TOPIC"], lambda r: len(r) >= 3)
    assert sorted((r["error"]["code"], r["error"]["path"]) for r in letters) == [
        ("invalid_json", ""),
        ("unknown_type", "type"),
        ("wrong_type", "data.transaction.total"),
    ]
    assert {r["raw"].encode() for r in letters} == set(bad)
    for record in letters:
        assert record["source"]["topic"] == topic
        assert isinstance(record["source"]["partition"], int) and isinstance(record["source"]["offset"], int)
    # The good events after them were processed (expiry aside: the worker's
    # clock is the wall clock, replay's stops at the last event).
    expected = {a["id"] for a in replay_actions(lines=EXAMPLES[:20])}
    got = consume(kafka_bootstrap, env["REACTOR_ACTIONS_TOPIC"], lambda r: {a["id"] for a in r} >= expected)
    assert {a["id"] for a in got if a["event_id"] is not None} == expected
    assert 'reactor_rejects_total{code="invalid_json"} 1.0' in worker.metrics()


def test_two_workers_share_the_partitions_and_lose_nothing_across_rebalances(kafka_bootstrap, deployment):
    env = deployment.env
    expected = of_events(replay_actions())
    first, second = EXAMPLES[:120], EXAMPLES[120:]
    a = deployment("a")
    publish(env, first)
    b = deployment("b")  # joins: the group rebalances, B takes half the partitions
    time.sleep(2)
    b.stop()  # leaves: A takes B's partitions back, with B's state from the changelog
    publish(env, second)
    got = consume(
        kafka_bootstrap,
        env["REACTOR_ACTIONS_TOPIC"],
        lambda r: {x["id"] for x in of_events(r)} >= {x["id"] for x in expected},
    )
    got = of_events(got)
    # None lost; a reprocessed event re-sends its actions with the same ids and content.
    assert not missing(got, expected), (missing(got, expected), a.log()[-4000:])
    assert {x["id"] for x in got} == {x["id"] for x in expected}
    first_seen = {}
    for action in got:
        first_seen.setdefault(action["id"], without_meta(action))
        assert without_meta(action) == first_seen[action["id"]]
    # The second half needed the state built by the first (B's included): same as replay.
    assert by_profile(list(first_seen.values())) == by_profile(expected)
    assert a.health()["ready"]


@pytest.mark.parametrize("store", ["memory://", "rocksdb://"])
def test_a_worker_killed_mid_stream_resumes_from_its_changelog(kafka_bootstrap, deployment, store):
    env = deployment.env
    expected = of_events(replay_actions())
    worker = deployment(REACTOR_STORE=store)
    publish(env, EXAMPLES)
    consume(kafka_bootstrap, env["REACTOR_ACTIONS_TOPIC"], lambda r: len(r) >= 50)
    worker.kill()  # SIGKILL, mid-stream (RocksDB: its files stay, as on a real host)
    deployment(REACTOR_STORE=store)
    got = consume(
        kafka_bootstrap,
        env["REACTOR_ACTIONS_TOPIC"],
        lambda r: {x["id"] for x in of_events(r)} >= {x["id"] for x in expected},
    )
    got = of_events(got)
    if missing(got, expected):
        topics = [env["REACTOR_PROFILE_TOPIC"], env["REACTOR_TRANSACTION_TOPIC"]]
        offsets = committed_offsets(kafka_bootstrap, env["REACTOR_APP_ID"], topics)
        raise AssertionError(f"missing {missing(got, expected)}; committed/end {offsets}")
    assert {x["id"] for x in got} == {x["id"] for x in expected}
    unique = {}
    for action in got:
        assert unique.setdefault(action["id"], without_meta(action)) == without_meta(action)
    assert by_profile(list(unique.values())) == by_profile(expected)
