"""Target delivery over HTTP (CONTRACT §5): sending, retries, dead letters.

Only this package imports httpx. It knows nothing of Kafka: the Kafka side
of delivery (reading `reactor.actions`, the retry and dead-letter topics) is
`reactor.kafka.deliveries`, and `replay --deliver` uses `deliver_all`.
"""

from __future__ import annotations

from reactor.delivery.http import (
    Attempt,
    Deliverer,
    DeliveryOutcome,
    HttpxSender,
    Request,
    Response,
    Sender,
    backoff,
    quiet_http_logs,
    retry_after_seconds,
    sign,
)
from reactor.delivery.records import dead_letter, deliver_all, retry_record, unknown_target
from reactor.delivery.secrets import Secrets, header_value, resolve

__all__ = [
    "Attempt",
    "Deliverer",
    "DeliveryOutcome",
    "HttpxSender",
    "Request",
    "Response",
    "Secrets",
    "Sender",
    "backoff",
    "dead_letter",
    "deliver_all",
    "header_value",
    "quiet_http_logs",
    "resolve",
    "retry_after_seconds",
    "retry_record",
    "sign",
    "unknown_target",
]
