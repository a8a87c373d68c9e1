"""The Kafka side of target delivery: reading actions, retries and dead letters.

`DeliveryService` reads `reactor.actions` with read_committed (so it never
sends an action of an aborted transaction) in a consumer group of its own
(`<app>.deliveries`), and the retry topic in another (`<app>.redeliveries`),
on one asyncio loop: each `target.send` gets an attempt (reactor.delivery);
a retryable failure becomes a record on the retry topic (durable: pending
retries survive a restart), a final one a dead letter. Offsets are committed
after a batch's attempts and the records they wrote are acknowledged, so a
crash repeats an attempt (with the same Idempotency-Key), never loses one.

`retry_dead_letters` is `reactor deliveries retry`: it sends again what the
dead-letter topic holds, once per run (its own group remembers how far it read).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from reactor.config import Config
from reactor.delivery import Deliverer, HttpxSender, dead_letter, deliver_all, retry_record, unknown_target
from reactor.kafka.errors import client_logger
from reactor.metrics import Metrics
from reactor.settings import Settings

__all__ = ["DeliveryService", "RetryResult", "retry_dead_letters"]

log = logging.getLogger("reactor.delivery")

#: Attempts in flight per consumer at most (each target also has its own `concurrency`).
BATCH = 200


def _consumer(settings: Settings, group: str, topic: str) -> Consumer:
    consumer = Consumer(
        {
            "bootstrap.servers": settings.bootstrap_servers,
            "logger": client_logger(),
            "group.id": group,
            # Static membership: a restarted worker takes its delivery back at once.
            "group.instance.id": f"{settings.instance}.{group}",
            "session.timeout.ms": int(settings.session_timeout * 1000),
            "heartbeat.interval.ms": max(100, int(settings.session_timeout * 1000 / 3)),
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
            "auto.offset.reset": "earliest",
            # A retry can wait minutes for its time (Retry-After up to an hour).
            "max.poll.interval.ms": 4 * 3600 * 1000,
        }
    )
    consumer.subscribe([topic])
    return consumer


class DeliveryService:
    """Delivers the `target.send` actions of `reactor.actions` until `stopping` is set."""

    def __init__(
        self,
        settings: Settings,
        config: Callable[[], Config],
        metrics: Metrics,
        deliverer: Deliverer | None = None,
    ) -> None:
        self.settings = settings
        self.config = config
        self.metrics = metrics
        self.deliverer = deliverer
        self.stopping = threading.Event()
        self.producer = Producer(
            {
                "bootstrap.servers": settings.bootstrap_servers,
                "logger": client_logger(),
                "enable.idempotence": True,
                "linger.ms": 5,
            }
        )

    def run(self) -> None:
        """Run on a new asyncio loop in the calling thread."""
        asyncio.run(self._main())

    def start_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, name="reactor-delivery", daemon=True)
        thread.start()
        return thread

    async def _main(self) -> None:
        sender = HttpxSender()
        self.deliverer = self.deliverer or Deliverer(sender)
        app = self.settings.app_id
        actions = _consumer(self.settings, f"{app}.deliveries", self.settings.actions_topic)
        retries = _consumer(self.settings, f"{app}.redeliveries", self.settings.deliveries_retry_topic)
        try:
            await asyncio.gather(self._read(actions, self._action), self._read(retries, self._retry))
        finally:
            for consumer in (actions, retries):
                consumer.close()
            self.producer.flush(10)
            await sender.aclose()

    async def _read(self, consumer: Consumer, handle: Callable[[Message], Any]) -> None:
        loop = asyncio.get_running_loop()
        while not self.stopping.is_set():
            messages = await loop.run_in_executor(None, consumer.consume, BATCH, 0.2)
            jobs = []
            for message in messages:
                error = message.error()
                if error is not None:
                    if error.code() != KafkaError._PARTITION_EOF:
                        log.warning("delivery consumer: %s", error.str())
                    continue
                jobs.append(handle(message))
            if not jobs:
                continue
            await asyncio.gather(*jobs)
            await loop.run_in_executor(None, self._flush)
            try:
                await loop.run_in_executor(None, lambda: consumer.commit(asynchronous=False))
            except KafkaException as exc:  # a rebalance: the next owner repeats the attempts
                log.warning("delivery offsets not committed: %s", exc.args[0].str())

    def _flush(self) -> None:
        while self.producer.flush(1.0) > 0:
            pass

    async def _action(self, message: Message) -> None:
        try:
            action = orjson.loads(message.value() or b"")
        except orjson.JSONDecodeError:
            return
        if isinstance(action, dict) and action.get("type") == "target.send":
            await self._attempt(action, [], message.key())

    async def _retry(self, message: Message) -> None:
        try:
            record = orjson.loads(message.value() or b"")
            action, attempts = record["action"], list(record["attempts"])
            wait = float(record["next_attempt_at"]) - time.time()
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            log.warning("ignoring a malformed retry record", extra={"offset": message.offset()})
            return
        while wait > 0 and not self.stopping.is_set():
            await asyncio.sleep(min(wait, 0.5))
            wait -= 0.5
        if self.stopping.is_set():
            # Not attempted: write it again, so that it is not lost with the offset.
            self._produce(self.settings.deliveries_retry_topic, message.key(), record)
            return
        await self._attempt(action, attempts, message.key())

    async def _attempt(
        self, action: dict[str, Any], previous: list[dict[str, Any]], key: bytes | None
    ) -> None:
        """One attempt; then done, a retry record (durable), or a dead letter."""
        assert self.deliverer is not None
        target_id = str(action.get("target"))
        target = self.config().targets.get(target_id)
        if target is None:
            outcome = unknown_target(target_id)
        else:
            started = time.perf_counter()
            outcome = await self.deliverer.attempt(action, target, len(previous) + 1)
            self.metrics.delivery_latency.labels(target_id).observe(time.perf_counter() - started)
        status = str(outcome.attempt.status or "error")
        self.metrics.delivery_attempts.labels(target_id, status).inc()
        attempts = [*previous, outcome.attempt.as_dict()]
        if outcome.kind == "delivered":
            self.metrics.deliveries.labels(target_id, "delivered").inc()
            log.info(
                "delivered", extra={"target": target_id, "url": _written_url(target), "action": action["id"]}
            )
        elif outcome.kind == "retry":
            self.metrics.deliveries.labels(target_id, "retry").inc()
            record = retry_record(action, attempts, outcome.wait)
            self._produce(self.settings.deliveries_retry_topic, key, record)
        else:
            self.metrics.deliveries.labels(target_id, "dead_letter").inc()
            self.metrics.deliveries_dlq.labels(target_id).inc()
            letter = dead_letter(action, target_id, outcome, attempts)
            log.warning(
                "delivery dead-lettered: %s",
                letter["error"]["message"],
                extra={"target": target_id, "url": _written_url(target), "action": action.get("id")},
            )
            self._produce(self.settings.deliveries_dlq_topic, key, letter)

    def _produce(self, topic: str, key: bytes | None, record: Mapping[str, Any]) -> None:
        while True:
            try:
                self.producer.produce(topic, orjson.dumps(record), key)
                return
            except BufferError:
                self.producer.poll(0.1)


def _written_url(target: Any) -> str | None:
    """The target's URL as written in the YAML (`${VAR}` unresolved): safe to log."""
    return None if target is None else str(target.spec.url)


@dataclass
class RetryResult:
    read: int = 0
    skipped: int = 0
    counts: dict[str, int] = field(default_factory=lambda: {"delivered": 0, "dead_letter": 0})


def retry_dead_letters(
    settings: Settings,
    config: Config,
    target: str | None = None,
    log: Callable[[str], None] = print,
    deliverer: Deliverer | None = None,
) -> RetryResult:
    """Read the deliveries DLQ up to its current end, deliver each action again
    (`target` only, if given), write what fails again back, and commit how far it read."""
    topic = settings.deliveries_dlq_topic
    common: dict[str, Any] = {"bootstrap.servers": settings.bootstrap_servers, "logger": client_logger()}
    consumer = Consumer(
        {
            **common,
            "group.id": f"{settings.app_id}-deliveries-retry",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
            "auto.offset.reset": "earliest",
        }
    )
    producer = Producer({**common, "enable.idempotence": True})
    result = RetryResult()
    try:
        metadata = consumer.list_topics(topic, timeout=10)
        partitions = sorted(metadata.topics[topic].partitions) if topic in metadata.topics else []
        tps = [TopicPartition(topic, p) for p in partitions]
        committed = consumer.committed(tps, timeout=10) if tps else []
        marks = {tp.partition: consumer.get_watermark_offsets(tp, timeout=10) for tp in tps}
        ends = {p: high for p, (_, high) in marks.items()}
        # Where this group left off, or the oldest record still kept.
        starts = {tp.partition: tp.offset if tp.offset >= 0 else marks[tp.partition][0] for tp in committed}
        wanted = [TopicPartition(topic, p, starts[p]) for p in partitions if starts[p] < ends[p]]
        actions = _read_until(consumer, wanted, ends, target, result)
        dead: list[dict[str, Any]] = []
        own = deliverer is None
        result.counts = asyncio.run(_deliver(actions, config, deliverer, dead.append, own))
        for letter in dead:
            key = str(letter["action"].get("profile_id", "")).encode()
            producer.produce(topic, orjson.dumps(letter), key)
        if producer.flush(30) > 0:
            raise KafkaException(KafkaError(KafkaError._TIMED_OUT, f"dead letters not written to {topic}"))
        done = [TopicPartition(topic, p, ends[p]) for p in partitions if ends[p] > starts[p]]
        if done:
            consumer.commit(offsets=done, asynchronous=False)
        log(
            f"read {result.read} dead letters: {result.counts['delivered']} delivered, "
            f"{result.counts['dead_letter']} failed again, {result.skipped} skipped"
        )
    finally:
        consumer.close()
    return result


def _read_until(
    consumer: Consumer,
    wanted: list[TopicPartition],
    ends: dict[int, int],
    target: str | None,
    result: RetryResult,
) -> list[dict[str, Any]]:
    actions: list[dict[str, Any]] = []
    if not wanted:
        return actions
    consumer.assign(wanted)
    pending = {tp.partition for tp in wanted}
    deadline = time.monotonic() + 60
    while pending and time.monotonic() < deadline:
        for message in consumer.consume(500, 0.5):
            partition, offset = message.partition(), message.offset()
            if message.error() is not None or partition is None or offset is None:
                continue
            if offset >= ends[partition]:
                continue
            result.read += 1
            try:
                action = orjson.loads(message.value() or b"")["action"]
            except (orjson.JSONDecodeError, KeyError, TypeError):
                result.skipped += 1
                continue
            if target is not None and action.get("target") != target:
                result.skipped += 1
                continue
            actions.append(action)
        for partition in list(pending):
            (position,) = consumer.position([TopicPartition(wanted[0].topic, partition)])
            if position.offset >= ends[partition]:
                pending.discard(partition)
    return actions


async def _deliver(
    actions: list[dict[str, Any]],
    config: Config,
    deliverer: Deliverer | None,
    on_dead: Callable[[dict[str, Any]], None],
    own: bool,
) -> dict[str, int]:
    sender = HttpxSender() if deliverer is None else None
    chosen = deliverer or Deliverer(sender)  # type: ignore[arg-type]
    try:
        return await deliver_all(actions, config.targets, chosen, on_dead)
    finally:
        if own and sender is not None:
            await sender.aclose()
