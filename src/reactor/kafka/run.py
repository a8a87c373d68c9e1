"""`reactor worker` and `reactor deliver`: start the pieces, run until SIGTERM or SIGINT.

Order matters for the one-line errors a user gets (CONTRACT §11): the web
port is bound first (a port in use), then the broker is asked for its topics
(unreachable, or topics that disagree or cannot be created), and only then
do the consumer group and the transactional producer start.
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

from reactor.config import Config
from reactor.delivery import quiet_http_logs
from reactor.kafka.deliveries import DeliveryService
from reactor.kafka.reload import ConfigWatcher
from reactor.kafka.topics import admin_client, ensure_topics, max_message_bytes, topic_config
from reactor.kafka.web import WebServer
from reactor.kafka.worker import RECORD_OVERHEAD, Worker
from reactor.metrics import Metrics, configure_logging
from reactor.settings import Settings

__all__ = ["run_delivery", "run_worker"]

log = logging.getLogger("reactor.worker")


def _on_signals(stop: threading.Event) -> None:
    def handler(signum: int, frame: FrameType | None) -> None:
        log.info("stopping", extra={"signal": signal.Signals(signum).name})
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


def run_worker(settings: Settings, config: Config) -> None:
    """The worker (and, unless REACTOR_DELIVER=false, delivery beside it)."""
    configure_logging(settings.log_level)
    quiet_http_logs()
    metrics = Metrics()
    watcher = ConfigWatcher(settings.config, config, metrics)
    worker_box: list[Worker] = []

    def health() -> dict[str, object]:
        if not worker_box:
            return {
                "status": "ok",
                "ready": False,
                "state": "starting",
                "config_version": watcher.config.version,
            }
        return worker_box[0].health()

    web = WebServer(settings.web_host, settings.web_port, metrics, health).start()
    try:
        admin = admin_client(settings)
        partitions = ensure_topics(settings, admin)
        limit = int(
            min(
                1_000_000,
                max_message_bytes(admin, settings.actions_topic),  # the broker's limit per topic
                max_message_bytes(admin, settings.dlq_topic),
                max_message_bytes(admin, settings.changelog_topic),
            )
        )
        retention = topic_config(admin, settings.changelog_topic, "delete.retention.ms", 86_400_000) / 1000
        worker = Worker(settings, watcher, partitions, metrics)
        worker.limit = limit - RECORD_OVERHEAD
        worker.delete_retention = retention
        worker_box.append(worker)
        _on_signals(worker.stopping)
        delivery, delivering = None, None
        if settings.deliver:
            delivery = DeliveryService(settings, lambda: watcher.config, metrics)
            delivering = delivery.start_thread()
        log.info(
            "starting worker",
            extra={
                "config_version": config.version,
                "partitions": partitions,
                "bootstrap": settings.bootstrap_servers,
                "guarantee": settings.processing_guarantee,
                "instance": settings.instance,
                "store": settings.store,
            },
        )
        try:
            worker.run()
        finally:
            if delivery is not None and delivering is not None:
                delivery.stopping.set()
                delivering.join(10)  # its batch's attempts and offsets, then it leaves its groups
    finally:
        web.stop()


def run_delivery(settings: Settings, config: Config) -> None:
    """Delivery alone (`reactor deliver`), with its own web port and hot reload."""
    configure_logging(settings.log_level)
    quiet_http_logs()
    metrics = Metrics()
    watcher = ConfigWatcher(settings.config, config, metrics)
    ready = {"value": False}

    def health() -> dict[str, object]:
        return {"status": "ok", "ready": ready["value"], "config_version": watcher.config.version}

    web = WebServer(settings.web_host, settings.web_port, metrics, health).start()
    try:
        ensure_topics(settings)
        service = DeliveryService(settings, lambda: watcher.config, metrics)
        _on_signals(service.stopping)
        thread = service.start_thread()
        ready["value"] = True
        log.info("starting delivery", extra={"config_version": config.version})
        while thread.is_alive():
            thread.join(settings.reload_interval)
            watcher.check()
    finally:
        web.stop()
