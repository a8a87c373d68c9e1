"""The core is pure: importing it loads no Kafka, Faust or HTTP client."""

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
]


def test_core_modules_import_no_transport_library():
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in CORE)
        + "print(sorted(m for m in ('faust', 'aiokafka', 'httpx', 'mode') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_public_surface_is_what_reactor_exports():
    import reactor

    for name in reactor.__all__:
        assert hasattr(reactor, name), name
    assert {"process", "load_config", "decode_event", "Event", "Action", "ProfileState"} <= set(
        reactor.__all__
    )
