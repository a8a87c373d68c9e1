"""Running real `reactor worker` processes against the test broker.

Each test gets topics, an app id (consumer group) and a web port of its own,
so tests never see each other's messages. Workers are real subprocesses in
their own process group: stopped with SIGTERM, killed with SIGKILL.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from confluent_kafka import Consumer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def worker_env(bootstrap: str, tmp_path: Path, config: Path = REPO, **extra: str) -> dict[str, str]:
    """Environment for one isolated reactor deployment (topics, group, data)."""
    run = uuid.uuid4().hex[:8]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REACTOR_", "COMMS_"))}
    env.update(
        KAFKA_BOOTSTRAP_SERVERS=bootstrap,
        REACTOR_CONFIG=str(config),
        REACTOR_APP_ID=f"reactor-{run}",
        REACTOR_PROFILE_TOPIC=f"{run}.profile.updated",
        REACTOR_TRANSACTION_TOPIC=f"{run}.transaction.created",
        REACTOR_REDEMPTION_TOPIC=f"{run}.incentive.redeemed",
        REACTOR_ACTIONS_TOPIC=f"{run}.reactor.actions",
        REACTOR_DLQ_TOPIC=f"{run}.reactor.dlq",
        REACTOR_DELIVERIES_DLQ_TOPIC=f"{run}.reactor.deliveries.dlq",
        REACTOR_DELIVERIES_RETRY_TOPIC=f"{run}.reactor.deliveries.retry",
        REACTOR_DATA_DIR=str(tmp_path / f"data-{run}"),
        REACTOR_TICK_INTERVAL="1",
        REACTOR_RELOAD_INTERVAL="0.5",
        REACTOR_SESSION_TIMEOUT="3",
        REACTOR_TRANSACTION_TIMEOUT="6",
        REACTOR_INSTANCE_ID=f"w-{run}",
        REACTOR_PARTITIONS="4",
        REACTOR_DELIVER="false",
        REACTOR_LOG_LEVEL=os.environ.get("TEST_WORKER_LOG_LEVEL", "info"),
        DEVLOG=os.environ.get("TEST_DEVLOG", ""),
    )
    env.update(extra)
    return env


class WorkerProcess:
    """A `reactor worker` subprocess with its own web port and log file."""

    def __init__(
        self,
        env: dict[str, str],
        log_path: Path,
        port: int | None = None,
        command: tuple[str, ...] = ("worker",),
    ) -> None:
        self.command = command
        self.port = port or free_port()
        self.env = {**env, "REACTOR_WEB_PORT": str(self.port)}
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, ready_timeout: float = 90.0) -> WorkerProcess:
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child owns it
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "reactor", *self.command],
            env=self.env,
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        if ready_timeout:
            self.wait_ready(ready_timeout)
        return self

    def health(self) -> dict[str, Any] | None:
        """/healthz's body (it answers 503 when not ready), or None if nobody answers."""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return json.loads(exc.read())
        except OSError:
            return None

    def metrics(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/metrics", timeout=5) as response:
            return response.read().decode()

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise AssertionError(f"worker exited with {self.proc.returncode}:\n{self.log()[-3000:]}")
            health = self.health()
            if health and health.get("ready"):
                return
            time.sleep(0.2)
        raise AssertionError(f"worker not ready in {timeout}s:\n{self.log()[-3000:]}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM, then SIGKILL if it does not exit (it hangs if the broker is gone)."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return None

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def pause(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, signal.SIGCONT)


class Deployment:
    """Workers of one deployment (one environment), each with its own log;
    `stop_all` stops every one started, for a fixture's teardown."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.logs = logs
        self.workers: list[WorkerProcess] = []

    def __call__(
        self, name: str = "w", env: dict[str, str] | None = None, wait: bool = True, **overrides: str
    ) -> WorkerProcess:
        """Start a worker; `name` is its instance (transactional.id, data dir):
        a restart under the same name is the same instance."""
        base = env or self.env
        instance = {"REACTOR_INSTANCE_ID": f"{base.get('REACTOR_APP_ID', 'reactor')}-{name}"}
        worker = WorkerProcess(
            {**base, **instance, **overrides}, self.logs / f"{name}-{len(self.workers)}.log"
        )
        self.workers.append(worker)
        if not wait:
            worker.start(ready_timeout=0)
            return worker
        return worker.start()

    def stop_all(self) -> None:
        for worker in self.workers:
            worker.stop()


def reactor_cli(
    env: dict[str, str], *args: str, stdin: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "reactor", *args],
        env=env,
        cwd=REPO,
        input=stdin,
        capture_output=True,
        timeout=180,
    )


def publish(env: dict[str, str], lines: list[bytes], *args: str) -> None:
    done = reactor_cli(env, "publish", *args, "-", stdin=b"\n".join(lines) + b"\n")
    assert done.returncode in (0, 1), done.stderr.decode()


def _reader(bootstrap: str, committed: bool = True) -> Consumer:
    return Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"test-reader-{uuid.uuid4().hex[:8]}",  # assign() only: never commits
            "enable.auto.commit": False,
            "isolation.level": "read_committed" if committed else "read_uncommitted",
            "auto.offset.reset": "earliest",
        }
    )


def _assign_all(consumer: Consumer, topic: str, timeout: float = 30.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while True:
        metadata = consumer.list_topics(topic, timeout=10).topics.get(topic)
        if metadata is not None and metadata.error is None and metadata.partitions:
            partitions = sorted(metadata.partitions)
            consumer.assign([TopicPartition(topic, p, -2) for p in partitions])  # -2: the beginning
            return partitions
        if time.monotonic() > deadline:
            raise AssertionError(f"topic {topic} does not exist")
        time.sleep(0.2)


def consume(
    bootstrap: str,
    topic: str,
    until: Callable[[list[dict[str, Any]]], bool],
    timeout: float = 90.0,
    committed: bool = True,
) -> list[dict[str, Any]]:
    """Read `topic` from the beginning (read_committed unless `committed` is
    false) until `until(records)` holds or `timeout` passes; each record is
    the decoded value plus `_partition` and `_offset`."""
    consumer = _reader(bootstrap, committed)
    records: list[dict[str, Any]] = []
    try:
        _assign_all(consumer, topic)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not until(records):
            for message in consumer.consume(1000, 0.2):
                if message.error() is not None:
                    continue
                value = orjson.loads(message.value())
                value["_partition"], value["_offset"] = message.partition(), message.offset()
                records.append(value)
    finally:
        consumer.close()
    return records


def read_all(
    bootstrap: str, topic: str, committed: bool = True
) -> list[tuple[bytes | None, bytes | None, int]]:
    """Every record of `topic` up to its current end: (key, value, partition)."""
    consumer = _reader(bootstrap, committed)
    out: list[tuple[bytes | None, bytes | None, int]] = []
    try:
        partitions = _assign_all(consumer, topic)
        ends = {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions
        }
        pending = {p for p in partitions if ends[p] > 0}
        deadline = time.monotonic() + 60
        while pending and time.monotonic() < deadline:
            for message in consumer.consume(5000, 0.2):
                if message.error() is None:
                    out.append((message.key(), message.value(), message.partition()))
            for p in list(pending):
                if consumer.position([TopicPartition(topic, p)])[0].offset >= ends[p]:
                    pending.discard(p)
    finally:
        consumer.close()
    return out


def changelog_states(bootstrap: str, app_id: str) -> dict[str, dict[str, Any]]:
    """The latest committed state of every profile, read from the changelog
    (`<app>.profiles`), without the worker's own bookkeeping (`pt`)."""
    states: dict[str, dict[str, Any]] = {}
    for key, value, _ in read_all(bootstrap, f"{app_id}.profiles"):
        if key is None or key.startswith(b"\x00"):
            continue
        if value is None:
            states.pop(key.decode(), None)
        else:
            state = orjson.loads(value)
            state.pop("pt", None)
            states[key.decode()] = state
    return states


def create_topics(bootstrap: str, partitions: dict[str, int]) -> None:
    admin = AdminClient({"bootstrap.servers": bootstrap})
    for future in admin.create_topics([NewTopic(t, n, 1) for t, n in partitions.items()]).values():
        future.result()


def without_meta(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if not k.startswith("_")}


def committed_offsets(bootstrap: str, group: str, topics: list[str]) -> dict[str, Any]:
    """The group's committed offset and the end offset of each partition (for
    diagnosing a failed test)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        out = {}
        for topic in topics:
            metadata = consumer.list_topics(topic, timeout=10).topics.get(topic)
            for partition in sorted(metadata.partitions if metadata else []):
                tp = TopicPartition(topic, partition)
                (committed,) = consumer.committed([tp], timeout=10)
                out[f"{topic}/{partition}"] = (
                    committed.offset,
                    consumer.get_watermark_offsets(tp, timeout=10)[1],
                )
        return out
    finally:
        consumer.close()
