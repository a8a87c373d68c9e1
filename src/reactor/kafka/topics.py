"""The topics a deployment needs, checked and created before the worker starts.

The input topics and the state changelog must have the same partition count
(partition P of each belongs to the same worker, with the range assignor);
the changelog must be compacted. A missing topic is created; existing topics
that disagree make the worker refuse to start, naming them.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import (  # type: ignore[attr-defined]  # re-exported, not in __all__
    AdminClient,
    ConfigResource,
    NewTopic,
)

from reactor.errors import TopicError
from reactor.kafka.errors import BrokerUnavailable, check_reachable, client_logger
from reactor.settings import Settings

__all__ = [
    "TopicError",
    "admin_client",
    "ensure_topics",
    "max_message_bytes",
    "partition_counts",
    "topic_config",
]

#: Broker default of `max.message.bytes` (1 MiB plus record batch overhead).
BROKER_DEFAULT_MAX_MESSAGE = 1_048_588


def admin_client(settings: Settings) -> AdminClient:
    conf: dict[str, Any] = {"bootstrap.servers": settings.bootstrap_servers, "logger": client_logger()}
    return AdminClient(conf)


def partition_counts(admin: AdminClient, topics: Sequence[str], timeout: float = 10.0) -> dict[str, int]:
    """Partition counts of the topics that exist."""
    try:
        metadata = admin.list_topics(timeout=timeout)
    except KafkaException as exc:
        raise BrokerUnavailable(f"cannot list topics: {exc.args[0].str()}") from None
    return {
        name: len(metadata.topics[name].partitions)
        for name in topics
        if name in metadata.topics and metadata.topics[name].error is None
    }


def ensure_topics(settings: Settings, admin: AdminClient | None = None) -> int:
    """Create missing topics and return the partition count every co-partitioned
    topic shares: that of the existing input topics, else `settings.partitions`.

    Raises TopicError when existing topics disagree or cannot be created, and
    BrokerUnavailable when no broker answers."""
    admin = admin or admin_client(settings)
    check_reachable(admin, settings.bootstrap_servers, settings.connect_timeout)
    inputs = list(settings.input_topics)
    changelog = settings.changelog_topic
    copartitioned = [*inputs, changelog]
    others = [
        settings.actions_topic,
        settings.dlq_topic,
        settings.deliveries_dlq_topic,
        settings.deliveries_retry_topic,
    ]
    existing = partition_counts(admin, copartitioned + others)
    found = {t: existing[t] for t in inputs if t in existing}
    if len(set(found.values())) > 1:
        raise TopicError(f"input topics have different partition counts: {found}")
    partitions = next(iter(found.values()), settings.partitions)
    if changelog in existing and existing[changelog] != partitions:
        raise TopicError(
            f"the state changelog {changelog} has {existing[changelog]} partitions, the input topics "
            f"{partitions}: they must agree (partition P of each is one worker's); recreate one of them"
        )
    missing = [t for t in copartitioned + others if t not in existing]
    if missing:
        create(admin, settings, missing, partitions)
    return partitions


def create(admin: AdminClient, settings: Settings, names: Sequence[str], partitions: int) -> None:
    """Create topics (the changelog compacted); a topic created meanwhile by
    another worker is fine. Waits until they show in the metadata."""
    new = []
    for name in names:
        config = {"cleanup.policy": "compact"} if name == settings.changelog_topic else {}
        new.append(NewTopic(name, partitions, settings.replication_factor, config=config))
    errors = []
    for name, future in admin.create_topics(new, request_timeout=15).items():
        try:
            future.result()
        except KafkaException as exc:
            error: KafkaError = exc.args[0]
            if error.code() != KafkaError.TOPIC_ALREADY_EXISTS:
                errors.append(f"{name}: {error.str()}")
    if errors:
        raise TopicError(f"cannot create topics on {settings.bootstrap_servers}: {'; '.join(errors)}")
    deadline = time.monotonic() + 15
    while len(partition_counts(admin, names)) < len(names) and time.monotonic() < deadline:
        time.sleep(0.1)


def topic_config(admin: AdminClient, topic: str, name: str, default: float) -> float:
    """A numeric setting of a topic (as the broker reports it), or `default`."""
    try:
        futures = admin.describe_configs([ConfigResource(ConfigResource.Type.TOPIC, topic)])
        for future in futures.values():
            entry = future.result(timeout=10).get(name)
            if entry is not None and entry.value is not None:
                return float(entry.value)
    except (KafkaException, ValueError, TypeError):
        pass
    return default


def max_message_bytes(admin: AdminClient, topic: str) -> int:
    """The topic's `max.message.bytes` (what the broker accepts in one record batch)."""
    return int(topic_config(admin, topic, "max.message.bytes", BROKER_DEFAULT_MAX_MESSAGE))
