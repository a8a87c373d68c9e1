"""The core is pure: importing it loads no Kafka client, no HTTP client and no transport subpackage."""

from __future__ import annotations

import subprocess
import sys

CORE = [
    "reactor.engine",
    "reactor.replay",
    "reactor.config",
    "reactor.context",
    "reactor.rules",
    "reactor.templates",
    "reactor.actions",
    "reactor.state",
    "reactor.events",
    "reactor.event_schema",
    "reactor.explain",
    "reactor.clock",
    "reactor.schedules",
    "reactor.specs",
    "reactor.errors",
    "reactor.metrics",
    "reactor.settings",
]

#: What a core module must never load: the Kafka and HTTP clients, and the
#: transport subpackages built on them.
FORBIDDEN = ("confluent_kafka", "httpx", "rocksdict", "reactor.kafka", "reactor.delivery")


def test_core_modules_import_no_transport_library():
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in CORE)
        + f"print(sorted(m for m in sys.modules if m.split('.')[0] in {FORBIDDEN!r} or m.startswith({FORBIDDEN!r})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_check_would_see_a_transport_import():
    """The test above can fail: importing the Kafka package loads confluent_kafka."""
    code = (
        "import sys\nimport reactor.kafka.worker\n"
        f"print(sorted(m for m in {FORBIDDEN!r} if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "confluent_kafka" in out and "reactor.kafka" in out


def test_the_public_surface_is_what_reactor_exports():
    import reactor

    for name in reactor.__all__:
        assert hasattr(reactor, name), name
    assert {"process", "load_config", "decode_event", "Event", "Action", "ProfileState"} <= set(
        reactor.__all__
    )
