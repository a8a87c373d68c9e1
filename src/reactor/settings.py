"""Settings of the worker and the Kafka commands, from the environment.

Every setting is an environment variable (`KAFKA_BOOTSTRAP_SERVERS`, or
`REACTOR_` + the field name in capitals); the defaults suit one laptop.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REACTOR_", extra="ignore")

    bootstrap_servers: str = Field(
        "localhost:9092",
        validation_alias=AliasChoices("KAFKA_BOOTSTRAP_SERVERS", "REACTOR_BOOTSTRAP_SERVERS"),
    )
    config: Path = Path(".")

    # Topics (CONTRACT §1, §4, §5).
    profile_topic: str = "profile.updated"
    transaction_topic: str = "transaction.created"
    actions_topic: str = "reactor.actions"
    dlq_topic: str = "reactor.dlq"
    deliveries_dlq_topic: str = "reactor.deliveries.dlq"
    deliveries_retry_topic: str = "reactor.deliveries.retry"
    #: Partitions for topics the worker creates when they do not exist yet.
    partitions: int = Field(4, ge=1)
    replication_factor: int = Field(1, ge=1)

    # The Faust app.
    app_id: str = "reactor"
    store: str = "memory://"  # or rocksdb:// (pip install reactor[rocksdb])
    data_dir: Path = Path("reactor-data")
    #: Seconds before the group gives up on a worker that stopped heartbeating.
    session_timeout: float = Field(10.0, gt=0)
    #: A fixed member id per worker (static membership): a restarted worker gets
    #: its partitions back at once instead of after the session timeout.
    instance_id: str | None = None
    web_host: str = "127.0.0.1"
    web_port: int = Field(6066, ge=0, le=65535)
    log_level: str = "info"
    #: How often time-driven work (expiry, automations) runs, in seconds (<= 60).
    tick_interval: float = Field(15.0, gt=0, le=60)
    #: At most how long (seconds) a partition's events wait for the other input
    #: topic, which seems to lag, so that they run in event-time order.
    order_wait: float = Field(0.2, ge=0, le=10)
    #: How often the configuration root is checked for changes, in seconds.
    reload_interval: float = Field(2.0, gt=0)

    # Delivery.
    deliver: bool = True

    @property
    def input_topics(self) -> tuple[str, ...]:
        return (self.profile_topic, self.transaction_topic)

    def topic_for(self, event_type: str) -> str:
        """Where `reactor publish` sends an event of this type: deletions go with
        the profile updates they belong to."""
        return self.transaction_topic if event_type == "transaction.created" else self.profile_topic
