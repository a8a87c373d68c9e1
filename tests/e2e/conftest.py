"""A real Kafka broker for the end-to-end tests.

In order of preference: the broker named by KAFKA_BOOTSTRAP_SERVERS; else
testcontainers' Kafka when a Docker engine answers; else a real Apache Kafka
broker from Maven Central's jars (tests/kafka/broker.py), which is what runs
on the project's machines and in CI. Tests that need it are marked `kafka`;
none is skipped for want of a broker.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "kafka"))
from broker import KafkaBroker


def _docker_engine_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    given = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if given:
        yield given
        return
    if _docker_engine_answers():
        try:
            from testcontainers.kafka import KafkaContainer
        except ImportError:
            pass
        else:
            with KafkaContainer() as container:
                yield container.get_bootstrap_server()
            return
    broker = KafkaBroker(properties={"group.min.session.timeout.ms": "1000"})
    broker.start(timeout=120)
    try:
        yield broker.bootstrap
    finally:
        broker.stop()
