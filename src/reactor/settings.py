"""Settings of the worker and the Kafka commands, from the environment.

Every setting is an environment variable (`KAFKA_BOOTSTRAP_SERVERS`, or
`REACTOR_` + the field name in capitals); the defaults suit one laptop.
"""

from __future__ import annotations

import re
import socket
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["REDEMPTIONS", "Settings"]

#: Upstream redemption event types (CONTRACT §8), on their own input topic.
REDEMPTIONS = frozenset({"reward.redeemed", "points.redeemed", "benefit.claimed"})


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REACTOR_", extra="ignore")

    bootstrap_servers: str = Field(
        "localhost:9092",
        validation_alias=AliasChoices("KAFKA_BOOTSTRAP_SERVERS", "REACTOR_BOOTSTRAP_SERVERS"),
    )
    config: Path = Path(".")
    #: Seconds to wait for a broker to answer at start, before saying it cannot be reached.
    connect_timeout: float = Field(10.0, gt=0, le=300)

    # Topics (CONTRACT §1, §4, §5).
    profile_topic: str = "profile.updated"
    transaction_topic: str = "transaction.created"
    #: Upstream redemptions (CONTRACT §8): `reward.redeemed`, `points.redeemed`, `benefit.claimed`.
    redemption_topic: str = "incentive.redeemed"
    actions_topic: str = "reactor.actions"
    dlq_topic: str = "reactor.dlq"
    deliveries_dlq_topic: str = "reactor.deliveries.dlq"
    deliveries_retry_topic: str = "reactor.deliveries.retry"
    #: Partitions for topics the worker creates when they do not exist yet.
    partitions: int = Field(4, ge=1)
    replication_factor: int = Field(1, ge=1)

    # The worker.
    app_id: str = "reactor"
    #: exactly_once: a batch's outputs, states and input offsets in one Kafka
    #: transaction; at_least_once: no transactions (a crash re-sends identical actions).
    processing_guarantee: Literal["exactly_once", "at_least_once"] = "exactly_once"
    store: str = "memory://"  # or rocksdb:// (pip install reactor[rocksdb])
    data_dir: Path = Path("reactor-data")
    #: Seconds before the group gives up on a worker that stopped heartbeating.
    session_timeout: float = Field(10.0, gt=0)
    #: Stable per worker instance: the transactional.id (so that a restarted
    #: worker aborts its predecessor's open transaction at once) and the static
    #: group membership id. Default: derived from the host name.
    instance_id: str | None = None
    #: Seconds a transaction may stay open before the broker aborts it; also
    #: how long a worker taking over from a dead one (of another instance id)
    #: may wait for the dead one's open transaction to be aborted.
    transaction_timeout: float = Field(10.0, ge=1, le=900)
    #: Events per batch (one transaction) at most.
    batch_size: int = Field(2000, ge=1, le=100_000)
    #: Seconds an owned partition may make no progress while records wait
    #: before /healthz says not ready.
    stall_timeout: float = Field(30.0, gt=0)
    web_host: str = "127.0.0.1"
    web_port: int = Field(6066, ge=0, le=65535)
    log_level: str = "info"
    #: How often time-driven work (expiry, automations) runs, in seconds (<= 60).
    tick_interval: float = Field(15.0, gt=0, le=60)
    #: At most how long (seconds) a partition's events wait for another input
    #: topic that has records in Kafka not yet received, so that they run in
    #: event-time order (counted only while the consumer has nothing else queued).
    order_wait: float = Field(2.0, ge=0, le=60)
    #: Seconds an event waits, after it arrived, before it runs ahead of another
    #: input topic that has nothing more in Kafka (see kafka/ordering.py).
    order_settle: float = Field(0.02, ge=0, le=1)
    #: How often the configuration root is checked for changes, in seconds.
    reload_interval: float = Field(2.0, gt=0)

    # Delivery.
    deliver: bool = True

    @property
    def input_topics(self) -> tuple[str, ...]:
        """The co-partitioned input topics, in the order that breaks ties of
        equal event time (snapshots first, as replay's file order usually has them)."""
        return (self.profile_topic, self.transaction_topic, self.redemption_topic)

    @property
    def changelog_topic(self) -> str:
        """The compacted state changelog, co-partitioned with the inputs."""
        return f"{self.app_id}.profiles"

    @property
    def transactional_id(self) -> str:
        return f"{self.app_id}-{self.instance}"

    @property
    def instance(self) -> str:
        """This worker instance's stable id: REACTOR_INSTANCE_ID, else the host name."""
        if self.instance_id:
            return self.instance_id
        return re.sub(r"[^A-Za-z0-9._-]", "-", socket.gethostname()) or "worker"

    def topic_for(self, event_type: str) -> str:
        """Where `reactor publish` sends an event of this type: transactions to
        theirs, redemptions to theirs, everything else (snapshots, deletions,
        unknown types) with the profile updates."""
        if event_type == "transaction.created":
            return self.transaction_topic
        if event_type in REDEMPTIONS:
            return self.redemption_topic
        return self.profile_topic
