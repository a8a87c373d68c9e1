"""The Kafka commands' one-line errors (CONTRACT §11): a broker that cannot be
reached, a port in use. Real processes, a real closed port and a real bound
socket; no broker is needed to see them."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest

from support import REPO


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed again when the block ends


def run(*args: str, env_extra: dict[str, str], stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith(("REACTOR_", "KAFKA_"))}
    env.update({"REACTOR_CONNECT_TIMEOUT": "2", "REACTOR_CONFIG": str(REPO), **env_extra})
    return subprocess.run(
        [sys.executable, "-m", "reactor", *args],
        input=stdin,
        capture_output=True,
        cwd=REPO,
        env=env,
        timeout=60,
    )


@pytest.mark.parametrize(
    "command", [["publish", "-"], ["worker"], ["deliver"], ["deliveries", "retry"]], ids=" ".join
)
def test_an_unreachable_broker_is_one_line_naming_it(command):
    address = f"127.0.0.1:{closed_port()}"
    done = run(
        *command, env_extra={"KAFKA_BOOTSTRAP_SERVERS": address, "REACTOR_WEB_PORT": "0"}, stdin=b"{}\n"
    )
    assert done.returncode == 1
    lines = done.stderr.decode().strip().splitlines()
    assert len(lines) == 1, done.stderr.decode()
    assert lines[0].startswith(f"reactor: cannot reach Kafka at {address}")
    assert "Traceback" not in done.stderr.decode()


@pytest.mark.parametrize("command", [["worker"], ["deliver"]], ids=" ".join)
def test_a_web_port_in_use_is_one_line_naming_it(command):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run(
            *command, env_extra={"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1", "REACTOR_WEB_PORT": str(port)}
        )
    assert done.returncode == 1
    lines = done.stderr.decode().strip().splitlines()
    assert lines == [f"reactor: cannot listen on 127.0.0.1:{port} (REACTOR_WEB_PORT): Address already in use"]
