"""`reactor publish`: send a JSON Lines file of events to Kafka.

Each line goes to the topic of its event type (deletions go with profile
updates), keyed by `profile_id` so that one profile's events stay in order on
one partition. With `topic`, every line goes there as it is, even one that is
not an event, which is how the dead-letter path is exercised by hand.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import orjson
from aiokafka import AIOKafkaProducer

from reactor.settings import Settings

__all__ = ["PublishResult", "publish"]


@dataclass
class PublishResult:
    sent: int = 0
    by_topic: dict[str, int] = field(default_factory=dict)
    #: (line, reason) of lines that could not be routed to a topic.
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


async def publish(
    lines: Iterable[tuple[int, bytes]], settings: Settings, topic: str | None = None
) -> PublishResult:
    """Send each (line number, bytes); wait until Kafka has acknowledged all."""
    result = PublishResult()
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all", linger_ms=5)
    await producer.start()
    try:
        pending = []
        for number, raw in lines:
            if topic is not None:
                target, key = topic, _key_of(raw)
            else:
                try:
                    target, key = _route(raw, settings)
                except ValueError as exc:
                    result.skipped.append((number, str(exc)))
                    continue
            pending.append(await producer.send(target, raw, key=key))
            result.sent += 1
            result.by_topic[target] = result.by_topic.get(target, 0) + 1
        for future in pending:
            await future
    finally:
        await producer.stop()
    return result
