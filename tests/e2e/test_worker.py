"""The worker on a real Kafka broker, against replay of the same input.

Every test runs real `reactor worker` processes (tests/e2e/harness.py) on
topics of its own, publishes with `reactor publish` or a plain producer, and
reads the outputs with a read_committed consumer, as delivery does.

How worker and replay are compared: the worker's time-driven work follows the
wall clock, replay's the event clock (CONTRACT §4). The generated events
(tests/e2e/generated.py) all lie in the 25 days before the test, and nothing
in the bundled configuration falls due sooner than 30 days after the event
that made it, so no time-driven work falls due before the test ends in
either; automations are left out of that configuration (the worker
does not run schedules that fell before its first start). So the worker's
actions must equal replay's exactly: same ids, same fields, each profile's in
the same order. Expected states come from the same core run in-process over
the file (an uninterrupted run: `Replay`), compared with the states the
worker committed to its changelog.
"""

from __future__ import annotations

import collections
import random
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from generated import no_automations, recent_events
from harness import (
    REPO,
    Deployment,
    changelog_states,
    committed_offsets,
    consume,
    create_topics,
    publish,
    read_all,
    without_meta,
    worker_env,
)

from reactor.config import load_config
from reactor.replay import Replay
from reactor.state import ProfileState

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

EXAMPLES = (REPO / "examples" / "events.jsonl").read_bytes().splitlines()


def replay_actions(
    config: Path = REPO, lines: list[bytes] = EXAMPLES, until: str | None = None
) -> list[dict]:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "reactor",
            "replay",
            "--config",
            str(config),
            *(["--until", until] if until else []),
            "-",
        ],
        input=b"\n".join(lines),
        capture_output=True,
        cwd=REPO,
        timeout=120,
    )
    return [orjson.loads(line) for line in done.stdout.splitlines()]


def replay_states(config: Path, lines: list[bytes]) -> dict[str, dict[str, Any]]:
    """Each profile's state after an uninterrupted in-process run of the core."""
    runner = Replay(load_config(config), on_action=lambda a: None, on_reject=lambda r: None)
    runner.feed_lines((n, line) for n, line in enumerate(lines, 1))
    out = {}
    for profile_id, state in runner.states.items():
        document = orjson.loads(state.to_json())
        document.pop("pt", None)
        out[profile_id] = document
    return out


def by_profile(actions: list[dict]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = collections.defaultdict(list)
    for action in actions:
        out[action["profile_id"]].append(without_meta(action))
    return dict(out)


def assert_exactly(got: list[dict], expected: list[dict]) -> None:
    """Each expected action once, none other, each profile's in replay's order."""
    counts = collections.Counter(a["id"] for a in got)
    duplicated = [i for i, n in counts.items() if n > 1]
    assert not duplicated, f"{len(duplicated)} actions seen more than once, e.g. {duplicated[:3]}"
    missing = {a["id"] for a in expected} - set(counts)
    extra = set(counts) - {a["id"] for a in expected}
    assert not missing and not extra, f"{len(missing)} missing, {len(extra)} unexpected"
    assert by_profile(got) == by_profile(expected)


@pytest.fixture
def deployment(kafka_bootstrap, tmp_path):
    """A function starting workers on one isolated deployment; all stopped at the end."""
    start = Deployment(worker_env(kafka_bootstrap, tmp_path), tmp_path)
    yield start
    start.stop_all()


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """20,000 generated events (2,000 profiles), the configuration to compare
    under, and replay's actions and states for them."""
    root = no_automations(tmp_path_factory.mktemp("generated") / "config")
    lines = recent_events(20_000, 2_000)
    return {
        "config": root,
        "lines": lines,
        "actions": replay_actions(root, lines),
        "states": replay_states(root, lines),
    }


def inputs_of(env: dict[str, str], partitions: int = 4) -> None:
    """Create the input topics before anything is published (a producer would
    otherwise auto-create them with the broker's default of one partition)."""
    names = ("REACTOR_PROFILE_TOPIC", "REACTOR_TRANSACTION_TOPIC", "REACTOR_REDEMPTION_TOPIC")
    create_topics(env["KAFKA_BOOTSTRAP_SERVERS"], {env[n]: partitions for n in names})


def wait_for_actions(
    kafka_bootstrap: str, env: dict[str, str], count: int, timeout: float = 180
) -> list[dict]:
    return consume(kafka_bootstrap, env["REACTOR_ACTIONS_TOPIC"], lambda r: len(r) >= count, timeout=timeout)


@pytest.mark.parametrize("store", ["memory://", "rocksdb://"])
def test_the_worker_gives_the_same_actions_as_replay(kafka_bootstrap, deployment, tmp_path, store):
    """The bundled story (May to November, before the test runs): rewards and
    gifts of it expire before now, which the worker does on its wall clock,
    so replay runs `--until` now as well. The worker runs a partition's due
    work only once its backlog is processed, so each expiry comes after the
    profile's earlier events, as in replay."""
    config = no_automations(tmp_path / "config")
    env = {**deployment.env, "REACTOR_CONFIG": str(config)}
    deployment.env = env
    worker = deployment(REACTOR_STORE=store)
    publish(env, EXAMPLES)
    time.sleep(3)  # the worker's ticks (every second here) reach the wall clock
    until = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    expected = replay_actions(config, EXAMPLES, until)
    got = wait_for_actions(kafka_bootstrap, env, len(expected), timeout=60)
    # The same actions, same ids, and each profile's in the same order.
    assert by_profile(got) == by_profile(expected)
    # Actions are keyed by profile: one profile's actions are on one partition.
    partitions = collections.defaultdict(set)
    for action in got:
        partitions[action["profile_id"]].add(action["_partition"])
    assert all(len(p) == 1 for p in partitions.values())
    metrics = worker.metrics()
    transactions = sum(1 for line in EXAMPLES if b'"transaction.created"' in line)
    counted = [
        float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("reactor_events_total{") and 'type="transaction.created"' in line
    ]
    assert sum(counted) == transactions  # processed, or skipped as duplicates
    assert 'reactor_events_total{outcome="duplicate_event",type="transaction.created"} 1.0' in metrics
    assert "reactor_processing_seconds_bucket" in metrics and "reactor_consumer_lag" in metrics
    health = worker.health()
    assert health["ready"] is True and health["config_version"] == expected[0]["config_version"]
    assert health["partitions"] == [0, 1, 2, 3] and health["lag"] == 0


@pytest.mark.parametrize("when", ["bulk", "live"])
def test_20000_generated_events_give_replays_actions_and_states(kafka_bootstrap, deployment, generated, when):
    """bulk: every event is in Kafka before the worker starts; live: `reactor
    publish` sends them while it runs (in transactions of 1,000 lines, so the
    event-time merge sees them in the file's order across topics)."""
    env = {**deployment.env, "REACTOR_CONFIG": str(generated["config"])}
    deployment.env = env
    inputs_of(env)
    if when == "bulk":
        publish(env, generated["lines"])
        deployment()
    else:
        deployment()
        publish(env, generated["lines"])
    got = wait_for_actions(kafka_bootstrap, env, len(generated["actions"]))
    assert_exactly(got, generated["actions"])
    assert changelog_states(kafka_bootstrap, env["REACTOR_APP_ID"]) == generated["states"]


def kill_mid_stream(
    deployment: Deployment, kafka_bootstrap: str, env: dict[str, str], expected: int, **extra: str
):
    """Start the worker, kill -9 it at a random moment while it works, three
    times, then let a fourth run finish. Returns how many actions were
    committed at each kill (each below `expected`: the kills were mid-stream)."""
    rng = random.Random(5)
    at_kill = []
    for _ in range(3):
        worker = deployment("w", **extra)  # the same instance: same transactional.id, same data dir
        time.sleep(rng.uniform(0.5, 2.0))
        worker.kill()
        at_kill.append(len(read_all(kafka_bootstrap, env["REACTOR_ACTIONS_TOPIC"])))
    deployment("w", **extra)
    return at_kill


@pytest.mark.parametrize("store", ["memory://", "rocksdb://"])
def test_kill_9_three_times_gives_every_action_exactly_once_and_the_same_states(
    kafka_bootstrap, deployment, generated, store
):
    env = {**deployment.env, "REACTOR_CONFIG": str(generated["config"])}
    deployment.env = env
    inputs_of(env)
    publish(env, generated["lines"])
    expected = generated["actions"]
    at_kill = kill_mid_stream(
        deployment, kafka_bootstrap, env, len(expected), REACTOR_STORE=store, REACTOR_BATCH_SIZE="200"
    )
    assert at_kill[0] < len(expected), f"the first kill came after the end: {at_kill}"
    got = wait_for_actions(kafka_bootstrap, env, len(expected))
    time.sleep(2)  # anything after the last expected action would be a duplicate
    got = consume(kafka_bootstrap, env["REACTOR_ACTIONS_TOPIC"], lambda r: False, timeout=3)
    if len(got) != len(expected):
        topics = [env["REACTOR_PROFILE_TOPIC"], env["REACTOR_TRANSACTION_TOPIC"]]
        offsets = committed_offsets(kafka_bootstrap, env["REACTOR_APP_ID"], topics)
        raise AssertionError(f"{len(got)} actions for {len(expected)}; at kills {at_kill}; offsets {offsets}")
    assert_exactly(got, expected)
    assert changelog_states(kafka_bootstrap, env["REACTOR_APP_ID"]) == generated["states"]


def test_at_least_once_loses_nothing_across_kill_9_and_duplicates_are_identical(
    kafka_bootstrap, deployment, generated
):
    env = {**deployment.env, "REACTOR_CONFIG": str(generated["config"])}
    deployment.env = env
    inputs_of(env)
    publish(env, generated["lines"])
    expected = generated["actions"]
    extra = {"REACTOR_PROCESSING_GUARANTEE": "at_least_once", "REACTOR_BATCH_SIZE": "200"}
    at_kill = kill_mid_stream(deployment, kafka_bootstrap, env, len(expected), **extra)
    assert at_kill[0] < len(expected), f"the first kill came after the end: {at_kill}"
    wanted = {a["id"] for a in expected}
    got = consume(
        kafka_bootstrap, env["REACTOR_ACTIONS_TOPIC"], lambda r: {a["id"] for a in r} >= wanted, timeout=180
    )
    first: dict[str, dict] = {}
    for action in got:
        assert without_meta(action) == first.setdefault(action["id"], without_meta(action)), action["id"]
    assert set(first) == wanted
    assert by_profile(list(first.values())) == by_profile(expected)
    assert changelog_states(kafka_bootstrap, env["REACTOR_APP_ID"]) == generated["states"]


def test_a_paused_worker_whose_partitions_moved_is_fenced(kafka_bootstrap, deployment, generated):
    """SIGSTOP worker A mid-stream until its partitions have moved to B, then
    SIGCONT it: whatever A was in the middle of (producing a batch, committing
    it) is refused by Kafka (KIP-447: its offsets carry an old group
    generation; a transaction left open past its timeout is aborted and A's
    producer fenced). A read_committed consumer sees each action once."""
    env = {**deployment.env, "REACTOR_CONFIG": str(generated["config"])}
    deployment.env = env
    inputs_of(env)
    publish(env, generated["lines"])
    expected = generated["actions"]
    a = deployment("a", REACTOR_BATCH_SIZE="200")
    time.sleep(1.0)
    a.pause()
    try:
        b = deployment("b", wait=False, REACTOR_BATCH_SIZE="200")
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            health = b.health()
            if health and health.get("ready") and health.get("partitions") == [0, 1, 2, 3]:
                break
            time.sleep(0.2)
        else:
            raise AssertionError(f"B never took A's partitions:\n{b.log()[-3000:]}")
        done_by_b = len(read_all(kafka_bootstrap, env["REACTOR_ACTIONS_TOPIC"]))
    finally:
        a.resume()
    got = wait_for_actions(kafka_bootstrap, env, len(expected))
    time.sleep(3)
    got = consume(kafka_bootstrap, env["REACTOR_ACTIONS_TOPIC"], lambda r: False, timeout=3)
    assert done_by_b < len(expected), "A was paused after the end"
    assert_exactly(got, expected)
    assert changelog_states(kafka_bootstrap, env["REACTOR_APP_ID"]) == generated["states"]
    assert "partitions lost" in a.log() or "partitions revoked" in a.log()


def test_scale_out_three_workers_one_killed_one_added_mid_stream(kafka_bootstrap, deployment, generated):
    env = {**deployment.env, "REACTOR_CONFIG": str(generated["config"]), "REACTOR_PARTITIONS": "6"}
    deployment.env = env
    inputs_of(env, partitions=6)
    expected = generated["actions"]
    workers = [deployment(name, REACTOR_BATCH_SIZE="200") for name in ("a", "b", "c")]
    sender = threading.Thread(target=publish, args=(env, generated["lines"]))
    sender.start()
    time.sleep(2.0)
    workers[1].kill()  # mid-stream: its partitions go to the others (after its session times out)
    deployment("d", REACTOR_BATCH_SIZE="200")  # and a new one joins
    sender.join()
    got = wait_for_actions(kafka_bootstrap, env, len(expected), timeout=240)
    time.sleep(3)
    got = consume(kafka_bootstrap, env["REACTOR_ACTIONS_TOPIC"], lambda r: False, timeout=3)
    assert_exactly(got, expected)
    assert changelog_states(kafka_bootstrap, env["REACTOR_APP_ID"]) == generated["states"]
    assert {a["_partition"] for a in got} <= set(range(6))


def test_bad_messages_are_dead_lettered_and_the_events_behind_them_processed(kafka_bootstrap, deployment):
    env = deployment.env
    inputs_of(env)
    worker = deployment()
    topic = env["REACTOR_TRANSACTION_TOPIC"]

    def txn(event_id: str, **fields: Any) -> dict[str, Any]:
        event = {
            "id": event_id,
            "type": "transaction.created",
            "occurred_at": "2026-11-20T10:00:00Z",
            "profile_id": "p-1",
            "data": {"transaction": {"id": f"t-{event_id}", "total": 12.5}},
        }
        event["data"]["transaction"].update(fields.pop("transaction", {}))
        event.update(fields)
        return event

    big = orjson.dumps({**txn("e-big"), "type": "order.created", "pad": "x" * 999_000})
    bad: list[tuple[bytes | None, bytes]] = [
        (b"p-1", b"{not json"),
        (b"p-1", orjson.dumps({**txn("e1"), "type": "order.created"})),
        (b"p-1", orjson.dumps(txn("e2", transaction={"total": "12"}))),
        (b"p-1", orjson.dumps(txn("e3", transaction={"total": 1e20}))),
        (b"p-1", orjson.dumps(txn("e4", occurred_at="0001-01-01T00:00:00+01:00"))),
        (None, orjson.dumps(txn("e5"))),
        (b"p-2", orjson.dumps(txn("e6"))),
        (b"p-1", b"\xff\xfe not utf-8"),
        (b"p-1", big),
    ]
    from confluent_kafka import Producer

    producer = Producer({"bootstrap.servers": kafka_bootstrap, "message.max.bytes": 1_000_000})
    for key, value in bad:
        producer.produce(topic, value, key, partition=0)
    producer.flush(30)
    good = EXAMPLES[:20]
    publish(env, good)
    letters = consume(kafka_bootstrap, env["REACTOR_DLQ_TOPIC"], lambda r: len(r) >= len(bad), timeout=60)
    by_offset = {r["source"]["offset"]: r for r in letters if r["source"]["topic"] == topic}
    assert sorted(by_offset) == list(range(len(bad))), letters
    codes = [by_offset[n]["error"]["code"] for n in range(len(bad))]
    assert codes[0] == "invalid_json" and codes[1] == "unknown_type" and codes[2] == "wrong_type"
    # Past the ranges an amount (±10^12) or a time (years 1900-2200) may take:
    # refused at decode, dead-lettered, never a crash.
    assert codes[3] == "out_of_range" and codes[4] == "out_of_range"
    assert codes[5] == "key_mismatch" and codes[6] == "key_mismatch" and codes[7] == "invalid_json"
    assert codes[8] == "unknown_type"
    for n in range(7):
        assert by_offset[n]["raw"].encode() == bad[n][1]
    assert by_offset[7]["raw_base64"] and by_offset[5]["error"]["path"] == "profile_id"
    oversized = by_offset[8]
    assert oversized["raw_truncated"] is True and oversized["raw_size"] == len(big)
    import hashlib

    assert oversized["raw_sha256"] == hashlib.sha256(big).hexdigest()
    assert oversized["raw"].encode() == big[: 64 * 1024]
    # The good events behind them were processed.
    # (Actions of events: the worker's clock may also expire what they issued.)
    expected = {a["id"] for a in replay_actions(lines=good) if a["event_id"] is not None}
    got = consume(kafka_bootstrap, env["REACTOR_ACTIONS_TOPIC"], lambda r: {a["id"] for a in r} >= expected)
    assert {a["id"] for a in got} >= expected
    assert 'reactor_rejects_total{code="key_mismatch"} 2.0' in worker.metrics()
    assert worker.health()["ready"] is True


def test_a_state_past_what_the_changelog_accepts_dead_letters_the_event_that_grew_it(
    kafka_bootstrap, deployment
):
    """A profile's state is one changelog record (README 'Limits'). Here the
    changelog accepts 30,000 bytes: a profile's purchases are applied until the
    next would take its state past that; each after is a `state_too_large`
    dead letter with its bytes, the state stays as it was, other profiles go on."""
    from datetime import UTC, datetime, timedelta

    from confluent_kafka.admin import AdminClient, NewTopic

    env = deployment.env
    inputs_of(env)
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    changelog = f"{env['REACTOR_APP_ID']}.profiles"
    config = {"cleanup.policy": "compact", "max.message.bytes": "30000"}
    for future in admin.create_topics([NewTopic(changelog, 4, 1, config=config)]).values():
        future.result()
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(days=20)

    def purchase(n: int) -> bytes:
        at = (start + timedelta(minutes=n)).strftime("%Y-%m-%dT%H:%M:%SZ")
        txn = {"id": f"t-{n}", "total": 20.0 + n % 7, "currency": "AUD", "transacted_at": at}
        return orjson.dumps(
            {
                "id": f"e-{n}",
                "type": "transaction.created",
                "occurred_at": at,
                "profile_id": "p-busy",
                "data": {"transaction": txn},
            }
        )

    busy = [purchase(n) for n in range(1_500)]
    profile = {"id": "p-busy", "first_name": "Ava", "email": "ava@example.com"}
    snapshot = orjson.dumps(
        {
            "id": "s-1",
            "type": "profile.updated",
            "occurred_at": (start - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "profile_id": "p-busy",
            "data": {"profile": profile},
        }
    )
    deployment()
    publish(env, [snapshot, *busy])
    others = [line for line in EXAMPLES if b'"p-041"' in line and b"points.redeemed" not in line]
    publish(env, others)
    expected = {a["id"] for a in replay_actions(lines=others) if a["event_id"] is not None}
    consume(
        kafka_bootstrap, env["REACTOR_ACTIONS_TOPIC"], lambda r: {a["id"] for a in r} >= expected, timeout=120
    )
    letters = consume(kafka_bootstrap, env["REACTOR_DLQ_TOPIC"], lambda r: False, timeout=5)
    assert letters, "the busy profile never passed the bound"
    assert {r["error"]["code"] for r in letters} == {"state_too_large"}
    assert "more than" in letters[0]["error"]["message"] and changelog in letters[0]["error"]["message"]
    # Each dead letter is one purchase, its bytes exactly; those before were applied.
    refused = [int(orjson.loads(r["raw"])["id"][2:]) for r in letters]
    assert [r["raw"].encode() for r in letters] == [busy[n] for n in refused]
    applied = 1_500 - len(refused)
    assert refused == list(range(applied, 1_500))
    states = changelog_states(kafka_bootstrap, env["REACTOR_APP_ID"])
    assert "p-041" in states
    kept = ProfileState.from_json(orjson.dumps(states["p-busy"]))
    assert kept.shop_count == applied and len(orjson.dumps(states["p-busy"])) <= 30_000


def test_a_redemption_that_cannot_be_done_is_dead_lettered_and_changes_nothing(kafka_bootstrap, deployment):
    """CONTRACT §8: redeeming more than is held, or the same redemption id twice,
    is invalid input: a dead letter with the original bytes, no action, and the
    profile's state as it was (the good redemption's change is kept once)."""
    env = deployment.env
    inputs_of(env)
    worker = deployment()
    p41 = [line for line in EXAMPLES if b'"p-041"' in line and b"points.redeemed" not in line]
    publish(env, p41)
    expected = {a["id"] for a in replay_actions(lines=p41) if a["event_id"] is not None}
    consume(kafka_bootstrap, env["REACTOR_ACTIONS_TOPIC"], lambda r: {a["id"] for a in r} >= expected)

    def redeem(event_id: str, redemption_id: str, points: int) -> bytes:
        return orjson.dumps(
            {
                "id": event_id,
                "type": "points.redeemed",
                "occurred_at": "2026-11-29T10:00:00Z",
                "profile_id": "p-041",
                "data": {"redemption_id": redemption_id, "points": points},
            }
        )

    tries = [redeem("r1", "rd-big", 10_000_000), redeem("r2", "rd-ok", 100), redeem("r3", "rd-ok", 100)]
    publish(env, tries)
    letters = consume(kafka_bootstrap, env["REACTOR_DLQ_TOPIC"], lambda r: len(r) >= 2, timeout=60)
    assert [(r["error"]["code"], r["raw"].encode()) for r in letters] == [
        ("insufficient_balance", tries[0]),
        ("duplicate_redemption", tries[2]),
    ]
    actions = consume(kafka_bootstrap, env["REACTOR_ACTIONS_TOPIC"], lambda r: False, timeout=3)
    redeemed = [a for a in actions if a["event_id"] in {"r1", "r2", "r3"}]
    assert [(a["event_id"], a["type"], a["points"]) for a in redeemed] == [("r2", "points.award", -100)]
    assert 'reactor_rejects_total{code="insufficient_balance"} 1.0' in worker.metrics()
