"""The `reactor` command: parse arguments, load config, call the core.

Exit codes: 0 success, 1 invalid input or configuration, 2 usage error.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated, Any

import orjson
import typer

from reactor.actions import Action
from reactor.clock import normalize_instant
from reactor.config import Config, load_config
from reactor.errors import ConfigError, InvalidEvent

if TYPE_CHECKING:
    from reactor.settings import Settings

__all__ = ["app", "main"]

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Loyalty and CRM automation on Kafka customer events.",
)

ConfigOption = Annotated[
    Path,
    typer.Option(
        "--config",
        envvar="REACTOR_CONFIG",
        help="Configuration root holding reactions/ and targets/.",
        file_okay=False,
    ),
]


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"reactor: {message}", err=True)
    return typer.Exit(code)


def _load(root: Path) -> Config:
    try:
        return load_config(root)
    except ConfigError as exc:
        for issue in exc.issues:
            typer.echo(str(issue), err=True)
        raise _fail(f"{len(exc.issues)} configuration problem(s) in {root}") from None


def _instant_option(value: str | None, name: str) -> str | None:
    if value is None:
        return None
    try:
        return normalize_instant(value)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint=name) from None


def _open_input(name: str) -> IO[bytes]:
    if name == "-":
        return sys.stdin.buffer
    try:
        return open(name, "rb")
    except OSError as exc:
        raise _fail(f"cannot read {name}: {exc.strerror}", 2) from None


@app.command()
def replay(
    file: Annotated[str, typer.Argument(help="JSON Lines events, or - for stdin.")] = "-",
    config: ConfigOption = Path("."),
    until: Annotated[
        str | None, typer.Option(help="Run expiries and automations up to this time after the last event.")
    ] = None,
    deliver: Annotated[
        bool, typer.Option("--deliver", help="Also POST each target.send payload to its target (a dry run).")
    ] = False,
) -> None:
    """Run the pipeline in-process on a JSON Lines file: actions to stdout,
    rejects to stderr, a summary line last on stderr."""
    from reactor.replay import Replay, read_lines
    from reactor.runtime import tune_gc

    until_at = _instant_option(until, "--until")
    loaded = _load(config)
    tune_gc()
    out = sys.stdout.buffer
    err = sys.stderr.buffer

    def on_reject(record: dict[str, Any]) -> None:
        err.write(orjson.dumps(record) + b"\n")
        err.flush()

    sends: list[dict[str, Any]] = []

    def on_action(action: Action) -> None:
        out.write(action.to_json() + b"\n")
        if deliver and action.type == "target.send":
            sends.append(action.as_dict())

    runner = Replay(loaded, on_action=on_action, on_reject=on_reject, file_name=file)
    stream = _open_input(file)
    try:
        runner.feed_lines(read_lines(stream))
        runner.finish(until_at)
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()
        out.flush()
    summary = runner.summary()
    if deliver:
        summary["deliveries"] = asyncio.run(_deliver(sends, loaded, on_reject))
    err.write(orjson.dumps({"summary": summary}) + b"\n")
    err.flush()
    if (
        summary["rejected"]
        or summary["reaction_failures"]
        or summary.get("deliveries", {}).get("dead_letter")
    ):
        raise typer.Exit(1)


async def _deliver(sends: list[dict[str, Any]], loaded: Config, on_dead: Any) -> dict[str, int]:
    from reactor.delivery import Deliverer, HttpxSender, deliver_all, quiet_http_logs

    quiet_http_logs()

    sender = HttpxSender()
    try:
        return await deliver_all(sends, loaded.targets, Deliverer(sender), on_dead)
    finally:
        await sender.aclose()


@app.command()
def validate(config: ConfigOption = Path(".")) -> None:
    """Check the configuration; print `path:line:col: message` for each problem."""
    loaded = _load(config)
    typer.echo(
        f"ok: {len(loaded.reactions)} reactions, {len(loaded.automations)} automations, "
        f"{len(loaded.statuses)} statuses, {len(loaded.benefits)} benefits, "
        f"{len(loaded.targets)} targets (config {loaded.version})"
    )


@app.command()
def explain(
    event: Annotated[Path, typer.Option("--event", help="A file holding one event (JSON).", dir_okay=False)],
    config: ConfigOption = Path("."),
    history: Annotated[
        Path | None,
        typer.Option(help="JSON Lines events that happened before, to build the profile's state."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
) -> None:
    """For each reaction: matched or not, and the value of every sub-expression of `when`."""
    from reactor.explain import explain_event, render_text

    loaded = _load(config)
    try:
        raw = event.read_bytes().strip()
    except OSError as exc:
        raise _fail(f"cannot read {event}: {exc.strerror}", 2) from None
    history_stream = _open_input(str(history)) if history is not None else None
    try:
        report = explain_event(loaded, raw, history_stream, history_name=str(history or ""))
    except InvalidEvent as exc:
        raise _fail(
            f"{event}: {exc.message} (field `{exc.path}`)" if exc.path else f"{event}: {exc.message}"
        ) from None
    finally:
        if history_stream is not None:
            history_stream.close()
    if as_json:
        sys.stdout.buffer.write(orjson.dumps(report, option=orjson.OPT_INDENT_2) + b"\n")
    else:
        typer.echo(render_text(report))


def _settings(config: Path | None = None) -> Settings:
    from reactor.settings import Settings

    settings = Settings()
    if config is not None:
        settings = settings.model_copy(update={"config": config})
    return settings


def _kafka_errors() -> tuple[type[Exception], ...]:
    """What the Kafka commands turn into one line: ReactorError covers
    BrokerUnavailable, TopicError and PortInUse; KafkaException the rest."""
    from confluent_kafka import KafkaException

    from reactor.errors import ReactorError

    return (ReactorError, KafkaException)


def _kafka_failure(exc: Exception) -> typer.Exit:
    """A broker that cannot be reached, a topic that cannot be created, a port
    in use: one line, exit 1, no traceback (CONTRACT §11)."""
    from confluent_kafka import KafkaException

    if isinstance(exc, KafkaException):
        return _fail(f"Kafka: {exc.args[0].str()}")
    return _fail(str(exc))


@app.command()
def worker(config: ConfigOption = Path(".")) -> None:
    """Run the worker on Kafka (KAFKA_BOOTSTRAP_SERVERS, default localhost:9092):
    exactly-once by default; several workers share the partitions; /metrics
    and /healthz on the web port."""
    from reactor.kafka.run import run_worker
    from reactor.runtime import tune_gc

    loaded = _load(config)  # refuse to start on a bad configuration, with every problem listed
    tune_gc()
    try:
        run_worker(_settings(config), loaded)
    except _kafka_errors() as exc:
        raise _kafka_failure(exc) from None


@app.command()
def deliver(config: ConfigOption = Path(".")) -> None:
    """Run target delivery alone: read reactor.actions (read_committed) and
    POST each target.send payload (for workers started with REACTOR_DELIVER=false)."""
    from reactor.kafka.run import run_delivery

    loaded = _load(config)
    try:
        run_delivery(_settings(config), loaded)
    except _kafka_errors() as exc:
        raise _kafka_failure(exc) from None


@app.command()
def publish(
    file: Annotated[str, typer.Argument(help="JSON Lines events, or - for stdin.")],
    topic_from_type: Annotated[
        bool, typer.Option("--topic-from-type", help="Send each event to its type's topic (the default).")
    ] = True,
    topic: Annotated[
        str | None, typer.Option(help="Send every line, as it is, to this topic instead.")
    ] = None,
) -> None:
    """Send a JSON Lines file of events to Kafka, keyed by profile_id."""
    from reactor.kafka.publish import publish as send
    from reactor.replay import read_lines

    stream = _open_input(file)
    try:
        result = send(read_lines(stream), _settings(), topic)
    except _kafka_errors() as exc:
        raise _kafka_failure(exc) from None
    finally:
        if stream is not sys.stdin.buffer:
            stream.close()
    for number, reason in result.skipped:
        typer.echo(f"{file}:{number}: not sent: {reason}", err=True)
    topics = ", ".join(f"{n} to {t}" for t, n in sorted(result.by_topic.items()))
    typer.echo(f"sent {result.sent} events ({topics or 'none'})", err=True)
    if result.skipped:
        raise typer.Exit(1)


deliveries = typer.Typer(help="The deliveries dead-letter topic.", no_args_is_help=True)
app.add_typer(deliveries, name="deliveries")


@deliveries.command("retry")
def deliveries_retry(
    config: ConfigOption = Path("."),
    target: Annotated[str | None, typer.Option(help="Only this target's dead letters.")] = None,
) -> None:
    """Send again the deliveries in reactor.deliveries.dlq (after a fix on the
    platform's side). What fails again goes back to the dead-letter topic."""
    from reactor.delivery import quiet_http_logs
    from reactor.kafka.deliveries import retry_dead_letters
    from reactor.kafka.errors import check_reachable
    from reactor.kafka.topics import admin_client

    loaded = _load(config)
    settings = _settings(config)
    quiet_http_logs()
    try:
        check_reachable(admin_client(settings), settings.bootstrap_servers, settings.connect_timeout)
        result = retry_dead_letters(settings, loaded, target, log=lambda m: typer.echo(m, err=True))
    except _kafka_errors() as exc:
        raise _kafka_failure(exc) from None
    if result.counts["dead_letter"]:
        raise typer.Exit(1)


def main() -> None:
    app()
