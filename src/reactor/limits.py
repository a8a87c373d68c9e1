"""The ranges reactor accepts, in one place: times, numbers, sizes.

Every bound below is checked where input enters (an event at decode, the
configuration at load) with an error that names the field, so that nothing
past it can reach date arithmetic, JSON output or the rule engine and fail
there. A value computed at run time (a reward amount, points) that leaves its
range fails its reaction (`out_of_range`), never the run. The README's
"Limits" section lists the same bounds and says why each was chosen.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Iterator
from datetime import timedelta
from typing import Any, Final

from reactor.errors import RuleError

__all__ = [
    "AMOUNT_MAX",
    "CONFIG_ENTRIES_MAX",
    "CONFIG_FILES_MAX",
    "CONFIG_FILE_BYTES_MAX",
    "CONFIG_NODES_MAX",
    "CONFIG_TOTAL_BYTES_MAX",
    "DURATION_MAX",
    "DURATION_MAX_DAYS",
    "EVENT_BYTES_MAX",
    "EVENT_DEPTH_MAX",
    "EVENT_ID_MAX",
    "EVENT_LIST_MAX",
    "EXTRA_DAYS_MAX",
    "INTEGER_MAX",
    "MULTIPLIER_MAX",
    "NAME_MAX",
    "PATH_MAX",
    "POINTS_MAX",
    "RULE_NODES_MAX",
    "RULE_STRING_MAX",
    "URL_MAX",
    "YAML_DEPTH_MAX",
    "YAML_LINE_MAX",
    "YAML_MERGES_MAX",
    "YEARLY_OFFSET_MAX",
    "YEAR_MAX",
    "YEAR_MIN",
    "OutOfRange",
    "amount_in_range",
    "control_character",
    "describe_number",
    "json_number_problems",
    "points_in_range",
    "rule_problems",
]

# --- times ---------------------------------------------------------------------

#: Event times, `--until` and automation `at` lie in these years (UTC, inclusive).
#: Far enough for any loyalty history or plan; near enough that the furthest
#: date arithmetic (an instant plus 100 years of duration plus 100 years of extra
#: days, or minus the 365-day window) stays well inside Python's years 1-9999.
YEAR_MIN: Final = 1900
YEAR_MAX: Final = 2200
#: The longest duration (`window`, `valid_for`, `default_duration`, `every`, a
#: status.apply `duration`): 100 years, counted as 36,525 days.
DURATION_MAX_DAYS: Final = 36_525
DURATION_MAX: Final = timedelta(days=DURATION_MAX_DAYS)
#: `reward_extra_days` and `benefit_extra_days` are at most 100 years too.
EXTRA_DAYS_MAX: Final = DURATION_MAX_DAYS
#: A birthday reminder's `before` or `after`: at most a year (365 days).
YEARLY_OFFSET_MAX: Final = timedelta(days=365)

# --- numbers -------------------------------------------------------------------

#: Integers, in events' totals and points and anywhere in the configuration,
#: are exact in a double (and so in every JSON reader, RFC 7493): within ±2^53.
INTEGER_MAX: Final = 2**53
#: Points (one award, and a balance) are whole numbers within ±2^53.
POINTS_MAX: Final = INTEGER_MAX
#: Amounts (a transaction's `total`, a reward's `amount`) are finite and within
#: ±10^12. Cents stay exact in a double up to 9·10^13, so sums of many such
#: amounts stay exact to the cent; and 10^12 times the largest multiplier stays
#: within the ±2^53 of points, so points taken from a total cannot overflow.
AMOUNT_MAX: Final = 1e12
#: `tier_points_multiplier` and `reward_points_multiplier`: above 0, at most 1000.
MULTIPLIER_MAX: Final = 1000.0

# --- events --------------------------------------------------------------------

#: One event (a Kafka message or a line of a replay file) is at most 1 MiB,
#: Kafka's default `message.max.bytes`; a longer replay line is read no further.
EVENT_BYTES_MAX: Final = 1_048_576
#: Objects and lists nest at most 64 deep in an event (orjson writes 255 at most,
#: and a profile's state holds the snapshot a few levels down).
EVENT_DEPTH_MAX: Final = 64
#: `id`, `profile_id`, a transaction's `id` and `system`: at most 256 characters.
EVENT_ID_MAX: Final = 256
#: Lists a profile's state keeps (a snapshot's `tags`, `statuses`): at most 1,000 entries.
EVENT_LIST_MAX: Final = 1_000

# --- configuration -------------------------------------------------------------

#: YAML files under `reactions/` and `targets/`.
CONFIG_FILES_MAX: Final = 1_000
#: Bytes of one YAML or template file, and of all of them together: ruamel.yaml
#: reads some 35-60 KB/s of YAML on this project's machine, so a root at the
#: bound takes 10-15 s to load, and a real programme's (the sample is 10 KB)
#: well under a second.
CONFIG_FILE_BYTES_MAX: Final = 262_144
CONFIG_TOTAL_BYTES_MAX: Final = 524_288
#: Bytes of one line of a YAML file: ruamel.yaml's comment scanner is quadratic
#: in a line's length (a 900 KB comment line took 38 s).
YAML_LINE_MAX: Final = 20_000
#: Merge keys (`<<: *anchor`) in one YAML file: ruamel.yaml is quadratic in the
#: uses of one anchor as a merge (2,000 of them took 19 s; 100 take 0.1 s).
YAML_MERGES_MAX: Final = 100
#: YAML nodes (mappings, lists, scalars) in the whole root, counted with every
#: alias expanded: what a "billion laughs" file would grow to is refused.
CONFIG_NODES_MAX: Final = 500_000
#: Mappings and lists nest at most this deep in a YAML file.
YAML_DEPTH_MAX: Final = 64
#: Entries (statuses, benefits, reactions, automations, targets together): each
#: reaction costs every event of its type a rule evaluation (2,000 of them add
#: about 3 ms to an event here) and takes some 5 ms to load.
CONFIG_ENTRIES_MAX: Final = 2_000
#: Nodes of one rule (`when`, a filter, an amount or points expression), and
#: characters of one string in it: a rule runs on every event.
RULE_NODES_MAX: Final = 10_000
RULE_STRING_MAX: Final = 10_000
#: Characters of an id, handle, tag, name, time zone, cron or template path.
NAME_MAX: Final = 256
PATH_MAX: Final = 1_024
#: Characters of a target URL.
URL_MAX: Final = 2_048


class OutOfRange(ValueError):
    """Raised when a value is of the right type but outside its stated range."""


def control_character(text: str, allowed: str = "") -> str | None:
    """The first control character (Unicode category Cc, or a line or paragraph
    separator) in `text` that is not in `allowed`, written as U+XXXX; else None."""
    for char in text:
        if char not in allowed and (unicodedata.category(char) in ("Cc", "Zl", "Zp")):
            return f"U+{ord(char):04X}"
    return None


def describe_number(value: float) -> str:
    """A number as a user wrote it in YAML: `.inf`, `-.inf`, `.nan`, or its repr."""
    return repr(value) if math.isfinite(value) else {"inf": ".inf", "-inf": "-.inf"}.get(str(value), ".nan")


def amount_in_range(value: float, where: str) -> float:
    """`value` as a reward amount, or a `RuleError` (`out_of_range`) naming `where`."""
    if not -AMOUNT_MAX <= value <= AMOUNT_MAX:  # NaN fails every comparison
        raise RuleError(
            f"{where}: the amount {describe_number(value)} is outside ±10^12",
            code="out_of_range",
            path=where,
        )
    return value


def points_in_range(value: float, where: str, what: str = "points") -> float:
    """`value` as points (one award or a balance), or a `RuleError`
    (`out_of_range`) naming `where`."""
    if not -POINTS_MAX <= value <= POINTS_MAX:
        raise RuleError(
            f"{where}: {what} {describe_number(value)} is outside ±2^53",
            code="out_of_range",
            path=where,
        )
    return value


def json_number_problems(value: Any, pointer: str = "") -> Iterator[tuple[str, str]]:
    """(RFC 6901 pointer, message) for each number in a JSON-like value that is
    not finite or is an integer past ±2^53."""
    stack = [(pointer, value)]
    while stack:
        where, node = stack.pop()
        if isinstance(node, bool) or node is None or isinstance(node, str):
            continue
        if isinstance(node, int):
            if not -INTEGER_MAX <= node <= INTEGER_MAX:
                yield where, f"the integer {node} is outside ±2^53 (9007199254740992)"
        elif isinstance(node, float):
            if not math.isfinite(node):
                yield where, f"{describe_number(node)} is not a finite number"
        elif isinstance(node, dict):
            stack.extend((f"{where}/{_escape(str(k))}", v) for k, v in reversed(node.items()))
        elif isinstance(node, list):
            stack.extend((f"{where}/{i}", v) for i, v in reversed(list(enumerate(node))))


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def rule_problems(rule: Any) -> list[tuple[str, str]]:
    """(RFC 6901 pointer, message) for each bound a rule breaks: more than
    `RULE_NODES_MAX` nodes, a string longer than `RULE_STRING_MAX`, a number
    that is not finite or an integer past ±2^53. Checked before the rule is
    compiled, so an oversized rule costs no more than counting it."""
    problems: list[tuple[str, str]] = []
    nodes = 0
    stack: list[tuple[str, Any]] = [("", rule)]
    while stack:
        where, node = stack.pop()
        nodes += 1
        if nodes > RULE_NODES_MAX:
            return [("", f"the rule has more than {RULE_NODES_MAX:,} values; at most {RULE_NODES_MAX:,}")]
        if isinstance(node, str):
            if len(node) > RULE_STRING_MAX:
                problems.append(
                    (where, f"a string of {len(node):,} characters; at most {RULE_STRING_MAX:,} in a rule")
                )
        elif isinstance(node, dict):
            stack.extend((f"{where}/{_escape(str(k))}", v) for k, v in reversed(node.items()))
        elif isinstance(node, list):
            stack.extend((f"{where}/{i}", v) for i, v in reversed(list(enumerate(node))))
        else:
            problems.extend(json_number_problems(node, where))
    return problems
