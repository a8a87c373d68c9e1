"""Hostile events, field by field: every line is accounted for, none crashes.

The lines come from `tests/hostile.py`, where each one carries the outcome the
contract and `reactor.limits` give it, worked out by hand (a blank line, an
event, or a dead letter with its code and field), and from hypothesis
strategies whose expected outcome follows from the stated bounds. Replay runs
in-process here for speed; tests/cli/test_hostile_cli.py runs the corpus and a
few of these through `reactor replay` as a process.
"""

from __future__ import annotations

import base64
import io
import math
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import hostile
from hostile import BLANK, EVENT, Expect, Raw, reject
from reactor.config import Config, load_config
from reactor.limits import EVENT_BYTES_MAX
from reactor.replay import Replay, read_lines
from support import write_config

FIELD_CASES = hostile.field_cases()
RAW_CASES = hostile.raw_cases(10**6)
#: Line 1 of every replayed stream: a valid event behind a UTF-8 byte order
#: mark, which is dropped at the start of a stream (and only there).
FIRST = b"\xef\xbb\xbf" + hostile.valid_line(0, "p-h1")


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> Config:
    return load_config(write_config(tmp_path_factory.mktemp("hostile"), hostile.CONFIG))


def replay(config: Config, lines: list[bytes]) -> tuple[list[bytes], list[dict[str, Any]], dict[str, Any]]:
    """Replay `lines` (framed as a file: one newline after each) as the CLI
    does; the actions as JSON, the dead letters and the summary."""
    actions: list[bytes] = []
    rejects: list[dict[str, Any]] = []
    runner = Replay(
        config, on_action=lambda a: actions.append(a.to_json()), on_reject=rejects.append, file_name="f"
    )
    stream = io.BytesIO(b"".join(line + b"\n" for line in lines))
    runner.feed_lines(read_lines(stream, blank=True))
    runner.finish("2200-12-31T23:59:59Z")
    return actions, rejects, runner.summary()


def check_accounting(config: Config, cases: list[tuple[bytes, Expect]]) -> dict[str, Any]:
    """Replay `cases` after `FIRST` and check that each line had its expected
    outcome and that the summary accounts for every line."""
    lines = [FIRST] + [line for line, _ in cases]
    expected = [EVENT] + [expect for _, expect in cases]
    actions, rejects, summary = replay(config, lines)

    line_rejects = [r for r in rejects if "line" in r["source"] and "reaction_id" not in r]
    by_line = {r["source"]["line"]: r for r in line_rejects}
    assert len(by_line) == len(line_rejects), "a line was dead-lettered twice"
    for number, (line, expect) in enumerate(zip(lines, expected, strict=True), start=1):
        record = by_line.get(number)
        if expect.kind == "reject":
            assert record is not None, f"line {number} ({line[:80]!r}) should be rejected: {expect}"
            assert (record["error"]["code"], record["error"]["path"]) == (expect.code, expect.path), (
                number,
                record["error"],
            )
            # The original bytes, exactly; of a line past the bound, its first bytes.
            raw = line.rstrip(b"\r\n")[: EVENT_BYTES_MAX + 1]
            kept = (
                base64.b64decode(record["raw_base64"]) if "raw_base64" in record else record["raw"].encode()
            )
            assert kept == raw
            assert record["source"]["file"] == "f"
        else:
            assert record is None, f"line {number} ({line[:80]!r}) was rejected: {record and record['error']}"

    kinds = [e.kind for e in expected]
    assert summary["lines"] == len(lines)
    assert summary["blank"] == kinds.count("blank")
    assert summary["rejected"] == kinds.count("reject") == len(line_rejects)
    assert summary["processed"] + summary["duplicates"] == kinds.count("event")
    assert summary["lines"] == (
        summary["blank"] + summary["processed"] + summary["duplicates"] + summary["rejected"]
    )
    assert summary["internal_errors"] == 0
    assert not [r for r in rejects if r["error"]["code"] == "internal_error"]
    for action in actions:  # every action is JSON that reads back
        assert isinstance(orjson.loads(action), dict)
    orjson.dumps(summary)
    return summary


def test_every_hand_made_field_case_has_its_outcome(config: Config) -> None:
    """All the cases of tests/hostile.py at once, each field of each event type."""
    cases = [
        (hostile.build(kind, n, f"p-h{n % 5}", path, value), expect)
        for n, (kind, path, value, expect) in enumerate(FIELD_CASES, start=1)
    ]
    redemptions = [
        (hostile.build(kind, 10**5 + n, hostile.EMPTY_PROFILE, path, value), expect)
        for n, (kind, path, value, expect) in enumerate(hostile.redemption_cases())
    ]
    summary = check_accounting(config, cases + RAW_CASES + redemptions)
    # Valid events with extreme values ran reactions that failed for their
    # range (points past ±2^53, a reward past ±10^12), not the run.
    assert summary["reaction_failures"] > 0


# --- generated values, each with the outcome the bounds give it ----------------------


def _rfc3339(moment: datetime, offset_minutes: int, fraction: str) -> str:
    sign = "-" if offset_minutes < 0 else "+"
    hours, minutes = divmod(abs(offset_minutes), 60)
    return (
        f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T{moment.hour:02d}:{moment.minute:02d}:"
        f"{moment.second:02d}{fraction}{sign}{hours:02d}:{minutes:02d}"
    )


@st.composite
def times(draw: st.DrawFn) -> tuple[str, bool]:
    """An RFC 3339 instant anywhere in years 1-9999 with any offset; whether it
    lies in years 1900-2200 once in UTC."""
    local = draw(st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)))
    local = draw(st.sampled_from([local, datetime(1900, 1, 1), datetime(2200, 12, 31, 23, 59, 59)]))
    offset = draw(st.integers(-(24 * 60 - 1), 24 * 60 - 1))
    fraction = draw(st.sampled_from(["", ".5", ".123456789"]))
    utc = local - timedelta(minutes=offset)  # years 1-9999 minus a day at most: no overflow
    return _rfc3339(local, offset, fraction), 1900 <= utc.year <= 2200


@st.composite
def generated_case(draw: st.DrawFn) -> tuple[bytes, Expect]:
    n = draw(st.integers(10**7, 10**8))
    field = draw(st.sampled_from(["occurred_at", "transacted_at", "total", "id", "tags", "depth", "bytes"]))
    if field in ("occurred_at", "transacted_at"):
        text, fits = draw(times())
        kind = "transaction.created" if field == "transacted_at" else draw(st.sampled_from(hostile.KINDS))
        path = ["data", "transaction", "transacted_at"] if field == "transacted_at" else ["occurred_at"]
        where = "data.transaction.transacted_at" if field == "transacted_at" else "occurred_at"
        return hostile.build(kind, n, "p-g", path, text), EVENT if fits else reject("out_of_range", where)
    if field == "total":
        number = draw(st.floats() | st.integers(-(10**30), 10**30))
        path, where = ["data", "transaction", "total"], "data.transaction.total"
        if isinstance(number, float) and not math.isfinite(number):
            # JSON has no NaN or infinity; written out, no JSON reader takes them.
            raw = Raw({"inf": "Infinity", "-inf": "-Infinity"}.get(str(number), "NaN"))
            return hostile.build("transaction.created", n, "p-g", path, raw), reject("invalid_json")
        fits = -1e12 <= float(number) <= 1e12
        line = hostile.build("transaction.created", n, "p-g", path, Raw(repr(number)))
        return line, EVENT if fits else reject("out_of_range", where)
    if field == "id":
        text = draw(st.text(max_size=300) | st.text(min_size=250, max_size=260))
        kind = draw(st.sampled_from(hostile.KINDS))
        expect = reject("invalid_value", "id") if not text else EVENT
        expect = reject("too_large", "id") if len(text) > 256 else expect
        return hostile.build(kind, n, "p-g", ["id"], text), expect
    if field == "tags":
        count = draw(st.integers(0, 1_500))
        tags = [draw(st.text(max_size=3))] * count
        expect = EVENT if count <= 1_000 else reject("too_large", "data.profile.tags")
        return hostile.build("profile.updated", n, "p-g", ["data", "profile", "tags"], tags), expect
    if field == "depth":
        levels = draw(st.integers(1, 300))
        value: Any = 1
        for _ in range(levels):
            value = [value]
        # The field's outermost list is level 2 of the event, its innermost level 1 + levels.
        expect = EVENT if 1 + levels <= 64 else reject("too_large")
        return hostile.build("profile.deleted", n, "p-g", ["nested"], value), expect
    data = draw(st.binary(max_size=300)).replace(b"\n", b" ")
    if not data.strip(b" \t\r"):
        return data, BLANK
    # Arbitrary bytes are no event (the odds of one are nil): a dead letter of some kind.
    return data, Expect("reject?")


@st.composite
def hostile_cases(draw: st.DrawFn) -> list[tuple[bytes, Expect]]:
    made = draw(
        st.lists(
            st.one_of(
                st.sampled_from(range(len(FIELD_CASES))).map(lambda i: ("field", i)),
                st.sampled_from(RAW_CASES).map(lambda c: ("raw", c)),
                generated_case().map(lambda c: ("raw", c)),
            ),
            min_size=1,
            max_size=12,
        )
    )
    cases = []
    for n, (kind, case) in enumerate(made, start=1):
        if kind == "field":
            event_type, path, value, expect = FIELD_CASES[case]
            cases.append(
                (hostile.build(event_type, n, draw(st.sampled_from(["p-1", "p-2"])), path, value), expect)
            )
        else:
            cases.append(case)
    if cases and draw(st.booleans()):  # the same line again: a duplicate, or the same reject
        cases.append(cases[draw(st.integers(0, len(cases) - 1))])
    return cases


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)
@given(hostile_cases())
def test_no_hostile_line_crashes_replay_and_every_line_is_accounted_for(
    config: Config, cases: list[tuple[bytes, Expect]]
) -> None:
    known = [(line, expect) for line, expect in cases if expect.kind != "reject?"]
    summary = check_accounting(config, known)
    if len(known) < len(cases):  # arbitrary bytes: some dead letter, whichever
        summary_all = replay(config, [FIRST] + [line for line, _ in cases])[2]
        assert summary_all["rejected"] == summary["rejected"] + len(cases) - len(known)
        assert summary_all["internal_errors"] == 0


def test_a_line_past_one_mebibyte_is_rejected_unread_and_the_run_goes_on(config: Config) -> None:
    huge = hostile.build("profile.deleted", 1, "p-1", ["padding"], "x" * (1_048_576 + 10))
    summary = check_accounting(config, [(huge, reject("too_large")), (hostile.valid_line(2, "p-1"), EVENT)])
    assert summary["processed"] == 2


def test_the_raw_text_of_a_line_past_one_mebibyte_is_its_first_mebibyte(config: Config) -> None:
    huge = b'{"id": "' + b"x" * 3_000_000 + b'"}'
    rejects = replay(config, [huge, b"{}"])[1]
    assert [r["source"]["line"] for r in rejects] == [1, 2]
    assert rejects[0]["error"] == {
        "code": "too_large",
        "message": "the event is longer than 1,048,576 bytes",
        "path": "",
    }
    assert rejects[0]["raw"].encode() == huge[: 1_048_576 + 1]


def test_blank_lines_are_counted_not_dropped(config: Config, tmp_path: Path) -> None:
    summary = check_accounting(config, [(b"", BLANK), (b" \t ", BLANK), (b"\r", BLANK)])
    assert (summary["lines"], summary["blank"], summary["processed"]) == (4, 3, 1)


def test_a_byte_order_mark_is_dropped_only_at_the_start_of_the_stream(config: Config) -> None:
    bom = b"\xef\xbb\xbf"
    _, rejects, summary = replay(config, [bom + hostile.valid_line(1, "p"), bom + hostile.valid_line(2, "p")])
    assert summary["processed"] == 1
    assert [(r["source"]["line"], r["error"]["code"]) for r in rejects] == [(2, "invalid_json")]
    assert (
        "byte order mark" in rejects[0]["error"]["message"].lower() or "BOM" in rejects[0]["error"]["message"]
    )
