"""The `reactor` command: parse arguments, load config, call the core.

Exit codes: 0 success, 1 invalid input or configuration, 2 usage error.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
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
    from reactor.diff import DiffResult
    from reactor.replay import Replay
    from reactor.settings import Settings
    from reactor.streams import Input, Output

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
    report: Annotated[
        Path | None,
        typer.Option(
            "--report", help="Also write a self-contained HTML report of what fired.", dir_okay=False
        ),
    ] = None,
) -> None:
    """Run the pipeline in-process on a JSON Lines file: actions to stdout,
    rejects to stderr, a summary line last on stderr."""
    from reactor.replay import Replay
    from reactor.report.tally import Tally
    from reactor.runtime import tune_gc
    from reactor.streams import Output, open_input

    until_at = _instant_option(until, "--until")
    if report is not None:
        _check_writable(report, "--report")
    loaded = _load(config)
    tune_gc()
    tally = Tally() if report is not None else None
    try:
        source = open_input(file)
    except OSError as exc:
        raise _fail(f"cannot read {file}: {exc.strerror}", 2) from None
    output = Output(sys.stdout.buffer, sys.stderr.buffer)
    sends: list[dict[str, Any]] = []

    def on_reject(record: dict[str, Any]) -> None:
        output.reject(orjson.dumps(record) + b"\n")

    def on_action(action: Action) -> None:
        output.action(action.to_json() + b"\n")
        if deliver and action.type == "target.send":
            sends.append(action.as_dict())
        if tally is not None:
            tally.add(action)

    runner = Replay(loaded, on_action=on_action, on_reject=on_reject, file_name=file)
    stopped = _feed(runner, source, output, until_at)
    runner.stats.blank = source.blank  # the input counted them: they never reach the runner
    summary = runner.summary()
    summary["reordered"] = source.reordered
    if stopped is not None:
        typer.echo(f"reactor: {stopped[0]} (after {summary['lines']:,} lines of {file})", err=True)
        if stopped[1] == 130:
            summary["interrupted"] = True
    elif deliver:
        summary["deliveries"] = asyncio.run(_deliver(sends, loaded, on_reject))
        output.flush()
    if stopped is None and report is not None and tally is not None:
        from reactor.report.html import replay_report

        tally.close(runner.clock)
        _write_report(report, replay_report(summary, tally, config=loaded, file=file))
    sys.stderr.buffer.write(orjson.dumps({"summary": summary}) + b"\n")
    sys.stderr.buffer.flush()
    if stopped is not None:
        raise typer.Exit(stopped[1])
    if (
        summary["rejected"]
        or summary["reaction_failures"]
        or summary["internal_errors"]
        or summary.get("deliveries", {}).get("dead_letter")
    ):
        raise typer.Exit(1)


def _feed(runner: Replay, source: Input, output: Output, until: str | None) -> tuple[str, int] | None:
    """Run every line of `source`, then the time-driven work up to `until`.
    None when it ran to the end; else why it stopped and the exit code: Ctrl-C
    (130), a closed stdout, a read error, or a bug, each said in one line
    before the summary of what was done, never as a traceback."""
    from reactor.streams import Progress, live

    progress = Progress(sys.stderr.buffer, None)
    stopped: tuple[str, int] | None = None
    try:
        lines = source.lines()
        progress.total = source.total
        if not source.sorted_whole:
            lines = live(lines, output)
        for count, (number, raw) in enumerate(lines, start=1):
            runner.feed(raw, {"file": source.name, "line": number})
            if not count & 1023:
                progress.update(count, runner.clock)
        runner.finish(until)
    except KeyboardInterrupt:
        stopped = ("interrupted", 130)  # CONTRACT §11: Ctrl-C prints the summary of what was done
    except BrokenPipeError:
        stopped = _closed_stdout()  # the flush below writes what is left of stderr's share
    except OSError as exc:
        stopped = (f"cannot read {source.name}: {exc.strerror or exc}", 1)
    except Exception as exc:  # a bug: say so in one line, and still summarise
        stopped = (f"internal error: {type(exc).__name__}: {exc}", 1)
    finally:
        progress.clear()
        try:
            output.flush()
        except BrokenPipeError:
            closed = _closed_stdout()
            stopped = stopped or closed
            output.flush()  # stdout is /dev/null now: the dead letters still reach stderr
        if source.stream is not sys.stdin.buffer:
            source.stream.close()
    return stopped


def _closed_stdout() -> tuple[str, int]:
    """stdout was closed (`reactor replay ... | head`): what is still buffered for
    it goes to /dev/null, so that Python's own flush at exit does not fail too."""
    os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return ("stdout was closed before the end of the replay", 1)


def _check_writable(path: Path, option: str) -> None:
    """Fail before a long run, not after it, when `path` cannot be written."""
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir() or not os.access(parent, os.W_OK):
        raise _fail(f"{option} {path}: cannot write there (no such directory, or not writable)", 2)


def _write_report(path: Path, html: str) -> None:
    """Write the whole file or nothing (a temporary file renamed into place)."""
    temporary = path.with_name(f".{path.name}.tmp")
    try:
        temporary.write_text(html, encoding="utf-8")
        temporary.replace(path)
    except OSError as exc:
        temporary.unlink(missing_ok=True)
        raise _fail(f"cannot write {path}: {exc.strerror}") from None


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
        f"{len(loaded.reminders)} reminders, "
        f"{len(loaded.statuses)} statuses, {len(loaded.benefits)} benefits, "
        f"{len(loaded.targets)} targets, {len(loaded.tiers)} tier programs, "
        f"{len(loaded.achievements)} achievements, {len(loaded.point_kinds)} point kinds "
        f"(config {loaded.version})"
    )


@app.command()
def explain(
    event: Annotated[
        str | None, typer.Option("--event", help="A file holding one event (JSON), or - for stdin.")
    ] = None,
    config: ConfigOption = Path("."),
    history: Annotated[
        Path | None,
        typer.Option(help="JSON Lines events that happened before, to build the profile's state."),
    ] = None,
    at: Annotated[
        str | None,
        typer.Option("--at", help="Explain the automations as a tick at this time would run them."),
    ] = None,
    profile: Annotated[
        str | None, typer.Option("--profile", help="The profile for --at (default: the event's).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of text.")] = False,
) -> None:
    """For each reaction: matched or not, the value of every sub-expression of
    `when` and of each `filter`, limits and caps; with --at, the automations."""
    from reactor.explain import explain_automations, explain_event, render_text

    at_instant = _instant_option(at, "--at")
    if event is None and at_instant is None:
        raise _fail("give --event FILE (or - for stdin), or --at TIME for the automations", 2)
    loaded = _load(config)
    past = _read_history(history)
    report: dict[str, Any] = {}
    if event is not None:
        raw = _read_event(event)
        try:
            report.update(explain_event(loaded, raw, io.BytesIO(past), history_name=str(history or "")))
        except InvalidEvent as exc:
            where = "stdin" if event == "-" else event
            detail = f" (field `{exc.path}`)" if exc.path else ""
            raise _fail(f"{where}: {exc.message}{detail}") from None
    if at_instant is not None:
        profile_id = profile or (report["event"]["profile_id"] if "event" in report else None)
        if profile_id is None:
            raise _fail("--at needs --profile ID (or an --event whose profile it explains)", 2)
        report.update(
            explain_automations(loaded, profile_id, at_instant, io.BytesIO(past), str(history or ""))
        )
    if as_json:
        sys.stdout.buffer.write(orjson.dumps(report, option=orjson.OPT_INDENT_2) + b"\n")
    else:
        typer.echo(render_text(report))


def _read_event(name: str) -> bytes:
    if name == "-":
        return sys.stdin.buffer.read().strip()
    try:
        return Path(name).read_bytes().strip()
    except OSError as exc:
        raise _fail(f"cannot read {name}: {exc.strerror}", 2) from None


def _read_history(history: Path | None) -> bytes:
    if history is None:
        return b""
    try:
        return history.read_bytes()
    except OSError as exc:
        raise _fail(f"cannot read {history}: {exc.strerror}", 2) from None


@app.command()
def diff(
    file: Annotated[str, typer.Argument(help="JSON Lines events, or - for stdin.")],
    base: Annotated[
        Path, typer.Option("--base", help="The configuration root before the change.", file_okay=False)
    ],
    config: ConfigOption = Path("."),
    until: Annotated[
        str | None, typer.Option(help="Run expiries and automations up to this time after the last event.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of text.")] = False,
    show_all: Annotated[
        bool, typer.Option("--all", help="Show every row, not only those that differ.")
    ] = False,
    html: Annotated[
        Path | None,
        typer.Option("--html", help="Also write a self-contained HTML report, side by side.", dir_okay=False),
    ] = None,
) -> None:
    """Replay FILE under the --base configuration and under --config, and
    report what the change does: per reaction, per action type, per profile."""
    import tempfile

    from reactor.diff import as_dict, run_diff
    from reactor.report.text import render_diff_text
    from reactor.runtime import tune_gc
    from reactor.streams import open_input

    until_at = _instant_option(until, "--until")
    if html is not None:
        _check_writable(html, "--html")
    loaded: list[Config] = []
    for root in (base, config):
        with contextlib.suppress(typer.Exit):  # reported; check the other one too, then stop
            loaded.append(_load(root))
    if len(loaded) != 2:
        raise typer.Exit(1)
    tune_gc()
    err = sys.stderr.buffer

    def on_reject(record: dict[str, Any], side: str) -> None:
        # A bad line is the same under both: say it once. A failed reaction
        # says which configuration it failed under.
        if "reaction_id" in record:
            record = {**record, "config": side}
        elif side != "base":
            return
        err.write(orjson.dumps(record) + b"\n")
        err.flush()

    with tempfile.TemporaryDirectory(prefix="reactor-diff-") as spool:
        # Both runs need the whole input, in `occurred_at` order as replay runs a
        # file, and the HTML a second pass: standard input is kept in a file.
        name = file
        if file == "-":
            name = str(Path(spool) / "stdin.jsonl")
            Path(name).write_bytes(sys.stdin.buffer.read())
        try:
            source = open_input(name)
        except OSError as exc:
            raise _fail(f"cannot read {file}: {exc.strerror}", 2) from None
        with source.stream:
            result = run_diff(
                loaded[0],
                loaded[1],
                source.lines(),
                file_name=file,
                until=until_at,
                base_root=base,
                new_root=config,
                on_reject=on_reject,
                keep=100 if html is not None else 10,
            )
        for side in (result.base, result.new):
            side.summary["blank"], side.summary["reordered"] = source.blank, source.reordered
        if html is not None:
            _write_diff_html(html, result, loaded, name)
    if as_json:
        sys.stdout.buffer.write(orjson.dumps(as_dict(result), option=orjson.OPT_INDENT_2) + b"\n")
    else:
        typer.echo(render_diff_text(result, show_all), nl=False)


def _write_diff_html(path: Path, result: DiffResult, loaded: list[Config], name: str) -> None:
    """The diff's HTML report, with each listed profile's actions under both
    configurations from a second replay of their own lines (of file `name`)."""
    from reactor.diff import check_profile_actions, profile_actions
    from reactor.report.html import PROFILES_SHOWN, diff_report
    from reactor.streams import open_input

    listed = [p.profile_id for p in result.profiles[:PROFILES_SHOWN]]
    actions = {}
    for side_name, side_config in (("base", loaded[0]), ("new", loaded[1])):
        again = open_input(name)
        with again.stream:
            actions[side_name] = profile_actions(
                side_config, again.lines(), listed, result.clock, file_name=result.file
            )
    try:
        check_profile_actions(result, actions)
    except RuntimeError as exc:
        raise _fail(str(exc)) from None
    _write_report(path, diff_report(result, actions))


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
