"""Prometheus metrics of the worker, and its structured JSON logs.

Metrics live in their own registry (not the process-global one), so that a
test can run several workers in one process, and `/metrics` shows only
reactor's series.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import Any

import orjson
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["JsonFormatter", "Metrics", "configure_logging"]


class Metrics:
    """Every series the worker exports (names prefixed `reactor_`)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
        r = self.registry
        self.events = Counter(
            "reactor_events", "Events read, by type and outcome", ["type", "outcome"], registry=r
        )
        self.actions = Counter("reactor_actions", "Actions produced, by type", ["type"], registry=r)
        self.rejects = Counter(
            "reactor_rejects", "Messages dead-lettered, by error code", ["code"], registry=r
        )
        self.rule_errors = Counter(
            "reactor_reaction_failures", "Reactions failed at run time", ["reaction", "code"], registry=r
        )
        self.limited_sends = Counter(
            "reactor_target_limited", "target.send steps dropped by a target limit", registry=r
        )
        self.latency = Histogram(
            "reactor_processing_seconds",
            "Time to process one event, decode to actions sent",
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=r,
        )
        self.lag = Gauge(
            "reactor_consumer_lag",
            "Records of each owned input partition not yet processed "
            "(last stable offset minus committed position)",
            ["topic", "partition"],
            registry=r,
        )
        self.stalls = Counter(
            "reactor_partition_stalls",
            "Times an owned input partition made no progress with records waiting",
            registry=r,
        )
        self.reloads = Counter(
            "reactor_config_reloads", "Configuration reloads, by outcome", ["outcome"], registry=r
        )
        self.config_info = Gauge(
            "reactor_config_info", "The loaded configuration version", ["version"], registry=r
        )
        self.ticks = Counter("reactor_ticks", "Time-driven runs (expiry, automations)", ["kind"], registry=r)
        self.deliveries = Counter(
            "reactor_deliveries", "Deliveries by target and outcome", ["target", "outcome"], registry=r
        )
        self.delivery_attempts = Counter(
            "reactor_delivery_attempts",
            "HTTP attempts by target and status",
            ["target", "status"],
            registry=r,
        )
        self.delivery_latency = Histogram(
            "reactor_delivery_seconds", "HTTP attempt duration by target", ["target"], registry=r
        )
        self.deliveries_dlq = Counter(
            "reactor_deliveries_dead_lettered",
            "Deliveries written to the deliveries DLQ",
            ["target"],
            registry=r,
        )

    def child(self, family: Any, *labels: str) -> Any:
        """`family.labels(*labels)`, made once: prometheus-client's `labels`
        costs more than the counting itself on the worker's hot path."""
        key = (id(family), labels)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = family.labels(*labels)
        return found

    def set_config(self, version: str) -> None:
        self.config_info.clear()
        self.config_info.labels(version=version).set(1)

    def render(self) -> bytes:
        return generate_latest(self.registry)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and any
    `extra={...}` fields. Messages never carry secrets: nothing that logs
    here is given resolved `${VAR}` values."""

    _STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None)))

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in self._STANDARD and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(out, default=str).decode()


def configure_logging(level: str = "info") -> None:
    """Send every logger (reactor's, librdkafka's) to stderr as JSON lines."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("httpx", "httpcore"):  # their request logs print resolved URLs
        logging.getLogger(noisy).setLevel(max(logging.WARNING, root.level))
