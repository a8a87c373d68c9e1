"""Write the hostile regression corpus: `hostile.jsonl` and, line for line, the
outcome each line must have in `hostile.expected.jsonl`.

Run once (`python tests/corpus/make_hostile.py`); the files are kept in the
repository, so the same lines are replayed by every run of
tests/cli/test_hostile_cli.py even if the generators in tests/hostile.py change.
Every expectation comes from tests/hostile.py (worked out by hand from the
contract and `reactor.limits`) or, for the random values below, from the
stated bounds directly; none comes from running reactor. Seeded: running it
again writes the same bytes.
"""

from __future__ import annotations

import random
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import hostile  # noqa: E402
from hostile import BLANK, EVENT, Expect, Raw, reject  # noqa: E402

SEED = 2026
RANDOM_LINES = 2_500
PROFILES = [f"p-{n:02d}" for n in range(20)]


def random_time(rng: random.Random) -> tuple[str, bool]:
    """An RFC 3339 instant in years 1-9999 with any offset; whether its UTC
    instant lies in years 1900-2200."""
    year = rng.choice([rng.randint(1, 9999), rng.randint(1890, 2210), 1900, 2200, 1899, 2201])
    local = datetime(year, rng.randint(1, 12), rng.randint(1, 28), rng.randint(0, 23), rng.randint(0, 59))
    offset = rng.choice([0, rng.randint(-1439, 1439)])
    sign = "-" if offset < 0 else "+"
    text = (
        f"{local.year:04d}-{local:%m-%dT%H:%M}:{rng.randint(0, 59):02d}{rng.choice(['', '.5', '.123456789'])}"
        f"{sign}{abs(offset) // 60:02d}:{abs(offset) % 60:02d}"
    )
    try:
        utc = local - timedelta(minutes=offset)
    except OverflowError:  # before year 1: far out of range
        return text, False
    return text, 1900 <= utc.year <= 2200


def random_total(rng: random.Random) -> tuple[Raw, bool]:
    """A JSON number for a total; whether it is within ±10^12."""
    if rng.random() < 0.3:
        number: float | int = rng.randint(-(10**30), 10**30) // 10 ** rng.randint(0, 30)
    else:
        number = rng.uniform(-1, 1) * 10 ** rng.randint(-5, 20)
    return Raw(repr(number)), -1e12 <= float(number) <= 1e12


_ID_CHARS = "abcXYZ019-_.:/ é中🎉\u0000\u202e\t"


def random_case(rng: random.Random, n: int) -> tuple[bytes, Expect]:
    profile = rng.choice(PROFILES)
    field = rng.choice(["time", "total", "id", "tags", "depth", "bytes", "valid", "valid", "valid"])
    if field == "time":
        text, fits = random_time(rng)
        if rng.random() < 0.5:
            kind, path, where = rng.choice(hostile.KINDS), ["occurred_at"], "occurred_at"
        else:
            kind = "transaction.created"
            path, where = ["data", "transaction", "transacted_at"], "data.transaction.transacted_at"
        return hostile.build(kind, n, profile, path, text), EVENT if fits else reject("out_of_range", where)
    if field == "total":
        raw, fits = random_total(rng)
        line = hostile.build("transaction.created", n, profile, ["data", "transaction", "total"], raw)
        return line, EVENT if fits else reject("out_of_range", "data.transaction.total")
    if field == "id":
        length = rng.choice([0, rng.randint(1, 40), rng.randint(250, 262)])
        text = "".join(rng.choice(_ID_CHARS) for _ in range(length))
        expect = EVENT if 1 <= length <= 256 else reject("invalid_value" if not length else "too_large", "id")
        return hostile.build(rng.choice(hostile.KINDS), n, profile, ["id"], text), expect
    if field == "tags":
        count = rng.choice([rng.randint(0, 50), rng.randint(990, 1010)])
        tags = [rng.choice(["a", "b", "é", ""]) for _ in range(count)]
        expect = EVENT if count <= 1_000 else reject("too_large", "data.profile.tags")
        return hostile.build("profile.updated", n, profile, ["data", "profile", "tags"], tags), expect
    if field == "depth":
        levels = rng.choice([rng.randint(1, 70), rng.randint(60, 66)])
        value: Any = 1
        for _ in range(levels):
            value = [value]
        # The field's outermost list is level 2 of the event; its innermost level 1 + levels.
        expect = EVENT if 1 + levels <= 64 else reject("too_large")
        return hostile.build("profile.deleted", n, profile, ["nested"], value), expect
    if field == "bytes":
        data = bytes(rng.randrange(256) for _ in range(rng.randint(1, 120))).replace(b"\n", b"\x00")
        if not data.strip(b" \t\r"):
            return data, BLANK
        return data, Expect("reject")  # any code: no oracle says which, only that it is one
    kind = rng.choice(hostile.KINDS)
    return hostile.valid_line(n, profile, kind), EVENT


def corpus() -> list[tuple[bytes, Expect]]:
    rng = random.Random(SEED)
    cases: list[tuple[bytes, Expect]] = [(b"\xef\xbb\xbf" + hostile.valid_line(0, PROFILES[0]), EVENT)]
    n = 1
    for kind, path, value, expect in hostile.field_cases(scale=0.05):
        cases.append((hostile.build(kind, n, rng.choice(PROFILES), path, value), expect))
        n += 1
    cases.extend(hostile.raw_cases(n))
    n += 100
    for kind, path, value, expect in hostile.redemption_cases():
        cases.append((hostile.build(kind, n, hostile.EMPTY_PROFILE, path, value), expect))
        n += 1
    for _ in range(RANDOM_LINES):
        cases.append(random_case(rng, n))
        n += 1
    # Some lines again, as upstream re-sends them: duplicates of events, and rejects again.
    for _ in range(100):
        cases.append(cases[rng.randrange(1, len(cases))])
    first, rest = cases[0], cases[1:]
    rng.shuffle(rest)
    # Blank lines here and there, and the far end of the time range last, so the
    # replay's clock crosses 2026 to 2200 once (one tick of the century automation).
    for _ in range(40):
        rest.insert(rng.randrange(len(rest)), rng.choice([(b"", BLANK), (b"  \t", BLANK), (b"\r", BLANK)]))
    latest = hostile.build("profile.deleted", n, PROFILES[1], ["occurred_at"], hostile.LATEST)
    return [first, *rest, (latest, EVENT)]


def main() -> None:
    cases = corpus()
    for line, _ in cases:
        assert b"\n" not in line
    (HERE / "hostile.jsonl").write_bytes(b"".join(line + b"\n" for line, _ in cases))
    (HERE / "hostile.expected.jsonl").write_bytes(
        b"".join(orjson.dumps({"line": i, **e.as_dict()}) + b"\n" for i, (_, e) in enumerate(cases, 1))
    )
    print(f"{len(cases)} lines, {sum(len(line) + 1 for line, _ in cases):,} bytes")


if __name__ == "__main__":
    main()
