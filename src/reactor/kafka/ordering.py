"""Event-time order across co-partitioned input topics.

Kafka orders each topic partition, never two topics against each other; a
profile's snapshots and its transactions come on two topics. `EventTimeMerge`
puts one partition's events from every input topic back in event-time order,
as Kafka Streams does for co-partitioned inputs:

- each topic partition keeps its own order (its queue is first in, first out);
- the next event of a partition is the earliest head among its topics;
- it is taken only when every topic of the partition has an event waiting, or
  has nothing more in Kafka for now (so nothing earlier can still come) and
  the event has been here `settle` seconds, or when the partition has waited
  `max_idle` seconds for a topic that lags;
- events that could not be decoded go first: they have no time.

Why `settle`: "nothing more in Kafka for now" is judged from the latest
fetch, and records that became visible together (one producer transaction,
as `reactor publish` writes) do not become visible on every partition at the
same instant: the broker appends a transaction's commit markers partition by
partition, and a waiting fetch returns as soon as the first one lands. A few
milliseconds later the next fetch has seen them all. A producer that does not
use transactions can reorder its own records across partitions by more than
that (each partition's batch is sent on its own timer): for such producers
event-time order across topics is best effort, as in Kafka Streams.

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
    def __init__(self, topics: Sequence[str], max_idle: float, settle: float = 0.0) -> None:
        self.topics = list(topics)
        self.max_idle = max_idle
        self.settle = settle
        self.queues: dict[tuple[str, int], deque[tuple[M, str | None, Any, float]]] = defaultdict(deque)
        self.waiting_since: dict[int, float] = {}
        #: Partitions holding an event for `settle`, and since when (monotonic arrival).
        self.settling: dict[int, float] = {}

    def add(
        self,
        tp: tuple[str, int],
        message: M,
        occurred_at: str | None,
        payload: Any = None,
        arrived: float = 0.0,
    ) -> None:
        """A message as received on (topic, partition) at `arrived` (monotonic
        seconds); `occurred_at` None if it has no event time."""
        self.queues[tp].append((message, occurred_at, payload, arrived))

    @property
    def holding(self) -> bool:
        """Whether some partition holds events back (the caller polls sooner)."""
        return bool(self.waiting_since or self.settling)

    def release(
        self,
        caught_up: Callable[[str, int], bool],
        now: float,
        drained: bool = True,
        never_written: Callable[[str, int], bool] | None = None,
    ) -> list[tuple[M, Any]]:
        """The (message, payload) pairs that may run now, in the order to run them.

        `drained` says whether the caller has taken everything its client had
        received: if not, the records a partition waits for may be among those
        not yet taken, so the `max_idle` clock starts again. `never_written`
        names topic partitions that have never held a record (an input topic
        a deployment does not use): no event waits `settle` for those."""
        if not drained:
            for partition in self.waiting_since:
                self.waiting_since[partition] = now
        out: list[tuple[M, Any]] = []
        for partition in sorted({p for (_, p), queue in self.queues.items() if queue}):
            queues = [(index, self.queues[(topic, partition)]) for index, topic in enumerate(self.topics)]
            self.settling.pop(partition, None)
            while True:
                ready = [(index, queue) for index, queue in queues if queue]
                if not ready:
                    self.waiting_since.pop(partition, None)
                    break
                _, queue = min(ready, key=lambda item: (item[1][0][1] or "", item[0]))
                message, occurred_at, payload, arrived = queue[0]
                empty = [self.topics[i] for i, q in queues if not q] if occurred_at is not None else []
                lagging = [topic for topic in empty if not caught_up(topic, partition)]
                if lagging:
                    since = self.waiting_since.setdefault(partition, now)
                    if now - since < self.max_idle:
                        break  # wait: an earlier event may still come on the lagging topic
                else:
                    self.waiting_since.pop(partition, None)
                    settle_for = [
                        t for t in empty if never_written is None or not never_written(t, partition)
                    ]
                    if settle_for and now - arrived < self.settle:
                        self.settling[partition] = arrived
                        break  # the other topics' latest records may still be landing
                queue.popleft()
                out.append((message, payload))
        return out

    def drop(self, keep: Callable[[M], bool]) -> None:
        """Forget waiting messages for which `keep` is false (they will be
        fetched again: a rebalance, a revoked partition)."""
        for tp, queue in list(self.queues.items()):
            if any(not keep(item[0]) for item in queue):
                self.queues[tp] = deque(item for item in queue if keep(item[0]))
        if not any(self.queues.values()):
            self.waiting_since.clear()
            self.settling.clear()

    def drop_partitions(self, tps: Iterable[tuple[str, int]]) -> None:
        for tp in tps:
            self.queues.pop(tp, None)
            self.waiting_since.pop(tp[1], None)
            self.settling.pop(tp[1], None)

    def overdue(self, now: float) -> list[int]:
        """Partitions whose waiting passed `max_idle` (to wake their consumer)."""
        return [p for p, since in self.waiting_since.items() if now - since >= self.max_idle]
