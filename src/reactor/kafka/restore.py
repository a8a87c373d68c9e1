"""Restoring a partition's store from the state changelog, before it is processed.

The changelog is read with read_committed from the store's offset to the
partition's high watermark as of the assignment: that end includes any
transaction a previous owner left open, so restoring waits until it is
committed or aborted (at most the transaction timeout), and the store then
holds exactly what the committed input offsets say was processed.
"""

from __future__ import annotations

import logging
import threading
import time

from confluent_kafka import Consumer, KafkaException, TopicPartition

from reactor.kafka.batch import where
from reactor.kafka.errors import client_logger
from reactor.kafka.store import PartitionStore
from reactor.settings import Settings

__all__ = ["changelog_end", "restore", "restore_consumer"]

log = logging.getLogger("reactor.worker")


def restore_consumer(settings: Settings) -> Consumer:
    return Consumer(
        {
            "bootstrap.servers": settings.bootstrap_servers,
            "logger": client_logger(),
            "group.id": f"{settings.app_id}.restore",  # assign() only: never joins or commits
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
            "auto.offset.reset": "earliest",
        }
    )


def restore(
    restorer: Consumer, changelog: str, stores: dict[int, PartitionStore], stopping: threading.Event
) -> None:
    """Read each store's changelog partition from its offset to the end."""
    started = time.monotonic()
    ends = {}
    for partition, store in stores.items():
        high = changelog_end(restorer, changelog, partition, stopping)
        if store.changelog_offset < high:
            ends[partition] = high
    if not ends:
        return
    restorer.assign([TopicPartition(changelog, p, stores[p].changelog_offset) for p in ends])
    read = 0
    try:
        while ends:
            for message in restorer.consume(10_000, 0.2):
                if message.error() is None:
                    _, partition, offset = where(message)
                    stores[partition].restore(message.key(), message.value(), offset)
                    read += 1
            for partition in list(ends):
                (position,) = restorer.position([TopicPartition(changelog, partition)])
                if position.offset >= ends[partition]:
                    del ends[partition]
            if stopping.is_set():
                return
    finally:
        restorer.unassign()
    log.info(
        "restored from the changelog",
        extra={
            "records": read,
            "seconds": round(time.monotonic() - started, 3),
            "partitions": sorted(stores),
        },
    )


def changelog_end(restorer: Consumer, changelog: str, partition: int, stopping: threading.Event) -> int:
    """The changelog partition's high watermark, asked of the broker (a
    topic just created may have no leader yet for a moment)."""
    tp = TopicPartition(changelog, partition)
    deadline = time.monotonic() + 60
    while True:
        try:
            return int(restorer.get_watermark_offsets(tp, timeout=10, cached=False)[1])
        except KafkaException as exc:
            if time.monotonic() > deadline or stopping.is_set():
                raise
            log.info("waiting for the changelog: %s", exc.args[0].str())
            time.sleep(0.2)
