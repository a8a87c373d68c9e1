"""Properties that must hold for any input (hypothesis)."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reactor.config import load_config
from reactor.events import decode_event
from reactor.replay import Replay
from support import REPO

CONFIG = load_config(REPO)
EXAMPLE_LINES = (REPO / "examples" / "events.jsonl").read_bytes().splitlines()

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(10**6), 10**6)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
FIELDS = [
    "id",
    "type",
    "occurred_at",
    "profile_id",
    "data",
    "transaction",
    "profile",
    "total",
    "tags",
    "statuses",
    "identities",
    "expires_at",
    "transacted_at",
    "location",
    "handle",
    "system",
]


def mutate(document: Any, path: list[Any], value: Any) -> Any:
    """Set (or delete, when value is ...) the field at a path of the document."""
    node = document
    for part in path[:-1]:
        if isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return document
    if isinstance(node, dict):
        if value is ...:
            node.pop(path[-1], None)
        else:
            node[path[-1]] = value
    return document


@st.composite
def malformed_lines(draw: st.DrawFn) -> bytes:
    kind = draw(st.sampled_from(["bytes", "json", "mutated"]))
    if kind == "bytes":
        return draw(st.binary(max_size=200)).replace(b"\n", b" ")
    if kind == "json":
        return orjson.dumps(draw(json_values))
    document = orjson.loads(draw(st.sampled_from(EXAMPLE_LINES)))
    path = draw(st.lists(st.sampled_from(FIELDS), min_size=1, max_size=4))
    path = ["data", *path] if draw(st.booleans()) else path
    value = draw(st.just(...) | json_values)
    return orjson.dumps(mutate(document, path, value))


def replay(lines: list[bytes]) -> tuple[list[bytes], list[dict]]:
    actions: list[bytes] = []
    rejects: list[dict] = []
    runner = Replay(
        CONFIG, on_action=lambda a: actions.append(a.to_json()), on_reject=rejects.append, file_name="f"
    )
    runner.feed_lines((n, line) for n, line in enumerate(lines, 1))
    runner.finish("2026-12-31T00:00:00Z")
    return actions, rejects


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(malformed_lines(), min_size=1, max_size=15),
    st.lists(st.sampled_from(EXAMPLE_LINES), max_size=10),
)
def test_no_line_however_malformed_crashes_replay_and_none_vanishes(
    bad: list[bytes], good: list[bytes]
) -> None:
    lines = good + bad
    _actions, rejects = replay(lines)
    decoded_ok = 0
    for line in lines:
        try:
            decode_event(line)
            decoded_ok += 1
        except Exception:
            pass
    line_rejects = [r for r in rejects if "line" in r["source"] and "reaction_id" not in r]
    # A redemption can be refused by what the profile holds (CONTRACT §8): it
    # decoded, and is dead-lettered too, with its line.
    refused = {"insufficient_balance", "not_held", "duplicate_redemption"}
    bad_line_rejects = [r for r in line_rejects if r["error"]["code"] not in refused]
    for reject in line_rejects:
        if reject["error"]["code"] in refused:
            assert orjson.loads(lines[reject["source"]["line"] - 1])["type"].endswith(
                (".redeemed", ".claimed")
            )
    # Every line is either processed or dead-lettered with its line number.
    assert len(bad_line_rejects) == len(lines) - decoded_ok
    for reject in bad_line_rejects:
        assert reject["error"]["code"] in {
            "invalid_json",
            "wrong_type",
            "missing_field",
            "invalid_value",
            "unknown_type",
        }
        assert 1 <= reject["source"]["line"] <= len(lines)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.sampled_from(EXAMPLE_LINES), min_size=1, max_size=60))
def test_replaying_the_same_lines_twice_gives_identical_output(lines: list[bytes]) -> None:
    assert replay(lines) == replay(lines)
