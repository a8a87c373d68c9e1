"""Worker benchmark: events/s end to end on a local broker, and latency.

Prints, from one run:

- throughput of one `reactor worker` (the bundled sample configuration) on a
  backlog of N events, against a plain aiokafka consume -> decode -> produce
  loop on the same kind of topics in the same run (the ceiling); rates are
  N / (last output's Kafka timestamp - first output's);
- event-to-action latency, p50 and p99, at a steady 1,000 events/s: the
  action's Kafka timestamp minus its event's.

Goals (issue #4): >= 0.5 of the ceiling; p99 < 50 ms.

    python benchmarks/worker.py [--events 20000] [--rate 1000] [--seconds 10]

Uses KAFKA_BOOTSTRAP_SERVERS if set, else starts a broker (tests/kafka/broker.py).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests" / "kafka"))
sys.path.insert(0, str(REPO / "benchmarks"))
sys.path.insert(0, str(REPO / "tests" / "e2e"))

PARTITIONS = 4


def events(count: int, profiles: int, seed: int = 7) -> list[bytes]:
    from core import generate_events

    return generate_events(count, profiles, random.Random(seed))


async def create_topics(bootstrap: str, names: list[str]) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(n, PARTITIONS, 1) for n in names])
    finally:
        await admin.close()


async def produce(
    bootstrap: str, topic_of: dict[str, str], lines: list[bytes], rate: float | None = None
) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5 if rate is None else 0, acks=1)
    await producer.start()
    try:
        started = time.perf_counter()
        pending = []
        for n, line in enumerate(lines):
            document = orjson.loads(line)
            pending.append(
                await producer.send(topic_of[document["type"]], line, key=document["profile_id"].encode())
            )
            if rate is not None:
                delay = started + (n + 1) / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
        await asyncio.gather(*pending)
    finally:
        await producer.stop()


async def read(bootstrap: str, topic: str, until: int, timeout: float) -> list[Any]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        group_id=None,
        enable_auto_commit=False,
    )
    await consumer.start()
    out: list[Any] = []
    try:
        deadline = time.monotonic() + timeout
        while len(out) < until and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500, max_records=5000)
            for messages in batch.values():
                out.extend(messages)
    finally:
        await asyncio.sleep(0)
        await consumer.stop()
    return out


async def plain_loop(bootstrap: str, inputs: list[str], output: str, count: int) -> None:
    """The ceiling: consume, decode, keep a dict of state, produce, commit."""
    consumer = AIOKafkaConsumer(
        *inputs,
        bootstrap_servers=bootstrap,
        group_id=f"plain-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_poll_records=2000,
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, acks=-1)
    await consumer.start()
    await producer.start()
    state: dict[bytes, int] = {}
    done = 0
    try:
        while done < count:
            batch = await consumer.getmany(timeout_ms=500)
            pending = []
            for messages in batch.values():
                for message in messages:
                    document = orjson.loads(message.value)
                    state[message.key] = state.get(message.key, 0) + 1
                    pending.append(
                        await producer.send(output, orjson.dumps({"id": document["id"]}), key=message.key)
                    )
                    done += 1
            if pending:
                await asyncio.gather(*pending)
                await consumer.commit()
    finally:
        await producer.stop()
        await asyncio.sleep(0)
        await consumer.stop()


def rate_of(messages: list[Any], count: int) -> float:
    stamps = sorted(m.timestamp for m in messages)
    return count / max((stamps[-1] - stamps[0]) / 1000, 1e-3)


def isolated_env(bootstrap: str, data: Path) -> dict[str, str]:
    """A deployment of its own (topics, group, web port), as the e2e tests use."""
    from harness import free_port, worker_env

    env = worker_env(
        bootstrap,
        data,
        REACTOR_LOG_LEVEL=os.environ.get("BENCH_WORKER_LOG_LEVEL", "warning"),
        REACTOR_TICK_INTERVAL="15",
        REACTOR_SESSION_TIMEOUT="10",
        REACTOR_ORDER_WAIT=os.environ.get("BENCH_ORDER_WAIT", "0.2"),
    )
    env["REACTOR_WEB_PORT"] = str(free_port())
    return env


def start_worker(env: dict[str, str], log: Path) -> Any:
    from harness import WorkerProcess

    return WorkerProcess(env, log).start(ready_timeout=120)


def expected_actions(lines: list[bytes]) -> int:
    done = subprocess.run(
        [sys.executable, "-m", "reactor", "replay", "--config", str(REPO), "-"],
        input=b"\n".join(lines),
        capture_output=True,
        cwd=REPO,
    )
    return len([line for line in done.stdout.splitlines() if b'"reaction_id":"win-back"' not in line])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--profiles", type=int, default=2_000)
    parser.add_argument("--rate", type=float, default=1_000.0)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    with ExitStack() as stack:
        bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
        if not bootstrap:
            from broker import KafkaBroker

            broker = stack.enter_context(KafkaBroker())
            bootstrap = broker.bootstrap
        tmp = Path(os.environ.get("BENCH_TMP") or stack.enter_context(tempfile.TemporaryDirectory()))
        lines = events(args.events, args.profiles)
        wanted = expected_actions(lines)

        # 1. The ceiling: a plain aiokafka loop over the same events.
        run = uuid.uuid4().hex[:6]
        topic_of = {
            "profile.updated": f"{run}.p",
            "transaction.created": f"{run}.t",
            "profile.deleted": f"{run}.p",
        }
        asyncio.run(create_topics(bootstrap, [f"{run}.p", f"{run}.t", f"{run}.out"]))
        asyncio.run(produce(bootstrap, topic_of, lines))
        asyncio.run(plain_loop(bootstrap, [f"{run}.p", f"{run}.t"], f"{run}.out", len(lines)))
        plain = rate_of(asyncio.run(read(bootstrap, f"{run}.out", len(lines), 120)), len(lines))

        # 2. One reactor worker on a backlog of the same events.
        env = isolated_env(bootstrap, tmp)
        topic_of = {
            "profile.updated": env["REACTOR_PROFILE_TOPIC"],
            "transaction.created": env["REACTOR_TRANSACTION_TOPIC"],
            "profile.deleted": env["REACTOR_PROFILE_TOPIC"],
        }
        asyncio.run(create_topics(bootstrap, [topic_of["profile.updated"], topic_of["transaction.created"]]))
        asyncio.run(produce(bootstrap, topic_of, lines))
        worker = start_worker(env, tmp / "worker.log")
        try:
            actions = asyncio.run(read(bootstrap, env["REACTOR_ACTIONS_TOPIC"], wanted, 600))
        finally:
            worker.stop()
        reactor_rate = len(lines) / max(
            (max(a.timestamp for a in actions) - min(a.timestamp for a in actions)) / 1000, 1e-3
        )

        # 3. Latency at a steady rate, on fresh topics with a running worker.
        env = isolated_env(bootstrap, tmp)
        topic_of = {
            "profile.updated": env["REACTOR_PROFILE_TOPIC"],
            "transaction.created": env["REACTOR_TRANSACTION_TOPIC"],
            "profile.deleted": env["REACTOR_PROFILE_TOPIC"],
        }
        steady = events(int(args.rate * args.seconds), args.profiles, seed=11)
        worker = start_worker(env, tmp / "worker2.log")
        try:
            asyncio.run(produce(bootstrap, topic_of, steady, rate=args.rate))
            time.sleep(3)
            inputs = asyncio.run(read(bootstrap, topic_of["transaction.created"], 10**9, 10)) + asyncio.run(
                read(bootstrap, topic_of["profile.updated"], 10**9, 10)
            )
            outputs = asyncio.run(read(bootstrap, env["REACTOR_ACTIONS_TOPIC"], 10**9, 10))
        finally:
            worker.stop()
        sent_at = {orjson.loads(m.value)["id"]: m.timestamp for m in inputs}
        latencies = sorted(
            m.timestamp - sent_at[event_id]
            for m in outputs
            if (event_id := orjson.loads(m.value).get("event_id")) in sent_at
        )
    p50 = statistics.median(latencies)
    p99 = latencies[int(len(latencies) * 0.99) - 1]
    print(
        f"worker benchmark: {len(lines)} events ({args.profiles} profiles), {len(actions)} actions, "
        f"{PARTITIONS} partitions, one worker, Python {sys.version.split()[0]}"
    )
    print(f"  plain aiokafka consume-decode-produce loop {plain:>10,.0f} events/s  (the ceiling)")
    print(f"  reactor worker                              {reactor_rate:>10,.0f} events/s")
    print(f"  ratio reactor / ceiling                     {reactor_rate / plain:>10.3f}  (goal >= 0.5)")
    print(
        f"  latency at {args.rate:,.0f} events/s for {args.seconds:g} s ({len(latencies)} actions): "
        f"p50 {p50:.0f} ms, p99 {p99:.0f} ms  (goal p99 < 50 ms)"
    )


if __name__ == "__main__":
    main()
