"""`reactor publish`: send a JSON Lines file of events to Kafka.

Each line goes to the topic of its event type (transactions to theirs,
redemptions to theirs, everything else, deletions included, with the profile
updates), keyed by `profile_id` with the Java client's murmur2 partitioner, so
that one profile's events land on the same partition number of every input
topic. With `topic`, every line goes there as it is, even one that is not an
event, which is how the dead-letter path is exercised by hand.

Lines go in transactions of up to `CHUNK`, in file order, one after the other:
a read_committed consumer (the worker) sees a later line's records no sooner
than an earlier line's, on whichever topics they are, so the worker's
event-time merge meets the file's order even while publishing runs.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson
from confluent_kafka import KafkaError, KafkaException, Message, Producer
from confluent_kafka.admin import AdminClient

from reactor.kafka.errors import check_reachable, client_logger
from reactor.kafka.topics import TopicError
from reactor.settings import Settings

__all__ = ["CHUNK", "PublishResult", "publish"]

#: Lines per transaction.
CHUNK = 1000


@dataclass
class PublishResult:
    sent: int = 0
    by_topic: dict[str, int] = field(default_factory=dict)
    #: (line, reason) of lines that could not be routed to a topic or were refused.
    skipped: list[tuple[int, str]] = field(default_factory=list)


def _route(raw: bytes, settings: Settings) -> tuple[str, bytes | None]:
    """(topic, key) for one line; raises ValueError naming what is missing."""
    try:
        document = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON: {exc}") from None
    if not isinstance(document, dict):
        raise ValueError("not a JSON object")
    event_type, profile_id = document.get("type"), document.get("profile_id")
    if not isinstance(event_type, str):
        raise ValueError("no `type` to choose a topic by")
    key = profile_id.encode() if isinstance(profile_id, str) else None
    return settings.topic_for(event_type), key


def _key_of(raw: bytes) -> bytes | None:
    try:
        profile_id = orjson.loads(raw).get("profile_id")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return profile_id.encode() if isinstance(profile_id, str) else None


def publish(
    lines: Iterable[tuple[int, bytes]], settings: Settings, topic: str | None = None
) -> PublishResult:
    """Send each (line number, bytes); wait until Kafka has acknowledged all.
    Raises BrokerUnavailable when no broker answers, TopicError when Kafka
    refuses the records (a topic that does not exist and cannot be created)."""
    common: dict[str, Any] = {"bootstrap.servers": settings.bootstrap_servers, "logger": client_logger()}
    check_reachable(AdminClient(common), settings.bootstrap_servers, settings.connect_timeout)
    producer = Producer(
        {
            **common,
            "transactional.id": f"reactor-publish-{uuid.uuid4().hex}",  # one run, one producer
            "linger.ms": 5,
            "partitioner": "murmur2_random",
        }
    )
    producer.init_transactions(30)
    producer.begin_transaction()
    in_chunk = 0
    result = PublishResult()
    failures: list[tuple[int, str, KafkaError]] = []

    def report(number: int) -> Callable[[KafkaError | None, Message], None]:
        def delivered(error: KafkaError | None, message: Message) -> None:
            if error is not None:
                failures.append((number, str(message.topic()), error))

        return delivered

    for number, raw in lines:
        if topic is not None:
            target, key = topic, _key_of(raw)
        else:
            try:
                target, key = _route(raw, settings)
            except ValueError as exc:
                result.skipped.append((number, str(exc)))
                continue
        while True:
            try:
                producer.produce(target, raw, key, on_delivery=report(number))
                break
            except BufferError:
                producer.poll(0.1)
        producer.poll(0)
        result.sent += 1
        result.by_topic[target] = result.by_topic.get(target, 0) + 1
        in_chunk += 1
        if in_chunk >= CHUNK:
            _commit(producer, failures)
            producer.begin_transaction()
            in_chunk = 0
    _commit(producer, failures)
    return result


def _commit(producer: Producer, failures: list[tuple[int, str, KafkaError]]) -> None:
    """Commit the open transaction; raise TopicError naming the first refused line."""
    try:
        producer.commit_transaction(60)
    except KafkaException as exc:
        if not failures:
            raise TopicError(f"Kafka did not take the events: {exc.args[0].str()}") from None
    if failures:
        number, name, error = failures[0]
        raise TopicError(
            f"Kafka refused {len(failures)} events (first: line {number}, topic {name}: {error.str()})"
        )
