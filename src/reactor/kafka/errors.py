"""Kafka failures a user must hear about in one line (CONTRACT §11).

    ReactorError
     ├── TopicError           topics that disagree, or cannot be created (reactor.errors)
     └── BrokerUnavailable    no broker answers at KAFKA_BOOTSTRAP_SERVERS

The commands (`worker`, `deliver`, `publish`, `deliveries retry`) catch these
and print what and where, exit 1, no traceback.
"""

from __future__ import annotations

import logging
from typing import Any

from confluent_kafka import KafkaException

from reactor.errors import ReactorError, TopicError

__all__ = ["BrokerUnavailable", "TopicError", "check_reachable", "client_logger"]


class BrokerUnavailable(ReactorError):
    """Raised when no Kafka broker answers at the bootstrap address."""


def client_logger() -> logging.Logger:
    """The logger librdkafka's own messages go to, instead of raw stderr lines:
    the worker's JSON logs; nowhere for the one-shot commands, whose errors
    are one line of their own."""
    logger = logging.getLogger("reactor.kafka.librdkafka")
    if not logger.handlers:
        logger.addHandler(logging.NullHandler())
    return logger


def check_reachable(admin: Any, bootstrap: str, timeout: float = 10.0) -> None:
    """Raise BrokerUnavailable, naming the address, unless a broker answers
    a metadata request within `timeout` seconds."""
    try:
        admin.list_topics(timeout=timeout)
    except KafkaException as exc:
        raise BrokerUnavailable(
            f"cannot reach Kafka at {bootstrap} (KAFKA_BOOTSTRAP_SERVERS): {exc.args[0].str()}"
        ) from None
