"""Running real `reactor worker` processes against the test broker.

Each test gets topics, an app id (consumer group) and a web port of its own,
so tests never see each other's messages. Workers are real subprocesses in
their own process group: stopped with SIGTERM, killed with SIGKILL.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer

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
        REACTOR_ACTIONS_TOPIC=f"{run}.reactor.actions",
        REACTOR_DLQ_TOPIC=f"{run}.reactor.dlq",
        REACTOR_DELIVERIES_DLQ_TOPIC=f"{run}.reactor.deliveries.dlq",
        REACTOR_DELIVERIES_RETRY_TOPIC=f"{run}.reactor.deliveries.retry",
        REACTOR_DATA_DIR=str(tmp_path / f"data-{run}"),
        REACTOR_TICK_INTERVAL="1",
        REACTOR_RELOAD_INTERVAL="0.5",
        REACTOR_SESSION_TIMEOUT="3",
        REACTOR_PARTITIONS="4",
        REACTOR_DELIVER="false",
        REACTOR_LOG_LEVEL=os.environ.get("TEST_WORKER_LOG_LEVEL", "info"),
        DEVLOG=os.environ.get("TEST_DEVLOG", ""),
    )
    env.update(extra)
    return env


class WorkerProcess:
    """A `reactor worker` subprocess with its own web port and log file."""

    def __init__(self, env: dict[str, str], log_path: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self.env = {**env, "REACTOR_WEB_PORT": str(self.port)}
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, ready_timeout: float = 90.0) -> WorkerProcess:
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child owns it
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "reactor", "worker"],
            env=self.env,
            cwd=REPO,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.wait_ready(ready_timeout)
        return self

    def health(self) -> dict[str, Any] | None:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/healthz", timeout=2) as response:
                return json.loads(response.read())
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


class Deployment:
    """Workers of one deployment (one environment), each with its own log;
    `stop_all` stops every one started, for a fixture's teardown."""

    def __init__(self, env: dict[str, str], logs: Path) -> None:
        self.env = env
        self.logs = logs
        self.workers: list[WorkerProcess] = []

    def __call__(self, name: str = "w", env: dict[str, str] | None = None, **overrides: str) -> WorkerProcess:
        worker = WorkerProcess(
            {**(env or self.env), **overrides}, self.logs / f"{name}-{len(self.workers)}.log"
        )
        self.workers.append(worker)
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


def consume(
    bootstrap: str,
    topic: str,
    until: Callable[[list[dict[str, Any]]], bool],
    timeout: float = 90.0,
) -> list[dict[str, Any]]:
    """Read `topic` from the beginning until `until(records)` holds; each record
    is the decoded value plus `_partition` and `_offset`."""

    async def run() -> list[dict[str, Any]]:
        consumer = AIOKafkaConsumer(
            topic,
            bootstrap_servers=bootstrap,
            auto_offset_reset="earliest",
            group_id=None,
            enable_auto_commit=False,
        )
        await consumer.start()
        records: list[dict[str, Any]] = []
        try:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and not until(records):
                batch = await consumer.getmany(timeout_ms=500)
                for messages in batch.values():
                    for message in messages:
                        value = orjson.loads(message.value)
                        value["_partition"], value["_offset"] = message.partition, message.offset
                        records.append(value)
        finally:
            await asyncio.sleep(0)
            await consumer.stop()
        return records

    return asyncio.run(run())


def without_meta(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if not k.startswith("_")}


def committed_offsets(bootstrap: str, group: str, topics: list[str]) -> dict[str, Any]:
    """The group's committed offset and the end offset of each partition (for
    diagnosing a failed test)."""
    from aiokafka import TopicPartition

    async def run() -> dict[str, Any]:
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False)
        await consumer.start()
        try:
            out = {}
            for topic in topics:
                for partition in sorted(consumer.partitions_for_topic(topic) or {0, 1, 2, 3}):
                    tp = TopicPartition(topic, partition)
                    out[f"{topic}/{partition}"] = (
                        await consumer.committed(tp),
                        (await consumer.end_offsets([tp]))[tp],
                    )
            return out
        finally:
            await asyncio.sleep(0)
            await consumer.stop()

    return asyncio.run(run())
