"""The Kafka transport: the only package that imports confluent_kafka.

- `worker`: the consume → process → produce loop (exactly-once by default);
- `store`: per-partition state (memory or RocksDB) in front of the changelog;
- `ordering`: event-time merge of the co-partitioned input topics;
- `topics`: checking and creating the topics a deployment needs;
- `deliveries`: the Kafka side of HTTP delivery, and `deliveries retry`;
- `publish`: `reactor publish`;
- `web`, `reload`, `records`, `errors`, `run`: the worker's web port, hot
  reload, dead letters that always fit, one-line errors, and start-up.
"""

from __future__ import annotations

from reactor.kafka.errors import BrokerUnavailable, TopicError

__all__ = ["BrokerUnavailable", "TopicError"]
