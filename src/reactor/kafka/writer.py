"""Writing a batch: one Kafka transaction (exactly_once), or outputs, states
and offsets in that order (at_least_once).

The transactional producer's `transactional.id` is stable per worker
instance, so `init_transactions` fences this instance's predecessor and aborts
its open transaction at once. The input offsets go in with the consumer's
group metadata (KIP-447): a worker that lost its partitions cannot commit.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from reactor.kafka.batch import Batch, where
from reactor.kafka.errors import client_logger
from reactor.kafka.store import TICK_KEY
from reactor.settings import Settings
from reactor.state import ProfileState

__all__ = ["Changes", "Writer"]

log = logging.getLogger("reactor.worker")

#: profile id -> (its new state, or None to forget it; the state's JSON, or None for a tombstone)
Changes = dict[str, tuple[ProfileState | None, bytes | None]]


class Writer:
    """The worker's producer and what it knows of what it wrote."""

    def __init__(self, settings: Settings, stopping: threading.Event) -> None:
        self.settings = settings
        self.stopping = stopping
        self.exactly_once = settings.processing_guarantee == "exactly_once"
        self.changelog = settings.changelog_topic
        #: changelog partition -> the offset after the last record this worker wrote to it
        self.changelog_written: dict[int, int] = {}
        self._delivery_failed: KafkaError | None = None
        self.producer = self.new_producer()

    def new_producer(self) -> Producer:
        conf: dict[str, Any] = {
            "bootstrap.servers": self.settings.bootstrap_servers,
            "logger": client_logger(),
            "enable.idempotence": True,
            "acks": "all",
            "linger.ms": 2,
            "partitioner": "murmur2_random",  # the Java client's default, as upstream producers use
            "queue.buffering.max.messages": 500_000,
        }
        if self.exactly_once:
            conf["transactional.id"] = self.settings.transactional_id
            conf["transaction.timeout.ms"] = int(self.settings.transaction_timeout * 1000)
        producer = Producer(conf)
        if self.exactly_once:
            # Fences this instance's predecessor and aborts its open transaction.
            producer.init_transactions(max(30.0, self.settings.transaction_timeout * 3))
        return producer

    def write(self, batch: Batch, changes: Changes, consumer: Consumer) -> None:
        """Write the batch as the guarantee says; raises KafkaException if it was not."""
        if self.exactly_once:
            self.write_transaction(batch, changes, consumer)
        else:
            self.write_at_least_once(batch, changes, consumer)

    def close(self) -> None:
        self.producer.flush(5)

    def produce(
        self, topic: str, value: bytes | None, key: bytes | None, partition: int = -1, **kw: Any
    ) -> None:
        while True:
            try:
                self.producer.produce(topic, value, key, partition, **kw)
                return
            except BufferError:  # the local queue is full: let it drain
                self.producer.poll(0.05)

    def _produce_outputs(self, batch: Batch) -> None:
        dlq = self.settings.dlq_topic
        # In a transaction a refused record fails the commit; without one, its report must.
        report = None if self.exactly_once else self._output_delivered
        for profile_id, records in batch.outputs.items():
            for topic, value in records:
                self.produce(topic, value, profile_id.encode(), on_delivery=report)
        for letter_key, letter in batch.letters:
            self.produce(dlq, letter, letter_key, on_delivery=report)

    def _produce_states(self, batch: Batch, changes: Changes) -> None:
        # Per changelog partition, in order; the tick record last. Records of a
        # partition are delivered in order, so in a transaction (which fails
        # whole if one is refused) only the last one's report is needed, for
        # the offset the store holds; at_least_once needs every report.
        records: dict[int, list[tuple[bytes, bytes | None]]] = {}
        for profile_id, (_, raw) in changes.items():
            records.setdefault(batch.states[profile_id][0], []).append((profile_id.encode(), raw))
        for partition, tick in batch.ticks.items():
            records.setdefault(partition, []).append((TICK_KEY, tick))
        every = not self.exactly_once
        for partition, items in records.items():
            last = len(items) - 1
            for n, (key, value) in enumerate(items):
                if every or n == last:
                    self.produce(self.changelog, value, key, partition, on_delivery=self._delivered)
                else:
                    self.produce(self.changelog, value, key, partition)

    def _output_delivered(self, error: KafkaError | None, message: Message) -> None:
        if error is not None:
            self._delivery_failed = error

    def _delivered(self, error: KafkaError | None, message: Message) -> None:
        if error is None:
            _, partition, offset = where(message)
            offset += 1
            if offset > self.changelog_written.get(partition, 0):
                self.changelog_written[partition] = offset
        else:
            self._delivery_failed = error

    def _offsets(self, batch: Batch) -> list[TopicPartition]:
        return [TopicPartition(t, p, o) for (t, p), o in sorted(batch.offsets.items())]

    def write_transaction(self, batch: Batch, changes: Changes, consumer: Consumer) -> None:
        """One transaction: outputs, states, tick records and input offsets.
        Raises KafkaException when it did not commit (it is aborted then)."""
        producer = self.producer
        try:
            producer.begin_transaction()
            self._produce_outputs(batch)
            self._produce_states(batch, changes)
            offsets = self._offsets(batch)
            if offsets:
                producer.send_offsets_to_transaction(
                    offsets, consumer.consumer_group_metadata(), self.settings.transaction_timeout
                )
            self._commit_transaction()
        except KafkaException as exc:
            self._abort(exc.args[0])
            raise

    def _commit_transaction(self) -> None:
        for _ in range(5):
            try:
                self.producer.commit_transaction(self.settings.transaction_timeout * 2)
                return
            except KafkaException as exc:
                error: KafkaError = exc.args[0]
                if not error.retriable() or error.txn_requires_abort() or error.fatal():
                    raise
                log.warning("commit of a transaction failed, trying again: %s", error.str())
        self.producer.commit_transaction(self.settings.transaction_timeout * 2)

    def _abort(self, error: KafkaError) -> None:
        if error.fatal():
            # Fenced (a newer producer with this transactional.id, or the broker
            # aborted a transaction that stayed open too long): start a new one.
            log.error("producer fenced or failed (%s): starting a new one", error.str())
            with contextlib.suppress(KafkaException):
                self.producer.flush(1)
            self.producer = self.new_producer()
            return
        try:
            self.producer.abort_transaction(self.settings.transaction_timeout * 2)
        except KafkaException as exc:
            log.error("abort failed (%s): starting a new producer", exc.args[0].str())
            self.producer = self.new_producer()

    def write_at_least_once(self, batch: Batch, changes: Changes, consumer: Consumer) -> None:
        """Raises KafkaException when something was not acknowledged (the
        offsets are not committed then)."""
        # Outputs first, acknowledged; then states; then offsets. A crash
        # between re-runs the batch and re-sends identical actions; a state is
        # never ahead of the actions it implies.
        self._delivery_failed = None
        self._produce_outputs(batch)
        self._flush()
        self._produce_states(batch, changes)
        self._flush()
        offsets = self._offsets(batch)
        if offsets:
            consumer.commit(offsets=offsets, asynchronous=False)

    def _flush(self) -> None:
        while self.producer.flush(1.0) > 0:
            if self.stopping.is_set():
                raise KafkaException(KafkaError(KafkaError._TIMED_OUT, "stopping with messages unsent"))
        failed = self._delivery_failed
        if failed is not None:
            self._delivery_failed = None
            raise KafkaException(failed)
