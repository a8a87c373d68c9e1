"""Worker benchmark: events/s end to end on a local broker, and latency.

Prints, from one run on the same machine and broker:

- throughput of one `reactor worker` process (the bundled configuration less
  its automations; memory store, exactly-once) on a backlog of N generated
  events, against `reactor replay` of the same file (the core alone, one
  process) and against a plain confluent-kafka consume -> decode -> produce
  loop over the same events (the Kafka ceiling). The worker's rate is N over
  the span between its first and last action's Kafka timestamp;
- event-to-action latency at a steady 1,000 events/s, for exactly_once and
  at_least_once: when a read_committed consumer of the actions topic receives
  an action, minus when its event was sent; p50 and p99.

Goals (issue #9): worker >= 0.8 x replay; >= 10,000 events/s per process
(pure Python); p99 <= 100 ms exactly-once, <= 50 ms at-least-once.

    python benchmarks/worker.py [--events 100000] [--rate 1000] [--seconds 10]

Uses KAFKA_BOOTSTRAP_SERVERS if set, else starts a broker (tests/kafka/broker.py).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "kafka"))
sys.path.insert(0, str(REPO / "tests" / "e2e"))

from generated import no_automations, recent_events  # noqa: E402
from harness import free_port  # noqa: E402

PARTITIONS = 4


def create_topics(bootstrap: str, names: list[str]) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(n, PARTITIONS, 1) for n in names]).values():
        future.result()


def produce(
    bootstrap: str, topic_of: dict[str, str], lines: list[bytes], rate: float | None = None
) -> dict[str, float]:
    """Send `lines` (all at once, or `rate` a second); returns event id -> send time."""
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "linger.ms": 5 if rate is None else 0,
            "partitioner": "murmur2_random",
            "enable.idempotence": True,
        }
    )
    sent: dict[str, float] = {}
    started = time.perf_counter()
    for n, line in enumerate(lines):
        document = orjson.loads(line)
        while True:
            try:
                producer.produce(topic_of[document["type"]], line, document["profile_id"].encode())
                break
            except BufferError:
                producer.poll(0.05)
        sent[document["id"]] = time.time()
        producer.poll(0)
        if rate is not None:
            delay = started + (n + 1) / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
    producer.flush(60)
    return sent


def read_actions(bootstrap: str, topic: str, until: int, timeout: float, on_record: Any = None) -> list[Any]:
    """(value, kafka timestamp ms, receive time) of each action, read_committed."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-{uuid.uuid4().hex[:6]}",
            "isolation.level": "read_committed",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.assign([TopicPartition(topic, p, -2) for p in range(PARTITIONS)])
    out: list[Any] = []
    deadline = time.monotonic() + timeout
    try:
        while len(out) < until and time.monotonic() < deadline:
            # One record (as soon as it comes), then whatever else is there:
            # consume(n, timeout) waits for n records or the timeout.
            messages = consumer.consume(1, 0.1)
            if messages:
                messages += consumer.consume(1000, 0)
            now = time.time()
            for message in messages:
                if message.error() is None:
                    out.append((message.value(), message.timestamp()[1], now))
    finally:
        consumer.close()
    return out


def plain_loop(bootstrap: str, inputs: list[str], output: str, count: int) -> float:
    """A consume -> orjson.loads -> produce loop, no state: events/s."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"plain-{uuid.uuid4().hex[:6]}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
        }
    )
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 2, "enable.idempotence": True})
    consumer.subscribe(inputs)
    seen = 0
    started = None
    try:
        while seen < count:
            for message in consumer.consume(2000, 0.1):
                if message.error() is not None:
                    continue
                if started is None:
                    started = time.perf_counter()
                event = orjson.loads(message.value())
                producer.produce(output, orjson.dumps({"event": event["id"]}), message.key())
                seen += 1
            producer.poll(0)
        producer.flush(60)
    finally:
        consumer.close()
    assert started is not None
    return count / (time.perf_counter() - started)


def isolated_env(bootstrap: str, data: Path, config: Path, **extra: str) -> dict[str, str]:
    run = uuid.uuid4().hex[:8]
    env = {k: v for k, v in os.environ.items() if not k.startswith("REACTOR_")}
    env.update(
        KAFKA_BOOTSTRAP_SERVERS=bootstrap,
        REACTOR_CONFIG=str(config),
        REACTOR_APP_ID=f"bench-{run}",
        REACTOR_INSTANCE_ID=f"bench-{run}",
        REACTOR_PROFILE_TOPIC=f"{run}.profile.updated",
        REACTOR_TRANSACTION_TOPIC=f"{run}.transaction.created",
        REACTOR_REDEMPTION_TOPIC=f"{run}.incentive.redeemed",
        REACTOR_ACTIONS_TOPIC=f"{run}.reactor.actions",
        REACTOR_DLQ_TOPIC=f"{run}.reactor.dlq",
        REACTOR_DELIVERIES_DLQ_TOPIC=f"{run}.deliveries.dlq",
        REACTOR_DELIVERIES_RETRY_TOPIC=f"{run}.deliveries.retry",
        REACTOR_DATA_DIR=str(data / run),
        REACTOR_DELIVER="false",
        REACTOR_LOG_LEVEL=os.environ.get("BENCH_WORKER_LOG_LEVEL", "warning"),
        REACTOR_WEB_PORT=str(free_port()),
    )
    env.update(extra)
    return env


def topics_of(env: dict[str, str]) -> dict[str, str]:
    return {
        "profile.updated": env["REACTOR_PROFILE_TOPIC"],
        "profile.deleted": env["REACTOR_PROFILE_TOPIC"],
        "transaction.created": env["REACTOR_TRANSACTION_TOPIC"],
    }


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    import urllib.error
    import urllib.request

    with open(log, "ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "reactor", "worker"], env=env, stdout=out, stderr=out)
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(
                f"http://127.0.0.1:{env['REACTOR_WEB_PORT']}/healthz", timeout=2
            ) as r:
                if orjson.loads(r.read()).get("ready"):
                    return proc
        except (urllib.error.URLError, OSError):
            pass
        if proc.poll() is not None:
            raise SystemExit(f"worker exited: {log.read_text()[-2000:]}")
        time.sleep(0.2)
    raise SystemExit("worker not ready")


def replay_rate(config: Path, events_file: Path, count: int) -> tuple[float, int]:
    started = time.perf_counter()
    with open(events_file, "rb") as stdin:
        done = subprocess.run(
            [sys.executable, "-m", "reactor", "replay", "--config", str(config), "-"],
            stdin=stdin,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            check=False,
        )
    elapsed = time.perf_counter() - started
    summary = orjson.loads(done.stderr.splitlines()[-1])["summary"]
    return count / elapsed, int(summary["actions"])


def latency(
    bootstrap: str, data: Path, config: Path, guarantee: str, args: argparse.Namespace
) -> tuple[float, float, int]:
    env = isolated_env(bootstrap, data, config, REACTOR_PROCESSING_GUARANTEE=guarantee)
    create_topics(bootstrap, list(dict.fromkeys(topics_of(env).values())))
    proc = start_worker(env, data / f"latency-{guarantee}.log")
    try:
        lines = recent_events(int(args.rate * args.seconds), 2000, seed=11)
        received: list[Any] = []
        reader = threading.Thread(
            target=lambda: received.extend(
                read_actions(bootstrap, env["REACTOR_ACTIONS_TOPIC"], 10**9, args.seconds + 8)
            )
        )
        reader.start()
        time.sleep(1.0)
        sent = produce(bootstrap, topics_of(env), lines, rate=args.rate)
        reader.join()
    finally:
        proc.terminate()
        proc.wait(30)
    delays = sorted(
        (got - sent[orjson.loads(value)["event_id"]]) * 1000
        for value, _, got in received
        if orjson.loads(value)["event_id"] in sent
    )
    return statistics.median(delays), delays[int(len(delays) * 0.99) - 1], len(delays)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rate", type=float, default=1000.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--latency-only", action="store_true", help="skip the throughput runs")
    parser.add_argument("--throughput-only", action="store_true", help="skip the latency runs")
    args = parser.parse_args()
    if args.latency_only:
        with ExitStack() as stack:
            bootstrap = os.environ["KAFKA_BOOTSTRAP_SERVERS"]
            data = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            config = no_automations(data / "config")
            for guarantee in ("exactly_once", "at_least_once"):
                p50, p99, n = latency(bootstrap, data, config, guarantee, args)
                print(f"  {guarantee}: p50 {p50:.0f} ms, p99 {p99:.0f} ms ({n} actions)")
        return

    with ExitStack() as stack:
        bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        if not bootstrap:
            from broker import KafkaBroker

            broker = stack.enter_context(KafkaBroker())
            bootstrap = broker.bootstrap
        data = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        config = no_automations(data / "config")
        lines = recent_events(args.events, max(args.events // 10, 1))
        events_file = data / "events.jsonl"
        events_file.write_bytes(b"\n".join(lines) + b"\n")

        # 1. The core alone: `reactor replay` on the same file.
        replay, expected = replay_rate(config, events_file, args.events)

        # 2. The ceiling: a plain confluent-kafka loop over the same events.
        run = uuid.uuid4().hex[:6]
        plain_topics = {
            "profile.updated": f"{run}.p",
            "profile.deleted": f"{run}.p",
            "transaction.created": f"{run}.t",
        }
        create_topics(bootstrap, [f"{run}.p", f"{run}.t", f"{run}.out"])
        produce(bootstrap, plain_topics, lines)
        plain = plain_loop(bootstrap, [f"{run}.p", f"{run}.t"], f"{run}.out", args.events)

        # 3. One reactor worker on a backlog of the same events.
        env = isolated_env(bootstrap, data, config)
        create_topics(bootstrap, list(dict.fromkeys(topics_of(env).values())))
        produce(bootstrap, topics_of(env), lines)
        proc = start_worker(env, data / "worker.log")
        try:
            actions = read_actions(bootstrap, env["REACTOR_ACTIONS_TOPIC"], expected, 600)
        finally:
            proc.terminate()
            proc.wait(30)
        stamps = sorted(ts for _, ts, _ in actions)
        worker = args.events / ((stamps[-1] - stamps[0]) / 1000)

        # 4. Latency at a steady rate, for each guarantee.
        skipped = (float("nan"), float("nan"), 0)
        eos = skipped if args.throughput_only else latency(bootstrap, data, config, "exactly_once", args)
        alo = skipped if args.throughput_only else latency(bootstrap, data, config, "at_least_once", args)

    print(
        f"worker benchmark: {args.events} events ({max(args.events // 10, 1)} profiles), {expected} actions, "
        f"{PARTITIONS} partitions, one worker process (exactly_once, memory store), Python {sys.version.split()[0]}"
    )
    print(f"  reactor replay (the core alone, one process)        {replay:>10,.0f} events/s")
    print(f"  plain confluent-kafka consume-decode-produce loop   {plain:>10,.0f} events/s  (the ceiling)")
    print(
        f"  reactor worker                                      {worker:>10,.0f} events/s  ({len(actions)} actions)"
    )
    print(
        f"  ratio worker / replay       {worker / replay:.2f}  (goal >= 0.8: {'met' if worker >= 0.8 * replay else 'not met'})"
    )
    print(f"  ratio worker / plain loop   {worker / plain:.2f}")
    print(f"  worker >= 10,000 events/s per process: {'met' if worker >= 10_000 else 'not met'}")
    for name, (p50, p99, n), goal in (("exactly_once", eos, 100), ("at_least_once", alo, 50)):
        print(
            f"  latency at {args.rate:,.0f} events/s for {args.seconds:g} s, {name:<13} ({n} actions): "
            f"p50 {p50:.0f} ms, p99 {p99:.0f} ms  (goal p99 <= {goal} ms: {'met' if p99 <= goal else 'not met'})"
        )


if __name__ == "__main__":
    main()
