"""The distributed transport: the core on Kafka, in a consume → process → produce loop.

Kafka is the distributed engine (DESIGN.md "The worker"): the consumer group
shares the input partitions (range assignor, so partition P of every input
topic goes to one worker), a transaction makes a batch's outputs and its input
offsets one atomic write, and a compacted changelog holds the state. This
module writes the loop, not the guarantees. One iteration:

1. consume what is there (waiting for the first record, never for a full batch);
2. merge each partition's input topics in event-time order (`EventTimeMerge`);
3. run the core on each released event, with the batch's states held locally;
   a bad message, a key that is not the event's profile, or any exception in
   processing is that event's dead letter, and the old state is kept;
4. run the time-driven work of each owned partition whose tick is due (wall
   clock): expiries and automation ticks, each due time once, the last tick
   recorded in the changelog;
5. write it all: exactly_once, one transaction with the actions, dead
   letters, changed states (changelog partition P, tombstones on forget), tick
   records and the input offsets (`send_offsets_to_transaction` with the
   consumer's group metadata, KIP-447: a worker that lost its partitions is
   fenced); at_least_once, the outputs, then the states, then the offsets.
   Only after that are the local stores updated. A failed transaction is
   aborted and the partitions are read again from the last committed offsets.

Nothing is in flight while the consumer is polled, so a rebalance (which runs
inside `consume`) never meets an open transaction; an assigned partition is
restored from its changelog before it is processed.
"""

from __future__ import annotations

import bisect
import contextlib
import heapq
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from reactor.clock import format_instant, instant_from_canonical
from reactor.config import Config
from reactor.engine import Outcome, next_due, process, run_due, schedule_event
from reactor.errors import InvalidEvent
from reactor.events import Event, decode_event
from reactor.kafka.batch import Batch, Round, StateTooLarge, Work, processing_error, where
from reactor.kafka.errors import client_logger
from reactor.kafka.ordering import EventTimeMerge
from reactor.kafka.records import fit_dead_letter
from reactor.kafka.reload import ConfigWatcher
from reactor.kafka.restore import restore, restore_consumer
from reactor.kafka.store import PartitionStore, open_store
from reactor.kafka.writer import Changes, Writer
from reactor.metrics import Metrics
from reactor.replay import dead_letter
from reactor.settings import Settings
from reactor.state import ProfileState

__all__ = ["Worker"]

log = logging.getLogger("reactor.worker")

#: Seconds a due run of time-driven work waits at most for its partition's
#: backlog (CONTRACT §4: an expiry runs within 60 s of falling due).
POSTPONE_AT_MOST = 45.0

#: Bytes a record needs beyond its value in a record batch (key, headers, framing).
RECORD_OVERHEAD = 1024


def _wall_clock() -> str:
    return format_instant(datetime.now(UTC))


@dataclass
class _Partition:
    """An owned partition number: its store, expiry index and tick timer."""

    store: PartitionStore
    due: list[tuple[str, str]] = field(default_factory=list)  # heap of (due, profile id)
    current_due: dict[str, str] = field(default_factory=dict)
    next_tick: float = 0.0  # monotonic time of the next time-driven run
    postponed: float | None = None  # since when a due run waits for the inputs to catch up
    round: Round | None = None


class Worker:
    """One worker process's processing loop (delivery runs beside it, see `deliveries`)."""

    def __init__(self, settings: Settings, watcher: ConfigWatcher, partitions: int, metrics: Metrics) -> None:
        self.settings = settings
        self.watcher = watcher
        self.partitions = partitions
        self.metrics = metrics
        self.inputs = settings.input_topics
        self.changelog = settings.changelog_topic
        self.limit = 1_000_000 - RECORD_OVERHEAD  # set from the topics by `run_worker`
        self.delete_retention = 86400.0
        self.merge: EventTimeMerge[Message] = EventTimeMerge(
            self.inputs, settings.order_wait, settings.order_settle
        )
        self.owned: dict[int, _Partition] = {}
        self.kept: dict[int, PartitionStore] = {}  # stores of revoked partitions, until the next assignment
        #: input (topic, partition) -> next offset to process (as committed)
        self.positions: dict[tuple[str, int], int] = {}
        self.restoring = False
        self.rebalancing = True  # until the first assignment
        self.progress: dict[tuple[str, int], tuple[int, float]] = {}
        self.lags: dict[tuple[str, int], int] = {}
        self.stalled: list[str] = []
        self.loop_seen = time.monotonic()
        self.stopping = threading.Event()
        self.writer = Writer(settings, self.stopping)
        self.consumer = self._consumer()
        self.restorer = restore_consumer(settings)

    @property
    def config(self) -> Config:
        return self.watcher.config

    # --- clients -------------------------------------------------------------

    def _common(self) -> dict[str, Any]:
        return {"bootstrap.servers": self.settings.bootstrap_servers, "logger": client_logger()}

    def _consumer(self) -> Consumer:
        s = self.settings
        return Consumer(
            {
                **self._common(),
                "group.id": s.app_id,
                "group.instance.id": s.instance,
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "isolation.level": "read_committed",
                "partition.assignment.strategy": "range",
                "auto.offset.reset": "earliest",
                "session.timeout.ms": int(s.session_timeout * 1000),
                "heartbeat.interval.ms": max(100, int(s.session_timeout * 1000 / 3)),
                "fetch.wait.max.ms": 100,
            }
        )

    # --- the loop --------------------------------------------------------------

    def run(self) -> None:
        """Process until `stopping` is set, then leave the group cleanly."""
        self.consumer.subscribe(
            list(self.inputs), on_assign=self._on_assign, on_revoke=self._on_revoke, on_lost=self._on_lost
        )
        next_reload = time.monotonic() + self.settings.reload_interval
        next_lag = 0.0
        try:
            while not self.stopping.is_set():
                self.loop_seen = time.monotonic()
                self._iteration()
                now = time.monotonic()
                if now >= next_reload:
                    next_reload = now + self.settings.reload_interval
                    if self.watcher.check():
                        self._rebuild_due()
                if now >= next_lag:
                    next_lag = now + 1.0
                    self._measure_lag()
        finally:
            self._close()

    def _iteration(self) -> None:
        if any(owned.round is not None for owned in self.owned.values()):
            wait = 0.0  # a round of time-driven work goes on at once
        elif self.merge.holding:
            wait = min(0.05, max(0.002, self.settings.order_settle / 4))
        else:
            wait = 0.5
        messages = self.consumer.consume(1, wait)
        if messages:
            messages += self.consumer.consume(self.settings.batch_size - 1, 0)
        batch = Batch()
        for message in messages:
            self._receive(message, batch)
        drained = len(messages) < self.settings.batch_size
        caught_up, never_written = self._caught_up_now()
        released = self.merge.release(caught_up, time.monotonic(), drained, never_written)
        started = time.perf_counter()
        for message, payload in released:
            self._release(message, payload, batch)
        self._time_driven(batch, caught_up)
        if not batch.empty():
            self._write(batch)
        if released:
            per_event = (time.perf_counter() - started) / len(released)
            self.metrics.latency.observe(per_event)

    def _receive(self, message: Message, batch: Batch) -> None:
        error = message.error()
        if error is not None:
            if error.code() != KafkaError._PARTITION_EOF:
                log.warning("consumer: %s", error.str(), extra={"code": error.code()})
            return
        topic, partition, offset = where(message)
        if partition not in self.owned:
            return  # fetched before a revocation: Kafka delivers it again to the owner
        self.positions.setdefault((topic, partition), offset)
        occurred_at: str | None = None
        payload: Any
        try:
            event = decode_event(message.value() or b"")
            key = message.key()
            if key is None or key != event.profile_id.encode():
                payload = self._key_mismatch(key, event)
            else:
                payload, occurred_at = event, event.occurred_at
        except InvalidEvent as exc:
            self.metrics.child(self.metrics.rejects, exc.code).inc()
            self.metrics.child(self.metrics.events, "unknown", "rejected").inc()
            payload = exc.as_dict()
        except Exception as exc:
            payload = processing_error(exc)
        self.merge.add((topic, partition), message, occurred_at, payload, time.monotonic())

    def _key_mismatch(self, key: bytes | None, event: Event) -> dict[str, str]:
        self.metrics.child(self.metrics.rejects, "key_mismatch").inc()
        self.metrics.child(self.metrics.events, event.type, "rejected").inc()
        said = "no key" if key is None else f"key {key.decode('utf-8', 'replace')!r}"
        return {
            "code": "key_mismatch",
            "message": f"message has {said} but profile_id {event.profile_id!r}: "
            "its state would live on the wrong partition",
            "path": "profile_id",
        }

    def _caught_up_now(self) -> tuple[Callable[[str, int], bool], Callable[[str, int], bool]]:
        """Two questions about an input partition, for this iteration: has it
        nothing more in Kafka for now (its position has reached the high
        watermark, the last stable offset read committed, of the latest fetch,
        which on one broker is at least as recent as the fetch that brought
        any record held for it); and has it never held a record at all."""
        cache: dict[tuple[str, int], bool] = {}
        highs: dict[tuple[str, int], int] = {}

        def never_written(topic: str, partition: int) -> bool:
            caught_up(topic, partition)
            return highs.get((topic, partition)) == 0

        def caught_up(topic: str, partition: int) -> bool:
            tp = (topic, partition)
            if tp not in cache:
                ktp = TopicPartition(topic, partition)
                try:
                    low, high = self.consumer.get_watermark_offsets(ktp, cached=True)
                    (position,) = self.consumer.position([ktp])
                except KafkaException:
                    cache[tp] = False
                    return False
                highs[tp] = high
                offset = position.offset if position.offset >= 0 else self.positions.get(tp, -1)
                if high < 0:
                    cache[tp] = False  # not fetched yet: nothing known
                elif offset >= 0:
                    cache[tp] = offset >= high
                else:  # nothing received or committed: caught up if the partition is empty
                    cache[tp] = high == 0 or 0 <= high <= low
            return cache[tp]

        return caught_up, never_written

    # --- processing ------------------------------------------------------------

    def _release(self, message: Message, payload: Any, batch: Batch) -> None:
        topic, partition, offset = where(message)
        batch.offsets[(topic, partition)] = offset + 1
        if isinstance(payload, Event):
            self._run(Work("event", payload, message), payload.profile_id, partition, batch)
        else:
            self._letter(payload, message, batch)

    def _source(self, message: Message) -> dict[str, Any]:
        return {"topic": message.topic(), "partition": message.partition(), "offset": message.offset()}

    def _letter(
        self, error: dict[str, Any], message: Message, batch: Batch, reaction: str | None = None
    ) -> None:
        raw = message.value() or b""
        record = dead_letter(error, self._source(message), raw, reaction)
        batch.letters.append((message.key(), fit_dead_letter(record, raw, self.limit)))

    def _state_of(self, profile_id: str, partition: int, batch: Batch) -> ProfileState | None:
        held = batch.states.get(profile_id)
        if held is not None:
            return held[1]
        return self.owned[partition].store.get(profile_id)

    def _run(self, work: Work, profile_id: str, partition: int, batch: Batch) -> None:
        """Run one item for one profile; an exception dead-letters it and keeps the state."""
        state = self._state_of(profile_id, partition, batch)
        if profile_id not in batch.started:
            batch.started[profile_id] = (state, [])
        try:
            outcome, records = self._outcome(work, state, profile_id)
        except Exception as exc:
            self._failed(work, exc, batch)
            return
        batch.started[profile_id][1].append(work)
        if work.kind == "event" and work.event is not None:
            self.metrics.child(
                self.metrics.events,
                work.event.type,
                "rejected" if outcome.rejected is not None else outcome.skipped or "processed",
            ).inc()
        self._keep(outcome, records, profile_id, partition, batch)

    def _outcome(
        self, work: Work, state: ProfileState | None, profile_id: str
    ) -> tuple[Outcome, list[tuple[str, bytes]]]:
        config = self.config
        if work.kind == "expiry":
            assert state is not None
            outcome = run_due(state, config, work.until)
        else:
            assert work.event is not None
            outcome = process(work.event, state, config)
        records: list[tuple[str, bytes]] = []
        if outcome.rejected is not None:  # a redemption that cannot be done: invalid input
            self.metrics.child(self.metrics.rejects, outcome.rejected["code"]).inc()
            raw, source = self._raw_and_source(work)
            letter = dead_letter(outcome.rejected, source, raw)
            records.append((self.settings.dlq_topic, fit_dead_letter(letter, raw, self.limit)))
            return outcome, records
        actions_topic = self.settings.actions_topic
        for action in outcome.actions:
            value = action.to_json()
            if len(value) > self.limit:
                raise ValueError(
                    f"a {action.type} action of {len(value)} bytes is larger than {actions_topic} accepts"
                )
            records.append((actions_topic, value))
        if outcome.failures:
            raw, source = self._raw_and_source(work)
            for failure in outcome.failures:
                letter = dead_letter(failure.error(), source, raw, failure.reaction_id)
                records.append((self.settings.dlq_topic, fit_dead_letter(letter, raw, self.limit)))
        return outcome, records

    def _raw_and_source(self, work: Work) -> tuple[bytes, dict[str, Any]]:
        if work.message is not None:
            return work.message.value() or b"", self._source(work.message)
        event = work.event
        if event is not None:  # an automation tick
            automation = event.data.get("automation")
            raw = orjson.dumps(
                {
                    "id": event.id,
                    "type": event.type,
                    "occurred_at": event.occurred_at,
                    "profile_id": event.profile_id,
                }
            )
            return raw, {"automation": automation, "tick": event.occurred_at}
        return b"", {"expiry": work.until}

    def _keep(
        self,
        outcome: Outcome,
        records: list[tuple[str, bytes]],
        profile_id: str,
        partition: int,
        batch: Batch,
    ) -> None:
        state = outcome.state
        if state is not None:
            state.partition = partition
        batch.states[profile_id] = (partition, state)
        if records:
            batch.outputs.setdefault(profile_id, []).extend(records)
        self._index(partition, profile_id, state)
        metrics = self.metrics
        for action in outcome.actions:
            metrics.child(metrics.actions, action.type).inc()
        for failure in outcome.failures:
            metrics.child(metrics.rule_errors, failure.reaction_id, failure.code).inc()
        if outcome.limited_sends:
            metrics.limited_sends.inc(outcome.limited_sends)

    def _failed(self, work: Work, exc: Exception, batch: Batch) -> None:
        log.error(
            "processing failed: %s: %s",
            type(exc).__name__,
            exc,
            extra={"event_id": work.event.id if work.event else None, "kind": work.kind},
        )
        error = processing_error(exc)
        self.metrics.child(self.metrics.rejects, error["code"]).inc()
        if work.message is not None:
            self.metrics.child(
                self.metrics.events, work.event.type if work.event else "unknown", "failed"
            ).inc()
            self._letter(error, work.message, batch)
        else:  # time-driven work: a dead letter naming the tick, the profile keeps its state
            raw, source = self._raw_and_source(work)
            record = dead_letter(error, source, raw)
            key = work.event.profile_id.encode() if work.event else None
            batch.letters.append((key, fit_dead_letter(record, raw, self.limit)))

    # --- time-driven work --------------------------------------------------------

    def _index(self, partition: int, profile_id: str, state: ProfileState | None) -> None:
        owned = self.owned[partition]
        due = next_due(state, self.config) if state is not None else None
        if due is None:
            owned.current_due.pop(profile_id, None)
        elif owned.current_due.get(profile_id) != due:
            owned.current_due[profile_id] = due
            heapq.heappush(owned.due, (due, profile_id))

    def _rebuild_due(self) -> None:
        """Index every owned profile's next due time again (a new configuration
        or an aborted batch can move them)."""
        for owned in self.owned.values():
            owned.due, owned.current_due = [], {}
            for state in owned.store.states():
                due = next_due(state, self.config)
                if due is not None:
                    owned.current_due[state.profile_id] = due
                    owned.due.append((due, state.profile_id))
            heapq.heapify(owned.due)

    def _time_driven(self, batch: Batch, caught_up: Callable[[str, int], bool]) -> None:
        """Start a partition's round when its tick is due, and take every round
        in progress on by at most a batch's worth of profile runs.

        A due round waits (up to `POSTPONE_AT_MOST`) while the partition's
        inputs have records not yet processed: the wall clock is ahead of a
        backlog's event time, and a profile's due work must not run before
        its own earlier events (`process` runs what falls due before each of
        them, at its own time, so a backlog then gives replay's actions)."""
        budget = self.settings.batch_size
        now_mono = time.monotonic()
        for partition, owned in sorted(self.owned.items()):
            if owned.round is None:
                if now_mono < owned.next_tick:
                    continue
                behind = any(self.merge.queues.get((t, partition)) for t in self.inputs) or not all(
                    caught_up(t, partition) for t in self.inputs
                )
                if behind:
                    owned.postponed = owned.postponed or now_mono
                    if now_mono - owned.postponed < POSTPONE_AT_MOST:
                        continue
                owned.postponed = None
                owned.next_tick = now_mono + self.settings.tick_interval
                now = _wall_clock()
                last = Round.recorded(owned.store.tick)[0]
                if last is None:
                    last = now  # a first start does not run schedules that fell before it
                now = max(now, last)  # the wall clock went back: wait for it
                owned.round = Round(last, now, self._automation_ticks(last, now))
            budget = self._advance(partition, owned, owned.round, batch, budget)

    def _advance(self, partition: int, owned: _Partition, round_: Round, batch: Batch, budget: int) -> int:
        if round_.pending and budget <= 0:
            return budget  # the next batch takes it on
        while round_.pending and budget > 0:
            tick, automation_id = round_.pending[0]
            if round_.ids is None:
                self._expire(partition, owned, tick, batch)  # what fell due before this tick
                round_.ids = self._profile_ids(partition, batch)
            start = bisect.bisect_right(round_.ids, round_.after) if round_.after is not None else 0
            chunk = round_.ids[start : start + budget]
            if start == 0:
                self.metrics.ticks.labels("automation").inc()
            for profile_id in chunk:
                if self._state_of(profile_id, partition, batch) is not None:  # not forgotten since
                    event = schedule_event(automation_id, tick, profile_id)
                    self._run(Work("automation", event), profile_id, partition, batch)
            budget -= max(len(chunk), 1)
            if start + len(chunk) >= len(round_.ids):
                round_.pending.pop(0)
                round_.after, round_.ids = None, None
            else:
                round_.after = chunk[-1]
        if not round_.pending:
            self._expire(partition, owned, round_.goal, batch)
            owned.round = None
        batch.ticks[partition] = round_.record()
        return budget

    def _profile_ids(self, partition: int, batch: Batch) -> list[str]:
        """The partition's profiles, sorted, with this batch's changes."""
        profiles = set(self.owned[partition].store.profile_ids())
        for profile_id, (p, state) in batch.states.items():
            if p == partition:
                if state is None:
                    profiles.discard(profile_id)
                else:
                    profiles.add(profile_id)
        return sorted(profiles)

    def _automation_ticks(self, last: str, now: str) -> list[tuple[str, str]]:
        after, until = instant_from_canonical(last), instant_from_canonical(now)
        pending = sorted(
            (format_instant(moment), automation.priority, automation.id)
            for automation in self.config.automations.values()
            if automation.enabled and automation.schedule is not None
            for moment in automation.schedule.ticks_between(after, until)
        )
        return [(tick, automation_id) for tick, _, automation_id in pending]

    def _expire(self, partition: int, owned: _Partition, until: str, batch: Batch) -> None:
        while owned.due and owned.due[0][0] <= until:
            due, profile_id = heapq.heappop(owned.due)
            if owned.current_due.get(profile_id) != due:
                continue  # stale entry
            del owned.current_due[profile_id]
            if self._state_of(profile_id, partition, batch) is None:
                continue
            self.metrics.ticks.labels("expiry").inc()
            self._run(Work("expiry", until=until), profile_id, partition, batch)

    # --- writing ---------------------------------------------------------------------

    def _serialised(self, batch: Batch) -> Changes:
        """Each changed state as JSON, once per batch. A state that cannot be
        written (too large, a value JSON cannot hold) has its profile's items
        run again one by one, and the item that made it so is dead-lettered."""
        out: Changes = {}
        for profile_id in list(batch.states):
            state = batch.states[profile_id][1]
            try:
                out[profile_id] = (state, self._state_json(state))
            except Exception:
                self._redo(profile_id, batch)
                state = batch.states[profile_id][1]
                out[profile_id] = (state, self._state_json(state))
        return out

    def _state_json(self, state: ProfileState | None) -> bytes | None:
        if state is None:
            return None
        value = state.to_json()
        if len(value) > self.limit:
            raise StateTooLarge(
                f"the profile's state would be {len(value):,} bytes, more than {self.changelog}"
                f" accepts ({self.limit:,}): the event is not applied"
            )
        return value

    def _redo(self, profile_id: str, batch: Batch) -> None:
        partition = batch.states[profile_id][0]
        start, items = batch.started[profile_id]
        batch.outputs.pop(profile_id, None)
        if start is None:
            del batch.states[profile_id]
        else:
            batch.states[profile_id] = (partition, start)
        batch.started[profile_id] = (start, [])
        for work in items:
            before = batch.states.get(profile_id)
            kept = batch.outputs.get(profile_id, [])[:]
            self._run(work, profile_id, partition, batch)
            after = batch.states.get(profile_id)
            try:
                self._state_json(after[1] if after else None)
            except Exception as exc:
                if before is None:
                    batch.states.pop(profile_id, None)
                else:
                    batch.states[profile_id] = before
                batch.outputs[profile_id] = kept
                self._failed(work, exc, batch)
        if profile_id not in batch.states:
            batch.states[profile_id] = (partition, start)

    def _write(self, batch: Batch) -> None:
        changes = self._serialised(batch)
        try:
            self.writer.write(batch, changes, self.consumer)
        except KafkaException as exc:
            log.warning("batch not written, reading it again: %s", exc.args[0].str())
            self._rewind()
            return
        for partition, owned in self.owned.items():
            mine = {p: c for p, c in changes.items() if batch.states[p][0] == partition}
            tick = batch.ticks.get(partition)
            if mine or tick is not None:
                owned.store.commit(mine, tick, self.writer.changelog_written.get(partition, 0))
        for tp, offset in batch.offsets.items():
            self.positions[tp] = offset

    def _rewind(self) -> None:
        """After a batch that was not written: read every owned partition again
        from its last committed offset, and forget what the merge held."""
        self.merge.drop(lambda message: False)
        for (topic, partition), offset in list(self.positions.items()):
            try:
                self.consumer.seek(TopicPartition(topic, partition, offset))
            except KafkaException as exc:
                log.warning("cannot seek %s[%d] to %d: %s", topic, partition, offset, exc.args[0].str())
        for owned in self.owned.values():  # rounds in progress go back to what was committed
            owned.round = Round.recorded(owned.store.tick)[1]
        self._rebuild_due()

    # --- rebalancing ---------------------------------------------------------------

    def _on_assign(self, consumer: Consumer, assigned: list[TopicPartition]) -> None:
        numbers = sorted({tp.partition for tp in assigned})
        log.info("partitions assigned", extra={"partitions": numbers})
        self.restoring = True
        try:
            for partition in list(self.kept):
                if partition not in numbers:
                    self.kept.pop(partition).close()
            stores = {}
            for partition in numbers:
                store = self.kept.pop(partition, None) or open_store(
                    self.settings.store,
                    partition,
                    self.settings.data_dir / self.settings.instance,
                    self.settings.app_id,
                    self.delete_retention,
                )
                stores[partition] = store
            restore(self.restorer, self.changelog, stores, self.stopping)
            self.owned = {
                p: _Partition(store, round=Round.recorded(store.tick)[1]) for p, store in stores.items()
            }
            self._rebuild_due()
            self.progress.clear()
            self._committed_positions(assigned)
        finally:
            self.restoring = False
            self.rebalancing = False

    def _committed_positions(self, assigned: list[TopicPartition]) -> None:
        """Where each assigned input partition resumes (for lag and stalls
        before its first record arrives)."""
        try:
            committed = self.consumer.committed(assigned, timeout=5)
        except KafkaException:
            return  # known at the first record instead
        for tp in committed:
            if tp.offset >= 0:
                self.positions[(tp.topic, tp.partition)] = tp.offset

    def _on_revoke(self, consumer: Consumer, revoked: list[TopicPartition]) -> None:
        # Called inside consume(): no transaction is open (each batch commits
        # or aborts before the next poll), so there is nothing to finish.
        self.rebalancing = True
        numbers = {tp.partition for tp in revoked}
        self.merge.drop_partitions([(tp.topic, tp.partition) for tp in revoked])
        for tp in revoked:
            self.positions.pop((tp.topic, tp.partition), None)
            self.lags.pop((tp.topic, tp.partition), None)
        for partition in numbers:
            owned = self.owned.pop(partition, None)
            if owned is not None:
                self.kept[partition] = owned.store
        log.info("partitions revoked", extra={"partitions": sorted(numbers)})

    def _on_lost(self, consumer: Consumer, lost: list[TopicPartition]) -> None:
        log.warning("partitions lost (the group moved on without this worker)")
        self._on_revoke(consumer, lost)

    # --- health and lag ----------------------------------------------------------------

    def _measure_lag(self) -> None:
        now = time.monotonic()
        stalled = []
        for tp, position in list(self.positions.items()):
            ktp = TopicPartition(*tp)
            try:
                _, high = self.consumer.get_watermark_offsets(ktp, cached=True)
                (fetched,) = self.consumer.position([ktp])
            except KafkaException:
                continue
            if high < 0:
                continue
            # Records not yet handed to reactor, plus those the merge holds.
            # (The consumer's position steps over transaction markers; the
            # committed position, the offset after the last record, does not.)
            held = len(self.merge.queues.get(tp, ()))
            lag = max(0, high - fetched.offset) + held if fetched.offset >= 0 else max(0, high - position)
            self.lags[tp] = lag
            self.metrics.lag.labels(tp[0], str(tp[1])).set(lag)
            seen = self.progress.get(tp)
            if seen is None or seen[0] != position or lag == 0:
                self.progress[tp] = (position, now)
            elif now - seen[1] > self.settings.stall_timeout:
                stalled.append(f"{tp[0]}[{tp[1]}]")
        if stalled and stalled != self.stalled:
            log.error("no progress with records waiting", extra={"partitions": stalled})
            self.metrics.stalls.inc()
        self.stalled = stalled

    def health(self) -> dict[str, Any]:
        """/healthz: ready only when running with every owned partition moving."""
        state = "running"
        if self.restoring:
            state = "restoring"
        elif self.rebalancing:
            state = "rebalancing"
        elif self.stalled:
            state = "stalled"
        elif time.monotonic() - self.loop_seen > self.settings.stall_timeout:
            state = "stuck"
        body: dict[str, Any] = {
            "status": "ok",
            "ready": state == "running",
            "state": state,
            "config_version": self.config.version,
            "partitions": sorted(self.owned),
            "lag": sum(self.lags.values()),
        }
        if self.stalled:
            body["stalled"] = self.stalled
        return body

    def _close(self) -> None:
        with contextlib.suppress(KafkaException, RuntimeError):
            self.consumer.close()  # leaves the group: partitions move at once
        with contextlib.suppress(KafkaException, RuntimeError):
            self.restorer.close()
        for owned in self.owned.values():
            owned.store.close()
        for store in self.kept.values():
            store.close()
        self.writer.close()
