"""The distributed transport: the core on Kafka, with faust-streaming.

Kafka and Faust are the distributed engine: input topics are partitioned by
`profile_id`, one worker owns a partition at a time, profile state lives in a
Faust Table (changelog topic; memory or RocksDB store), and more workers share
the partitions. This is the only module that imports faust.

How one batch of input runs (the `react` agent, `take_events` batches):
1. each message is decoded and processed by the pure core, in order, with the
   states of this batch held locally; bad messages and failed reactions
   become dead letters with the original bytes, topic, partition and offset;
2. every action (and dead letter) of the batch is sent, and the batch waits
   until Kafka has acknowledged them all;
3. only then are the new states written to the table. A crash before (3)
   reprocesses the batch and re-sends the same actions with the same ids; a
   crash can never leave a state that says an event was handled while its
   actions were lost. This is at-least-once (see README: Faust's exactly-once
   mode does not cover agent output, so reactor does not offer it).

Time-driven work (status expiry, automations) follows the wall clock: the
leader sends a tick to every partition of `reactor.ticks` (co-partitioned
with the inputs) every `tick_interval` seconds; the same agent handles a tick
for partition P inside the stream, for the profiles of P, and records the
last tick per partition in a table, so a restart neither skips nor repeats one.

Delivery runs in its own agents (`deliver` on the actions topic, `redeliver`
on the retry topic), so a slow endpoint never holds up event processing.
"""

from __future__ import annotations

import asyncio
import logging
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import faust
import orjson
from aiohttp import web
from faust.streams import _current_event  # table writes are keyed by the event being handled
from faust.types import TP

from reactor.clock import format_instant, instant_from_canonical
from reactor.config import Config, load_config
from reactor.delivery import Attempt, Deliverer, DeliveryOutcome, HttpxSender, dead_letter
from reactor.engine import Outcome, next_due, process, run_due, schedule_event
from reactor.errors import ConfigError, InvalidEvent
from reactor.events import Event, decode_event
from reactor.metrics import Metrics, configure_logging
from reactor.ordering import EventTimeMerge
from reactor.replay import dead_letter as event_dead_letter
from reactor.settings import Settings
from reactor.state import ProfileState
from reactor.topics import TopicError, ensure_topics

__all__ = ["TopicError", "Worker", "ensure_topics", "run_worker"]

log = logging.getLogger("reactor.worker")

BATCH = 2000  # events per batch at most
BATCH_WITHIN = 0.01  # seconds to wait for a batch to fill
_RAW = {"key_type": bytes, "value_type": bytes, "key_serializer": "raw", "value_serializer": "raw"}


# --- the worker ------------------------------------------------------------------


def _now() -> str:
    return format_instant(datetime.now(UTC))


def _faust_broker(bootstrap: str) -> str:
    return ";".join(f"kafka://{host.strip()}" for host in bootstrap.split(",") if host.strip())


@dataclass
class _Batch:
    """What one batch decided: states to write (None: forget) with the event
    whose partition they belong to, and messages to send first."""

    states: dict[bytes, tuple[ProfileState | None, faust.EventT]] = field(default_factory=dict)
    sends: list[Any] = field(default_factory=list)


def _of_generation(generation: int) -> Callable[[Any], bool]:
    def keep(message: Any) -> bool:
        return bool(message.generation_id == generation)

    return keep


class Worker:
    """One reactor worker: a Faust app with its topics, tables and agents."""

    def __init__(self, settings: Settings, config: Config, partitions: int) -> None:
        self.settings = settings
        self.config = config
        self.partitions = partitions
        self.metrics = Metrics()
        self.metrics.set_config(config.version)
        self.deliverer = Deliverer(HttpxSender())
        # In memory, per partition this worker handles: profile -> next expiry.
        # Rebuilt from the table after a rebalance (see `_index_partition`).
        self._profiles: dict[int, dict[bytes, str | None]] = {}
        self._config_stamp = self._stamp()
        self._processed: dict[tuple[str, int], int] = {}
        self._merge: EventTimeMerge[Any] = EventTimeMerge(settings.input_topics, settings.order_wait)
        self._stalls: dict[tuple[str, int], tuple[tuple[int, int], int]] = {}
        self.app = self._build_app()

    # --- app ---------------------------------------------------------------

    def _build_app(self) -> faust.App:
        s = self.settings
        memory = s.store.startswith("memory")
        app = faust.App(
            s.app_id,
            env={},  # faust reads ~80 environment variables over its arguments: not here
            broker=_faust_broker(s.bootstrap_servers),
            store=s.store,
            datadir=str(s.data_dir),
            autodiscover=False,
            topic_partitions=self.partitions,
            topic_replication_factor=s.replication_factor,
            processing_guarantee="at_least_once",
            consumer_auto_offset_reset="earliest",
            table_standby_replicas=0 if memory else 1,  # a memory standby replays anyway
            broker_session_timeout=s.session_timeout,
            broker_heartbeat_interval=min(3.0, s.session_timeout / 3),
            broker_rebalance_timeout=max(20.0, s.session_timeout * 2),
            producer_linger=0.005,
            producer_acks=-1,
            producer_max_batch_size=262144,
            stream_buffer_maxsize=16384,
            broker_max_poll_records=2000,
            # Events held for event-time order (see `_Merge`) are acked later:
            # a rebalance or a stop must not wait for them (they are dropped and
            # fetched again from the committed offset).
            stream_wait_empty=False,
            web_enabled=True,
            web_port=s.web_port,
            web_bind=s.web_host,
            web_host=s.web_host,
            consumer_group_instance_id=s.instance_id,
        )
        self.inputs = app.topic(*s.input_topics, self._ticks_name(s), **_RAW)
        self.ticks_topic = app.topic(self._ticks_name(s), **_RAW)
        self.actions_topic = app.topic(s.actions_topic, **_RAW)
        self.dlq_topic = app.topic(s.dlq_topic, **_RAW)
        self.deliveries_dlq = app.topic(s.deliveries_dlq_topic, **_RAW)
        self.retry_topic = app.topic(s.deliveries_retry_topic, **_RAW)
        self.profiles = app.Table("profiles", partitions=self.partitions, key_type=bytes, value_type=bytes)
        self.ticks = app.Table("ticks", partitions=self.partitions, key_type=bytes, value_type=bytes)
        app.agent(self.inputs, name="react")(self._react)
        if s.deliver:
            app.agent(self.actions_topic, name="deliver")(self._deliver)
            app.agent(self.retry_topic, name="redeliver")(self._redeliver)
        app.timer(s.tick_interval, on_leader=True)(self._send_ticks)
        app.timer(s.reload_interval)(self._maybe_reload)
        app.timer(5.0)(self._measure_lag)
        app.timer(max(s.order_wait / 2, 0.05))(self._nudge)
        app.on_rebalance_complete.connect(self._on_rebalance)
        app.on_partitions_revoked.connect(self._on_revoked)
        app.web.web_app.router.add_get("/metrics", self._metrics_page)
        app.web.web_app.router.add_get("/healthz", self._health_page)
        return app

    @staticmethod
    def _ticks_name(settings: Settings) -> str:
        return f"{settings.app_id}.ticks"

    # --- processing --------------------------------------------------------------

    async def _react(self, stream: faust.StreamT) -> None:
        ticks_topic = self.ticks_topic.get_topic_name()
        async for events in stream.noack_take(BATCH, within=BATCH_WITHIN):
            batch = _Batch()
            ticks = []
            generation = self.app.consumer_generation_id
            # Messages fetched before a rebalance are Kafka's to deliver again
            # (to us or the new owner): drop them unprocessed and unacked, as
            # Faust's own streams do.
            self._merge.drop(_of_generation(generation))
            for event in events:
                if event.message.generation_id != generation:
                    continue
                if event.message.topic == ticks_topic:
                    ticks.append(event)
                else:
                    decoded = self._decode(event, batch)
                    occurred_at = decoded.occurred_at if decoded is not None else None
                    self._merge.add(event.message, occurred_at, (event, decoded))
            released = [pair for _, pair in self._merge.release(self._caught_up, time.monotonic())]
            if log.isEnabledFor(logging.DEBUG):
                self._log_batch(events, released, generation)
            for event, decoded in released:
                if decoded is not None:
                    self._on_event(decoded, event, batch)
            for event in ticks:
                self._on_tick(event, batch)
            await self._commit(batch)
            for event, _ in released:
                await stream.ack(event)
            for event in ticks:
                await stream.ack(event)

    @staticmethod
    def _log_batch(events: Sequence[Any], released: Sequence[Any], generation: int) -> None:
        """What each batch received and released (REACTOR_LOG_LEVEL=debug), to
        follow the event-time merge and Faust's delivery delay."""
        now_ms = time.time() * 1000
        log.debug(
            "batch",
            extra={
                "generation": generation,
                "delays_ms": [round(now_ms - e.message.timestamp * 1000) for e in events[:50]],
                "received": [(e.message.topic, e.message.partition, e.message.offset) for e in events],
                "released": [(e.message.topic, e.message.partition, e.message.offset) for e, _ in released],
            },
        )

    def _caught_up(self, topic: str, partition: int) -> bool:
        """Whether the agent has received everything Kafka holds for this
        input partition (so no earlier event of it can still come)."""
        tp = TP(topic, partition)
        try:
            highwater = self.app.consumer.highwater(tp)
        except Exception:  # not assigned, or not fetched yet
            return False
        if highwater is None:
            return False
        received = self._processed.get((topic, partition))
        if received is None:
            committed = self.app.consumer._committed_offset.get(tp)  # where this worker started
            return committed is not None and committed >= highwater
        return received + 1 >= highwater

    async def _nudge(self) -> None:
        """Wake the agent for partitions whose held events waited past the idle
        limit while a topic that seemed to lag sent nothing (see `_Merge`)."""
        for partition in self._merge.overdue(time.monotonic()):
            await self.ticks_topic.send(value=b'{"nudge":true}', partition=partition, force=True)

    @staticmethod
    def _source(event: faust.EventT) -> dict[str, Any]:
        message = event.message
        return {"topic": message.topic, "partition": message.partition, "offset": message.offset}

    def _decode(self, event: faust.EventT, batch: _Batch) -> Event | None:
        message = event.message
        self._processed[(message.topic, message.partition)] = message.offset
        raw: bytes = event.value if isinstance(event.value, bytes) else b""
        try:
            return decode_event(raw)
        except InvalidEvent as exc:
            self.metrics.rejects.labels(exc.code).inc()
            self.metrics.events.labels("unknown", "rejected").inc()
            record = event_dead_letter(exc.as_dict(), self._source(event), raw)
            batch.sends.append((self.dlq_topic, event.key, record))
            return None

    def _state(self, key: bytes, batch: _Batch) -> ProfileState | None:
        if key in batch.states:
            return batch.states[key][0]
        raw = self.profiles.get(key)
        return ProfileState.from_json(raw) if raw is not None else None

    def _on_event(self, decoded: Event, event: faust.EventT, batch: _Batch) -> None:
        raw: bytes = event.value
        source = self._source(event)
        started = time.perf_counter()
        key = decoded.profile_id.encode()
        try:
            outcome = process(decoded, self._state(key, batch), self.config)
        except Exception as exc:  # a bug must not stop the worker: dead-letter and go on
            log.exception("processing failed", extra={"event_id": decoded.id, **source})
            self.metrics.rejects.labels("internal_error").inc()
            error = {"code": "internal_error", "message": f"{type(exc).__name__}: {exc}", "path": ""}
            batch.sends.append((self.dlq_topic, event.key, event_dead_letter(error, source, raw)))
            return
        self.metrics.events.labels(decoded.type, outcome.skipped or "processed").inc()
        self._apply(outcome, key, event, batch, source, raw)
        self.metrics.latency.observe(time.perf_counter() - started)

    def _apply(
        self,
        outcome: Outcome,
        key: bytes,
        event: faust.EventT,
        batch: _Batch,
        source: dict[str, Any],
        raw: bytes,
    ) -> None:
        state = outcome.state
        partition = event.message.partition
        if state is not None:
            state.partition = partition
        batch.states[key] = (state, event)
        profiles = self._profiles.get(partition)
        if profiles is not None:
            if state is None:
                profiles.pop(key, None)
            else:
                profiles[key] = next_due(state, self.config)
        for action in outcome.actions:
            self.metrics.actions.labels(action.type).inc()
            batch.sends.append((self.actions_topic, key, action.as_dict()))
        for failure in outcome.failures:
            self.metrics.rule_errors.labels(failure.reaction_id, failure.code).inc()
            record = event_dead_letter(failure.error(), source, raw, failure.reaction_id)
            batch.sends.append((self.dlq_topic, key, record))
        if outcome.limited_sends:
            self.metrics.limited_sends.inc(outcome.limited_sends)

    async def _commit(self, batch: _Batch) -> None:
        """Send the batch's messages, wait for Kafka to have them all, then
        write the states (see the module docstring for why in this order)."""
        pending = [
            await topic.send(key=key, value=orjson.dumps(value), force=True)
            for topic, key, value in batch.sends
        ]
        if pending:
            await asyncio.gather(*pending)
        for key, (state, event) in batch.states.items():
            _current_event.set(weakref.ref(event))  # the partition this profile lives on
            if state is None:
                self.profiles.pop(key, None)
            else:
                self.profiles[key] = state.to_json()
        _current_event.set(None)

    # --- time-driven work ------------------------------------------------------------

    async def _send_ticks(self) -> None:
        """On the leader: a tick to every partition (co-partitioned with the inputs)."""
        tick = orjson.dumps({"at": _now()})
        for partition in range(self.partitions):
            await self.ticks_topic.send(value=tick, partition=partition, force=True)

    def _index_partition(self, partition: int, batch: _Batch) -> dict[bytes, str | None]:
        """The profiles of `partition` and their next expiry, built once per
        assignment by reading the table (states record their partition)."""
        profiles = self._profiles.get(partition)
        if profiles is None:
            profiles = {}
            for key, raw in self.profiles.items():
                stored = ProfileState.from_json(raw)
                if stored.partition == partition:
                    profiles[key] = next_due(stored, self.config)
            for key, (state, event) in batch.states.items():
                if event.message.partition == partition:
                    if state is None:
                        profiles.pop(key, None)
                    else:
                        profiles[key] = next_due(state, self.config)
            self._profiles[partition] = profiles
        return profiles

    def _on_tick(self, event: faust.EventT, batch: _Batch) -> None:
        message = event.message
        partition = message.partition
        try:
            document = orjson.loads(event.value)
            if document.get("nudge"):
                return  # only here to wake the agent (see `_nudge`)
            now = document["at"]
            instant_from_canonical(now)
        except (orjson.JSONDecodeError, AttributeError, KeyError, TypeError, ValueError):
            log.warning("ignoring a malformed tick", extra={"partition": partition, "offset": message.offset})
            return
        self._processed[(message.topic, partition)] = message.offset
        profiles = self._index_partition(partition, batch)
        tick_key = str(partition).encode()
        recorded = self.ticks.get(tick_key)
        last = orjson.loads(recorded)["at"] if recorded is not None else now
        if now <= last and recorded is not None:
            return  # an old or repeated tick
        source = {"topic": message.topic, "partition": partition, "offset": message.offset}
        due = sorted(k for k, expiry in profiles.items() if expiry is not None and expiry <= now)
        for key in due:
            state = self._state(key, batch)
            if state is not None:
                self._apply(run_due(state, self.config, now), key, event, batch, source, b"")
        self.metrics.ticks.labels("expiry").inc()
        self._run_automations(last, now, profiles, event, batch, source)
        _current_event.set(weakref.ref(event))
        self.ticks[tick_key] = orjson.dumps({"at": now})
        _current_event.set(None)

    def _run_automations(
        self,
        last: str,
        now: str,
        profiles: dict[bytes, str | None],
        event: faust.EventT,
        batch: _Batch,
        source: dict[str, Any],
    ) -> None:
        after, until = instant_from_canonical(last), instant_from_canonical(now)
        due = sorted(
            (format_instant(tick), automation.priority, automation.id)
            for automation in self.config.automations.values()
            if automation.enabled and automation.schedule is not None
            for tick in automation.schedule.ticks_between(after, until)
        )
        for tick, _, automation_id in due:
            self.metrics.ticks.labels("automation").inc()
            for key in sorted(profiles):
                state = self._state(key, batch)
                if state is None:
                    continue
                tick_event = schedule_event(automation_id, tick, state.profile_id)
                raw = orjson.dumps(
                    {
                        "id": tick_event.id,
                        "type": tick_event.type,
                        "occurred_at": tick,
                        "profile_id": state.profile_id,
                    }
                )
                self._apply(process(tick_event, state, self.config), key, event, batch, source, raw)

    async def _on_revoked(self, sender: Any = None, revoked: Any = (), **kwargs: Any) -> None:
        tps = [(tp.topic, tp.partition) for tp in revoked]
        self._merge.drop_partitions(tps)
        for tp in tps:
            self._processed.pop(tp, None)

    async def _on_rebalance(self, sender: Any = None, **kwargs: Any) -> None:
        # Partitions may have moved: the per-partition indexes are rebuilt on demand.
        self._profiles.clear()

    # --- configuration ----------------------------------------------------------------

    def _stamp(self) -> tuple[tuple[str, int, int], ...]:
        root = Path(self.settings.config)
        files = [
            p
            for folder in ("reactions", "targets")
            for p in sorted((root / folder).rglob("*"))
            if p.is_file()
        ]
        return tuple((str(p), p.stat().st_mtime_ns, p.stat().st_size) for p in files)

    async def _maybe_reload(self) -> None:
        """Swap in a changed configuration once it loads cleanly; otherwise log
        each problem (path:line:col) and keep the last good one."""
        stamp = self._stamp()
        if stamp == self._config_stamp:
            return
        self._config_stamp = stamp
        try:
            config = load_config(self.settings.config)
        except ConfigError as exc:
            self.metrics.reloads.labels("rejected").inc()
            for issue in exc.issues:
                log.error("configuration rejected: %s", issue, extra={"issue": str(issue)})
            log.error(
                "kept the running configuration %s",
                self.config.version,
                extra={"config_version": self.config.version},
            )
            return
        if config.version != self.config.version:
            self.config = config
            self.metrics.set_config(config.version)
            self.metrics.reloads.labels("loaded").inc()
            log.info("configuration %s loaded", config.version, extra={"config_version": config.version})

    # --- delivery ---------------------------------------------------------------------

    async def _deliver(self, stream: faust.StreamT) -> None:
        async for events in stream.take_events(100, within=0.05):
            jobs = []
            for event in events:
                try:
                    action = orjson.loads(event.value)
                except orjson.JSONDecodeError:
                    continue
                if isinstance(action, dict) and action.get("type") == "target.send":
                    jobs.append(self._attempt(action, [], event.key))
            if jobs:
                await asyncio.gather(*jobs)

    async def _redeliver(self, stream: faust.StreamT) -> None:
        async for events in stream.take_events(100, within=0.05):
            jobs = []
            for event in events:
                try:
                    record = orjson.loads(event.value)
                    jobs.append(self._retry_when_due(record, event.key))
                except (orjson.JSONDecodeError, KeyError, TypeError):
                    log.warning("ignoring a malformed retry record")
            if jobs:
                await asyncio.gather(*jobs)

    async def _retry_when_due(self, record: dict[str, Any], key: bytes | None) -> None:
        wait = float(record["next_attempt_at"]) - time.time()
        if wait > 0:
            await asyncio.sleep(wait)
        await self._attempt(record["action"], record["attempts"], key)

    async def _attempt(
        self, action: dict[str, Any], previous: list[dict[str, Any]], key: bytes | None
    ) -> None:
        """One attempt; then done, a retry record (durable), or a dead letter."""
        target_id = str(action.get("target"))
        target = self.config.targets.get(target_id)
        if target is None:
            outcome = DeliveryOutcome("dead", _no_target(target_id), code="unknown_target")
        else:
            started = time.perf_counter()
            outcome = await self.deliverer.attempt(action, target, len(previous) + 1)
            self.metrics.delivery_latency.labels(target_id).observe(time.perf_counter() - started)
        status = str(outcome.attempt.status or "error")
        self.metrics.delivery_attempts.labels(target_id, status).inc()
        attempts = [*previous, outcome.attempt.as_dict()]
        if outcome.kind == "delivered":
            self.metrics.deliveries.labels(target_id, "delivered").inc()
        elif outcome.kind == "retry":
            self.metrics.deliveries.labels(target_id, "retry").inc()
            record = {"action": action, "attempts": attempts, "next_attempt_at": time.time() + outcome.wait}
            await (await self.retry_topic.send(key=key, value=orjson.dumps(record), force=True))
        else:
            self.metrics.deliveries.labels(target_id, "dead_letter").inc()
            self.metrics.deliveries_dlq.labels(target_id).inc()
            letter = dead_letter(action, target_id, outcome, attempts)
            await (await self.deliveries_dlq.send(key=key, value=orjson.dumps(letter), force=True))

    # --- web and metrics ---------------------------------------------------------------

    async def _measure_lag(self) -> None:
        """Export the lag of each input partition, and un-stick a partition
        whose lag stays the same while Kafka holds records it never delivered."""
        consumer = self.app.consumer
        for tp in consumer.assignment():
            if tp.topic not in self.settings.input_topics:
                continue
            try:
                highwater = consumer.highwater(tp)
            except Exception:  # not known yet during a rebalance
                continue
            if highwater is None:
                continue
            received = self._processed.get((tp.topic, tp.partition))
            lag = highwater - (received + 1 if received is not None else 0)
            self.metrics.lag.labels(tp.topic, str(tp.partition)).set(max(lag, 0))
            await self._watch_stall(tp, received, lag)

    async def _watch_stall(self, tp: TP, received: int | None, lag: int) -> None:
        # Rarely, after a restart, Faust's consumer has stopped delivering a
        # partition's last records (seen twice in about 50 kill -9 test runs). When the
        # lag has not moved for 3 checks (15 s) outside a rebalance, fetch from
        # the first record not received: a duplicate is harmless (dedupe by id),
        # a record never processed is not.
        key = (tp.topic, tp.partition)
        previous = self._stalls.get(key)
        if received is None or lag <= 0 or self.app.rebalancing:
            self._stalls.pop(key, None)
            return
        if previous is None or previous[0] != (received, lag):
            self._stalls[key] = ((received, lag), 1)
            return
        count = previous[1] + 1
        self._stalls[key] = ((received, lag), count)
        if count >= 3:
            log.warning(
                "input partition stalled: fetching again from offset %d",
                received + 1,
                extra={"topic": tp.topic, "partition": tp.partition, "lag": lag},
            )
            self.metrics.stalls.inc()
            self._stalls.pop(key, None)
            await self.app.consumer.seek(tp, received + 1)

    async def _metrics_page(self, request: web.Request) -> web.Response:
        return web.Response(body=self.metrics.render(), headers={"Content-Type": "text/plain; version=0.0.4"})

    async def _health_page(self, request: web.Request) -> web.Response:
        recovered = self.app.tables.recovery.completed.is_set() if self.app.tables else False
        ready = recovered and not self.app.rebalancing
        body = {"status": "ok", "ready": ready, "config_version": self.config.version}
        return web.json_response(body)


def _no_target(target_id: str) -> Attempt:
    return Attempt(time.time(), None, f"target {target_id!r} is not in the configuration")


def run_worker(settings: Settings) -> None:
    """Check the config and topics, then run until SIGTERM/SIGINT."""
    configure_logging(settings.log_level)
    config = load_config(settings.config)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    partitions = loop.run_until_complete(ensure_topics(settings, [f"{settings.app_id}.ticks"]))
    worker = Worker(settings, config, partitions)
    log.info(
        "starting worker",
        extra={
            "config_version": config.version,
            "partitions": partitions,
            "bootstrap": settings.bootstrap_servers,
        },
    )
    faust.Worker(
        worker.app,
        loglevel=settings.log_level,
        loop=loop,
        quiet=True,  # no banner or spinner: logs are JSON lines
        redirect_stdouts=False,
        override_logging=False,
    ).execute_from_commandline()
