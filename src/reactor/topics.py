"""The topics a deployment needs, checked and created before Faust starts.

Faust's table crash-loops (PartitionsMismatch) when its source topics and its
changelog disagree on partition counts, and consumes nothing from an input
topic that does not exist yet; aiokafka would auto-create a missing topic
with the broker's default partition count. So the worker first makes the
topics agree, or refuses to start naming the ones that do not.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from reactor.errors import TopicError
from reactor.settings import Settings

__all__ = ["TopicError", "ensure_topics"]


async def _partition_counts(admin: AIOKafkaAdminClient, topics: Sequence[str]) -> dict[str, int]:
    # describe_topics() asks with auto-creation on: only describe what exists.
    existing = set(await admin.list_topics())
    wanted = [t for t in topics if t in existing]
    if not wanted:
        return {}
    return {
        d["topic"]: len(d["partitions"]) for d in await admin.describe_topics(wanted) if d["error_code"] == 0
    }


async def ensure_topics(settings: Settings, internal: Sequence[str]) -> int:
    """Create missing topics and return the partition count every co-partitioned
    topic must share: that of the existing input topics, else `settings.partitions`.

    Raises TopicError when existing topics disagree, which would otherwise make
    Faust's table crash-loop (PartitionsMismatch).
    """
    inputs = list(settings.input_topics)
    copartitioned = [*inputs, *internal]
    others = [
        settings.actions_topic,
        settings.dlq_topic,
        settings.deliveries_dlq_topic,
        settings.deliveries_retry_topic,
    ]
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    await admin.start()
    try:
        existing = await _partition_counts(admin, copartitioned + others)
        found = {t: existing[t] for t in inputs if t in existing}
        if len(set(found.values())) > 1:
            raise TopicError(f"input topics have different partition counts: {found}")
        partitions = next(iter(found.values()), settings.partitions)
        wrong = {t: existing[t] for t in internal if t in existing and existing[t] != partitions}
        if wrong:
            raise TopicError(
                f"topics {wrong} must have {partitions} partitions like the input topics; "
                "delete them (the worker recreates them) or recreate the inputs"
            )
        missing = [t for t in copartitioned + others if t not in existing]
        if missing:
            response = await admin.create_topics(
                [NewTopic(t, partitions, settings.replication_factor) for t in missing]
            )
            # 36: created meanwhile by another worker
            errors = [(t, code, msg) for t, code, msg in response.topic_errors if code not in (0, 36)]
            if errors:
                raise TopicError(f"cannot create topics: {errors}")
            for _ in range(100):  # new topics take a moment to show in metadata
                if len(await _partition_counts(admin, missing)) == len(missing):
                    break
                await asyncio.sleep(0.1)
        return partitions
    finally:
        await admin.close()
