"""Event-time order across co-partitioned input topics.

Kafka orders each topic partition, never two topics against each other; a
profile's snapshots and its transactions come on two topics. `EventTimeMerge`
puts one partition's events from every input topic back in event-time order,
as Kafka Streams does for co-partitioned inputs:

- each topic partition keeps its own order (its queue is first in, first out);
- the next event of a partition is the earliest head among its topics;
- it is taken only when every topic of the partition has an event waiting, or
  has nothing more in Kafka for now (so nothing earlier can still come), or
  when the partition has waited `max_idle` seconds for a topic that lags;
- events that could not be decoded go first: they have no time.

Pure bookkeeping (no Kafka import): the caller says what arrived, on which
topic partition, what is caught up, and when.
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Generic, TypeVar

__all__ = ["EventTimeMerge"]

M = TypeVar("M")


class EventTimeMerge(Generic[M]):
    def __init__(self, topics: Sequence[str], max_idle: float) -> None:
        self.topics = list(topics)
        self.max_idle = max_idle
        self.queues: dict[tuple[str, int], deque[tuple[M, str | None, Any]]] = defaultdict(deque)
        self.waiting_since: dict[int, float] = {}

    def add(self, tp: tuple[str, int], message: M, occurred_at: str | None, payload: Any = None) -> None:
        """A message as received on (topic, partition); `occurred_at` None if it has no event time."""
        self.queues[tp].append((message, occurred_at, payload))

    def release(self, caught_up: Callable[[str, int], bool], now: float) -> list[tuple[M, Any]]:
        """The (message, payload) pairs that may run now, in the order to run them."""
        out: list[tuple[M, Any]] = []
        for partition in sorted({p for (_, p), queue in self.queues.items() if queue}):
            queues = [(index, self.queues[(topic, partition)]) for index, topic in enumerate(self.topics)]
            while True:
                ready = [(index, queue) for index, queue in queues if queue]
                if not ready:
                    self.waiting_since.pop(partition, None)
                    break
                lagging = any(not queue and not caught_up(self.topics[i], partition) for i, queue in queues)
                if lagging:
                    since = self.waiting_since.setdefault(partition, now)
                    if now - since < self.max_idle:
                        break  # wait: an earlier event may still come on the lagging topic
                else:
                    self.waiting_since.pop(partition, None)
                _, queue = min(ready, key=lambda item: (item[1][0][1] or "", item[0]))
                message, _, payload = queue.popleft()
                out.append((message, payload))
        return out

    def drop(self, keep: Callable[[M], bool]) -> None:
        """Forget waiting messages for which `keep` is false (they will be
        fetched again: a rebalance, a revoked partition)."""
        for tp, queue in list(self.queues.items()):
            if any(not keep(item[0]) for item in queue):
                self.queues[tp] = deque(item for item in queue if keep(item[0]))

    def drop_partitions(self, tps: Iterable[tuple[str, int]]) -> None:
        for tp in tps:
            self.queues.pop(tp, None)

    def overdue(self, now: float) -> list[int]:
        """Partitions whose waiting passed `max_idle` (to wake their consumer)."""
        return [p for p, since in self.waiting_since.items() if now - since >= self.max_idle]
