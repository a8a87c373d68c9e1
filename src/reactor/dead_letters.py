"""`reactor deliveries retry`: send again what is in the deliveries dead-letter topic.

After a fix on the platform's side, ops re-run the deliveries that failed.
A consumer group of its own remembers how far it got, so running the command
twice does not send the same dead letter twice; what fails again goes back to
the dead-letter topic as a new record.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from reactor.config import Config
from reactor.delivery import Deliverer, HttpxSender, deliver_all
from reactor.settings import Settings

__all__ = ["RetryResult", "retry_dead_letters"]


@dataclass
class RetryResult:
    read: int = 0
    skipped: int = 0
    counts: dict[str, int] = field(default_factory=lambda: {"delivered": 0, "dead_letter": 0})


async def retry_dead_letters(
    settings: Settings,
    config: Config,
    target: str | None = None,
    log: Callable[[str], None] = print,
    deliverer: Deliverer | None = None,
) -> RetryResult:
    """Read the deliveries DLQ up to its current end, deliver each action again
    (`target` only, if given), and commit how far it read."""
    topic = settings.deliveries_dlq_topic
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        group_id=f"{settings.app_id}-deliveries-retry",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    producer = AIOKafkaProducer(bootstrap_servers=settings.bootstrap_servers, acks="all")
    own_deliverer = deliverer is None
    deliverer = deliverer or Deliverer(HttpxSender())
    result = RetryResult()
    await consumer.start()
    await producer.start()
    try:
        partitions = consumer.partitions_for_topic(topic) or set()
        if not partitions:
            await consumer._client.force_metadata_update()  # a topic not yet subscribed to
            partitions = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        actions: list[dict[str, Any]] = []
        for tp in tps:
            committed = await consumer.committed(tp)
            if committed is None:
                await consumer.seek_to_beginning(tp)
            while await consumer.position(tp) < ends[tp]:
                batch = await consumer.getmany(tp, timeout_ms=1000)
                for message in batch.get(tp, []):
                    if message.offset >= ends[tp]:
                        break
                    result.read += 1
                    try:
                        action = orjson.loads(message.value)["action"]
                    except (orjson.JSONDecodeError, KeyError, TypeError):
                        result.skipped += 1
                        continue
                    if target is not None and action.get("target") != target:
                        result.skipped += 1
                        continue
                    actions.append(action)
        dead: list[dict[str, Any]] = []
        result.counts = await deliver_all(actions, config.targets, deliverer, dead.append)
        for letter in dead:
            await producer.send_and_wait(
                topic, orjson.dumps(letter), key=str(letter["action"].get("profile_id", "")).encode()
            )
        await consumer.commit({tp: ends[tp] for tp in tps})
        log(
            f"read {result.read} dead letters: {result.counts['delivered']} delivered, "
            f"{result.counts['dead_letter']} failed again, {result.skipped} skipped"
        )
    finally:
        await producer.stop()
        await asyncio.sleep(0)  # let the consumer's start-up tasks run before stopping it
        await consumer.stop()
        if own_deliverer and isinstance(deliverer.sender, HttpxSender):
            await deliverer.sender.aclose()
    return result
