"""Run a throw-away, single-node Apache Kafka (KRaft) broker from the jars in
``tests/kafka/target/dependency``.

Stdlib only, so it can be imported by the test suite and run as a script by
``scripts/kafka-local`` without the project's venv::

    python tests/kafka/broker.py                 # free port, temp dir
    python tests/kafka/broker.py --port 29092    # fixed port
    python tests/kafka/broker.py -o auto.create.topics.enable=false

In code::

    with KafkaBroker() as broker:          # start() is called by __enter__
        use(broker.bootstrap)              # "127.0.0.1:PORT"

Promises:

* The broker listens on 127.0.0.1 only, on a free port (or the one given);
  the KRaft controller gets a second free port.
* ``start()`` returns only when the port accepts TCP connections *and* the
  log says "Kafka Server started"; otherwise it stops the JVM and raises
  :class:`BrokerError` with the tail of the broker log.
* ``stop()`` sends SIGTERM to the JVM's process group, waits, then SIGKILLs.
  It is idempotent. A temp dir created by us is deleted on stop unless
  ``keep=True``; a workdir passed in by the caller is never deleted.
* ``restart()`` bounces the broker on the same ports with the same data.
* If the jars are missing, they are fetched once with Maven from
  ``tests/kafka/pom.xml``.

The JVM runs in its own session so a Ctrl-C aimed at pytest does not kill it
mid-test; the flip side is that if *this* Python process is SIGKILLed the JVM
keeps running -- stop it by the pid printed in the log / ``broker.pid``.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO

HERE = Path(__file__).resolve().parent
POM = HERE / "pom.xml"
JARS_DIR = HERE / "target" / "dependency"

# Only the line that tells us the broker is ready is logged above WARN.
LOG4J2_PROPERTIES = """\
status = error
appender.console.type = Console
appender.console.name = STDOUT
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.stdout.ref = STDOUT
logger.raftserver.name = kafka.server.KafkaRaftServer
logger.raftserver.level = INFO
"""

READY_MARKER = "Kafka Server started"


class BrokerError(RuntimeError):
    """The broker could not be fetched, formatted or started."""


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago.

    There is a small race (someone may grab it before the JVM binds); the
    broker then fails to start and ``start()`` raises with the log tail.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    """True if something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def random_cluster_id() -> str:
    """What ``kafka-storage random-uuid`` prints, without starting a JVM.

    A Kafka Uuid is 16 random bytes, base64url-encoded without padding; Kafka
    never hands out one whose text starts with "-" (it would parse as a CLI
    option), so neither do we.
    """
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).rstrip(b"=").decode()
        if not text.startswith("-"):
            return text


def ensure_jars(jars_dir: Path = JARS_DIR, pom: Path = POM) -> Path:
    """Make sure the broker jars exist; run Maven once if they do not."""
    if jars_dir.is_dir() and any(jars_dir.glob("*.jar")):
        return jars_dir
    mvn = shutil.which("mvn")
    if mvn is None:
        raise BrokerError(f"no jars in {jars_dir} and `mvn` is not on PATH to fetch them")
    cmd = [mvn, "-q", "-f", str(pom), "dependency:copy-dependencies", "-DincludeScope=runtime"]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0 or not any(jars_dir.glob("*.jar")):
        raise BrokerError(
            f"{' '.join(cmd)} failed (rc={proc.returncode}):\n{proc.stdout[-4000:]}{proc.stderr[-4000:]}"
        )
    return jars_dir


def server_properties(
    port: int, controller_port: int, data_dir: Path, overrides: Mapping[str, object] | None = None
) -> str:
    """server.properties for a one-node combined broker+controller.

    Replication factors / ISR are 1 because there is a single node; the
    offsets and transaction topics get one partition so they are created
    quickly; the rebalance delay is 0 so consumer groups form immediately.
    ``overrides`` replace or add keys (e.g. ``{"auto.create.topics.enable": "false"}``).
    """
    props = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.voters": f"1@127.0.0.1:{controller_port}",
        "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
        "inter.broker.listener.name": "PLAINTEXT",
        "controller.listener.names": "CONTROLLER",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": str(data_dir),
        "num.partitions": "1",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "1",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        # The default 128 MiB dedupe buffer is allocated in the heap as soon as
        # a compacted topic (e.g. a Faust changelog) exists; keep it small.
        "log.cleaner.dedupe.buffer.size": "2097152",
    }
    props.update({k: str(v) for k, v in (overrides or {}).items()})
    return "".join(f"{k}={v}\n" for k, v in props.items())


class KafkaBroker:
    """A single-node KRaft Kafka broker running in a child JVM.

    ``workdir``: where config, data and ``broker.log`` go. ``None`` means a
    fresh temp dir, removed on ``stop()`` unless ``keep=True``.
    ``port``: the PLAINTEXT port; ``None`` means a free one.
    ``heap``: JVM -Xms/-Xmx value.
    ``properties``: extra/overriding server.properties entries, e.g.
    ``{"auto.create.topics.enable": "false"}`` to behave like most managed
    clusters, or ``{"group.min.session.timeout.ms": "1000"}`` to allow short
    consumer session timeouts in tests.
    """

    def __init__(
        self,
        workdir: Path | str | None = None,
        port: int | None = None,
        *,
        heap: str = "512m",
        keep: bool = False,
        java: str = "java",
        properties: Mapping[str, object] | None = None,
    ) -> None:
        self._given_workdir = Path(workdir) if workdir is not None else None
        self._requested_port = port
        self.heap = heap
        self.keep = keep
        self.java = java
        self.properties = dict(properties or {})
        self.workdir: Path | None = None
        self.port: int | None = None
        self.controller_port: int | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.startup_seconds: float | None = None
        self._log_file: IO[bytes] | None = None
        self._log_offset = 0

    # -- public API ---------------------------------------------------------

    @property
    def bootstrap(self) -> str:
        """The bootstrap address, "127.0.0.1:PORT" (only valid after start)."""
        if self.port is None:
            raise BrokerError("broker not started")
        return f"127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        """``<workdir>/broker.log``: JVM stdout+stderr, appended across restarts."""
        if self.workdir is None:
            raise BrokerError("broker has no workdir (not started)")
        return self.workdir / "broker.log"

    @property
    def pid(self) -> int | None:
        """Pid of the running JVM (also its process-group id), or None."""
        return self.proc.pid if self.proc is not None else None

    def start(self, timeout: float = 60.0) -> str:
        """Format storage (first time only), start the JVM, wait until it serves.

        Returns the bootstrap address. Raises :class:`BrokerError` (with the
        log tail) if the JVM exits or is not ready within ``timeout`` seconds;
        the broker is then stopped and its temp dir removed. A second start
        on the same object (see :meth:`restart`) reuses ports and data.
        """
        if self.proc is not None:
            raise BrokerError("broker already started")
        t0 = time.monotonic()
        try:
            self._launch()
            self._wait_ready(deadline=t0 + timeout, timeout=timeout)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - t0
        return self.bootstrap

    def stop(self, timeout: float = 20.0, *, cleanup: bool = True) -> None:
        """SIGTERM the JVM (process group), wait ``timeout`` s, then SIGKILL.

        Safe to call more than once or on a broker that never started.
        ``cleanup=False`` keeps the temp workdir (data, ports) for a restart.
        """
        proc = self.proc
        if proc is not None and proc.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                proc.wait(10)
        self.proc = None
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        if cleanup:
            if self.workdir is not None and self._given_workdir is None and not self.keep:
                shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None
            self.port = None
            self.controller_port = None

    def restart(self, timeout: float = 60.0) -> str:
        """Stop and start again on the same ports with the same data.

        For tests of client behaviour across a broker bounce.
        """
        self.stop(cleanup=False)
        return self.start(timeout)

    def rss_bytes(self) -> int | None:
        """Resident set size of the JVM (Linux /proc), or None."""
        if self.proc is None:
            return None
        try:
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        except OSError:
            return None
        return None

    def log_tail(self, n: int = 60) -> str:
        """The last ``n`` lines of the broker log (all runs in this workdir)."""
        if self.workdir is None:
            return ""
        return "\n".join(self._read_log().splitlines()[-n:])

    def __enter__(self) -> KafkaBroker:
        if self.proc is None:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- internals ----------------------------------------------------------

    def _launch(self) -> None:
        classpath = str(ensure_jars() / "*")
        if self.workdir is None:
            if self._given_workdir is not None:
                self.workdir = self._given_workdir
                self.workdir.mkdir(parents=True, exist_ok=True)
            else:
                self.workdir = Path(tempfile.mkdtemp(prefix="kafka-broker-"))
        # Keep ports across restarts so clients reconnect to the same address.
        if self.port is None:
            self.port = self._requested_port or free_port()
        if self.controller_port is None:
            self.controller_port = free_port()
            while self.controller_port == self.port:
                self.controller_port = free_port()

        props = self.workdir / "server.properties"
        log4j = self.workdir / "log4j2.properties"
        data_dir = self.workdir / "data"
        props.write_text(server_properties(self.port, self.controller_port, data_dir, self.properties))
        log4j.write_text(LOG4J2_PROPERTIES)
        log4j_opt = f"-Dlog4j2.configurationFile={log4j}"

        # KRaft storage must be formatted with a cluster id before the first
        # start. Only once: Kafka 4.1 refuses to re-format with another id even
        # with --ignore-formatted ("Invalid cluster.id"), so a reused workdir
        # keeps its id and data.
        if not (data_dir / "meta.properties").exists():
            tool = [self.java, "-Xmx256m", log4j_opt, "-cp", classpath, "kafka.tools.StorageTool"]
            self._run_tool(
                [*tool, "format", "-t", random_cluster_id(), "-c", str(props), "--ignore-formatted"]
            )

        # Only look for the ready line in output written by *this* JVM (the
        # log is appended to across restarts).
        self._log_offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        # Kept open for the JVM's lifetime; closed in stop().
        self._log_file = open(self.log_path, "ab")  # noqa: SIM115
        jvm = [self.java, f"-Xms{self.heap}", f"-Xmx{self.heap}", "-XX:+UseG1GC"]
        main = ["-Djava.awt.headless=true", log4j_opt, "-cp", classpath, "kafka.Kafka", str(props)]
        self.proc = subprocess.Popen(
            [*jvm, *main],
            stdin=subprocess.DEVNULL,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            # Own session/process group: Ctrl-C aimed at pytest does not hit
            # the JVM directly, and stop() can signal the whole group.
            start_new_session=True,
            cwd=self.workdir,
        )

    def _wait_ready(self, deadline: float, timeout: float) -> None:
        assert self.proc is not None and self.port is not None
        while True:
            rc = self.proc.poll()
            if rc is not None:
                raise BrokerError(f"Kafka broker exited with rc={rc}:\n{self.log_tail()}")
            if port_open(self.port) and READY_MARKER in self._read_log(self._log_offset):
                return
            if time.monotonic() > deadline:
                raise BrokerError(f"Kafka broker not ready after {timeout:.0f}s:\n{self.log_tail()}")
            time.sleep(0.1)

    def _run_tool(self, cmd: Sequence[str]) -> str:
        proc = subprocess.run(list(cmd), capture_output=True, text=True, cwd=self.workdir)
        if proc.returncode != 0:
            raise BrokerError(
                f"{' '.join(cmd[-6:])} failed (rc={proc.returncode}):\n{proc.stdout}{proc.stderr}"
            )
        return proc.stdout

    def _read_log(self, offset: int = 0) -> str:
        try:
            with open(self.log_path, "rb") as f:
                f.seek(offset)
                return f.read().decode(errors="replace")
        except OSError:
            return ""

    def _signal(self, sig: signal.Signals) -> None:
        assert self.proc is not None
        # The JVM is the leader of its own group (start_new_session), so the
        # group id is its pid; this only reaches processes we started.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, sig)


def main(argv: Sequence[str] | None = None) -> int:
    """Run a broker in the foreground until Ctrl-C / SIGTERM."""
    parser = argparse.ArgumentParser(description="Run a local single-node Kafka broker (KRaft).")
    parser.add_argument("--port", type=int, help="PLAINTEXT port (default: a free one)")
    parser.add_argument("--workdir", type=Path, help="config/data dir (default: temp dir, deleted on exit)")
    parser.add_argument("--heap", default="512m", help="JVM heap, e.g. 512m (default)")
    parser.add_argument("--timeout", type=float, default=60.0, help="startup timeout in seconds")
    parser.add_argument(
        "-o",
        "--property",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra server.properties entry (repeatable)",
    )
    args = parser.parse_args(argv)
    props: dict[str, str] = {}
    for item in args.property:
        key, sep, value = item.partition("=")
        if not sep:
            parser.error(f"--property expects KEY=VALUE, got {item!r}")
        props[key] = value

    broker = KafkaBroker(args.workdir, args.port, heap=args.heap, properties=props)

    # Turn SIGTERM into KeyboardInterrupt so both paths stop the JVM.
    def _on_term(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _on_term)
    try:
        bootstrap = broker.start(timeout=args.timeout)
        print(bootstrap, flush=True)
        print(
            f"# started in {broker.startup_seconds:.1f}s, pid {broker.pid}, "
            f"workdir {broker.workdir}; Ctrl-C to stop",
            file=sys.stderr,
            flush=True,
        )
        while broker.proc is not None and broker.proc.poll() is None:
            time.sleep(0.5)
        rc = broker.proc.returncode if broker.proc else "?"
        print(f"broker exited with rc={rc}:\n{broker.log_tail()}", file=sys.stderr)
        return 1
    except BrokerError as e:
        print(str(e), file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        broker.stop()


if __name__ == "__main__":
    sys.exit(main())
