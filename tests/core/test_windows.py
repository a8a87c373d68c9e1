"""Window structures (issue 15): logs that cost O(1) per event, and the
12-month figures they keep, against a straightforward recomputation.

The property test builds random histories for one profile (purchases,
refunds, late purchases from long ago, re-sent transactions, snapshots, gaps
of minutes to months) and after every event compares the incremental
figures with a recomputation from the whole history by the definitions of
CONTRACT §3 and the README: `…_12m` is the 365 days ending at now, excluding
the instant 365 days before; money is summed exactly and rounded to the cent,
half away from zero; a refund lowers spend but is not a shop; transaction keys
are kept as long as their purchase (365 days from `transacted_at`).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from pathlib import Path

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from reactor.config import load_config
from reactor.engine import process
from reactor.events import decode_event
from reactor.state import ProfileState
from reactor.windows import EMPTY_HEAD, Log
from support import write_config

# --- Log ------------------------------------------------------------------------


def test_a_view_appends_in_place_and_older_views_do_not_see_it():
    base = Log([["2026-01-01T00:00:00Z", 1]])
    later = base.view()
    later.append(["2026-01-02T00:00:00Z", 2])
    assert base.records() == [["2026-01-01T00:00:00Z", 1]]
    assert later.records() == [["2026-01-01T00:00:00Z", 1], ["2026-01-02T00:00:00Z", 2]]
    assert later._items is base._items  # shared, not copied


def test_two_branches_from_one_state_do_not_see_each_other():
    base = Log([["2026-01-01T00:00:00Z", "a"]], key_of=lambda r: r[1])
    left, right = base.view(), base.view()
    left.append(["2026-01-02T00:00:00Z", "b"])
    right.append(["2026-01-02T00:00:00Z", "c"])
    assert [r[1] for r in left] == ["a", "b"] and [r[1] for r in right] == ["a", "c"]
    assert "b" in left and "b" not in right and "c" in right and "c" not in left
    assert "b" not in base and "c" not in base and "a" in base


def test_a_branch_off_a_log_whose_front_expired_appends_at_its_own_end():
    # The second branch copies its live slice (positions move to 0): its
    # record and its key must land after that slice, not where the shared list ended.
    base = Log(key_of=lambda r: r[1])
    for day, key in ((1, "a"), (2, "b"), (3, "c")):
        base.append([f"2026-01-0{day}T00:00:00Z", key])
    base.expire("2026-01-01T00:00:00Z")
    left, right = base.view(), base.view()
    left.append(["2026-01-04T00:00:00Z", "d"])
    right.append(["2026-01-04T00:00:00Z", "e"])
    assert [r[1] for r in right] == ["b", "c", "e"] and len(right) == 3
    assert right.get("e") == ["2026-01-04T00:00:00Z", "e"] and "d" not in right
    assert [r[1] for r in left] == ["b", "c", "d"] and left.get("d")[1] == "d"


def test_expired_records_leave_the_sums_and_membership():
    log = Log(key_of=lambda r: r[2], measure=lambda r: (r[1], 1))
    for day, amount in ((1, 10), (2, 20), (3, 30)):
        log.append([f"2026-01-0{day}T00:00:00Z", amount, f"k{day}"])
    assert log.sums == (60, 3)
    older = log.view()
    dropped = log.expire("2026-01-02T00:00:00Z")  # at or before the cutoff
    assert [r[2] for r in dropped] == ["k1", "k2"]
    assert log.sums == (30, 1) and "k1" not in log and "k3" in log
    assert older.sums == (60, 3) and "k1" in older  # the older view is as it was


def test_a_key_added_again_after_it_expired_keeps_older_views_right():
    log = Log(key_of=lambda r: r[1])
    log.append(["2026-01-01T00:00:00Z", "e1"])
    older = log.view()
    log.expire("2026-01-01T00:00:00Z")
    log.append(["2026-02-01T00:00:00Z", "e1"])  # the same id, remembered again
    assert "e1" in log and log.get("e1") == ["2026-02-01T00:00:00Z", "e1"]
    assert "e1" in older and older.get("e1") == ["2026-01-01T00:00:00Z", "e1"]


def test_a_late_record_goes_in_its_place_in_time():
    log = Log(key_of=lambda r: r[1], measure=lambda r: (1, 0))
    for stamp, key in (("2026-01-01", "a"), ("2026-01-03", "c"), ("2026-01-02", "b")):
        log.append([f"{stamp}T00:00:00Z", key])
    assert [r[1] for r in log] == ["a", "b", "c"] and log.sums == (3, 0)
    assert all(k in log for k in "abc")
    log.expire("2026-01-02T00:00:00Z")
    assert [r[1] for r in log] == ["c"] and log.sums == (1, 0) and "b" not in log


def test_the_dead_front_is_dropped_once_it_is_the_larger_half():
    log = Log(key_of=lambda r: r[1])
    for n in range(100):
        log.append([f"2026-01-01T00:{n // 60:02d}:{n % 60:02d}Z", f"k{n}"])
    log.expire("2026-01-01T00:01:09Z")  # 70 of 100 expire
    assert len(log) == 30 and len(log._items) == 30  # compacted to what is live
    assert "k70" in log and "k69" not in log and log.first()[1] == "k70"


def test_the_head_is_the_time_of_the_oldest_live_record():
    # The clock compares `head` with its cut-offs instead of calling `expire`:
    # it must follow appends, late records, expiry and views.
    log = Log()
    assert log.head == EMPTY_HEAD and not log.expire(EMPTY_HEAD - 1)
    log.append((20, "b"))
    assert log.head == 20
    log.append((10, "a"))  # late: it goes first
    assert log.head == 10
    log.append((30, "c"))
    older = log.view()
    log.expire(10)
    assert log.head == 20 and older.head == 10
    log.expire(30)
    assert log.head == EMPTY_HEAD and len(log) == 0 and older.head == 10
    log.append((40, "d"))
    assert log.head == 40
    assert Log([(7, "x"), (5, "y")]).head == 5


def test_appended_is_a_view_with_the_record_and_leaves_the_log_as_it_was():
    base = Log([(1, "a")], key_of=lambda r: r[1], measure=lambda r: (r[0], 1))
    later = base.appended((2, "b"), "b", (2, 1))
    assert [r[1] for r in later] == ["a", "b"] and later.sums == (3, 2) and "b" in later
    assert [r[1] for r in base] == ["a"] and base.sums == (1, 1) and "b" not in base
    other = base.appended((3, "c"))  # a second branch from the same log
    assert [r[1] for r in other] == ["a", "c"] and other.sums == (4, 2) and "b" not in other
    assert [r[1] for r in later] == ["a", "b"]


def test_a_derived_state_has_every_field_of_its_state_but_the_next_due_memo():
    # `derive` sets each field by hand (faster than the dataclass's __init__):
    # a field forgotten there is unset (AttributeError), one set from another
    # field is the wrong object. Values of each field's type, for the compiled
    # build, which checks them.
    import dataclasses

    state = ProfileState("p1")
    odd = {
        "snapshot": {"id": "p1"},
        "clock": "2026-01-02T00:00:00Z",
        "deleted_at": "2026-01-03T00:00:00Z",
        "first_spend_at": "2026-01-04T00:00:00Z",
        "last_spend_at": "2026-01-05T00:00:00Z",
        "partition": 3,
        "_profile": ({}, {}),
        "next_due_memo": ("v1", None),
    }
    for n, spec in enumerate(dataclasses.fields(ProfileState)):
        value = getattr(state, spec.name)
        if spec.name in odd:
            value = odd[spec.name]
        elif isinstance(value, list):
            value = [spec.name]
        elif isinstance(value, dict):
            value = {spec.name: n}
        elif isinstance(value, Log):
            value = Log()
        elif isinstance(value, int):
            value = 1000 + n
        setattr(state, spec.name, value)
    derived = state.derive()
    for spec in dataclasses.fields(ProfileState):
        if spec.name == "next_due_memo":
            assert derived.next_due_memo is None
        elif spec.name != "due_memo":  # (None here: no Memo made by hand)
            mine, given = getattr(derived, spec.name), getattr(state, spec.name)
            # (ints by value: the compiled build keeps them unboxed)
            assert (mine == given) if isinstance(given, int) else (mine is given), spec.name
    assert derived.due_memo is None


# --- the 12-month figures against a recomputation ----------------------------------

CONFIG = {
    "reactions/r.yaml": """
    reactions:
      - {id: points, on: [transaction.created], actions: [{type: points.award, kind: tier, points: {"var": "transaction.total"}}]}
    """
}

START = datetime(2025, 1, 1, tzinfo=UTC)
GAPS = st.sampled_from([60, 3600, 86400, 7 * 86400, 100 * 86400, 200 * 86400, 364 * 86400, 365 * 86400])
AMOUNTS = st.one_of(
    st.integers(-50_000, 500_000).map(lambda cents: Decimal(cents) / 100),
    st.integers(-5_000_000, 5_000_000).map(lambda mils: Decimal(mils) / 1000),  # three decimals (KWD, BHD)
)


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


@st.composite
def histories(draw):
    """(kind, occurred_at, details) in time order, for one profile."""
    moment, events, txn_ids = START, [], []
    for n in range(draw(st.integers(1, 40))):
        moment += timedelta(seconds=draw(GAPS))
        kind = draw(st.sampled_from(["buy", "buy", "buy", "late", "resend", "snapshot"]))
        if kind == "resend" and txn_ids:
            events.append(
                ("txn", moment, {"id": draw(st.sampled_from(txn_ids)), "total": Decimal(5), "age": 0})
            )
        elif kind == "snapshot":
            events.append(("snapshot", moment, {}))
        else:
            age = draw(st.sampled_from([0, 3600, 30 * 86400, 364 * 86400, 365 * 86400, 400 * 86400]))
            txn = {"id": f"t-{n}", "total": draw(AMOUNTS), "age": age if kind == "late" else 0}
            txn["store"] = draw(st.sampled_from(["s1", "s2", "s3"]))
            txn_ids.append(txn["id"])
            events.append(("txn", moment, txn))
    return events


def cents(value: Fraction) -> float:
    """Round half away from zero to the cent, exactly."""
    sign = -1 if value < 0 else 1
    magnitude = Decimal(abs(value.numerator)) / Decimal(value.denominator)
    return float(sign * magnitude.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def expected_figures(counted, awards, now):
    """The figures by their definitions, recomputed from the whole history."""
    cutoff = now - timedelta(days=365)
    window = [t for t in counted if t["at"] > cutoff]
    shops = [t for t in window if t["total"] >= 0]
    purchases = [t for t in counted if t["total"] >= 0]
    spend_12m = sum((Fraction(t["total"]) for t in window), Fraction(0))
    last = max((t["at"] for t in purchases), default=None)
    return {
        "spend_all": cents(sum((Fraction(t["total"]) for t in counted), Fraction(0))),
        "spend_12m": cents(spend_12m),
        "spend_atv_12m": cents(spend_12m / len(shops)) if shops else 0,
        "shop_count": len(purchases),
        "shop_count_12m": len(shops),
        "location_count": len({t["store"] for t in counted}),
        "first_spend_at": stamp(min(t["at"] for t in purchases)) if purchases else None,
        "last_spend_at": stamp(last) if last else None,
        "days_since_last_spend": (now - last).days if last else None,
    }, float(sum(points for at, points in awards if at > cutoff))


def round_points(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP).copy_sign(value)) if value else 0


@settings(max_examples=150, deadline=None)
@given(histories())
def test_incremental_figures_equal_a_recomputation_over_random_histories(tmp_path_factory, history):
    config = load_config(write_config(tmp_path_factory.mktemp("cfg"), CONFIG))
    state: ProfileState | None = None
    counted: list[dict] = []  # transactions that count, as the definitions say
    awards: list[tuple[datetime, int]] = []
    for n, (kind, moment, details) in enumerate(history):
        if kind == "snapshot":
            data = {"profile": {"id": "p-1", "first_name": "Ava"}}
            event_type = "profile.updated"
        else:
            at = moment - timedelta(seconds=details["age"])
            total = float(details["total"])
            transaction = {"id": details["id"], "system": "pos", "total": total, "currency": "AUD"}
            transaction["transacted_at"] = stamp(at)
            transaction["location"] = {"id": details.get("store", "s1")}
            data = {"transaction": transaction}
            event_type = "transaction.created"
            cutoff = moment - timedelta(days=365)
            duplicate = any(t["id"] == details["id"] and t["at"] > cutoff for t in counted)
            if not duplicate:
                counted.append(
                    {
                        "id": details["id"],
                        "at": at,
                        "total": Decimal(repr(total)),
                        "store": details.get("store", "s1"),
                    }
                )
                points = round_points(Decimal(repr(total)))
                if points:
                    awards.append((moment, points))
        raw = orjson.dumps(
            {
                "id": f"e-{n}",
                "type": event_type,
                "occurred_at": stamp(moment),
                "profile_id": "p-1",
                "data": data,
            }
        )
        state = process(decode_event(raw), state, config).state
        assert state is not None
        figures, tier_points = expected_figures(counted, awards, moment)
        days = (
            None
            if state.last_spend_at is None
            else (moment - datetime.fromisoformat(state.last_spend_at)).days
        )
        assert state.aggregations(stamp(moment), days) == figures, (n, kind)
        assert state.tier_points_12m() == tier_points
        # And the same after the state went through the changelog's JSON.
        again = ProfileState.from_json(state.to_json())
        assert again.aggregations(stamp(moment), days) == figures and again == state


def test_state_json_of_another_format_is_refused(tmp_path: Path):
    import pytest

    with pytest.raises(ValueError, match="format 3"):
        ProfileState.from_json(b'{"p": "p-1", "sa": 12.5}')


def test_a_lifetime_spend_past_64_bits_still_goes_through_the_changelog():
    # 19 purchases of 10^12 (the largest total an event may carry) pass 2^64 in millionths.
    state = ProfileState("p-1", spend_micro=19 * 10**12 * 10**6, shop_count=19)
    again = ProfileState.from_json(state.to_json())
    assert again.spend_micro == 19 * 10**18 and again.spend_all == 19 * 10**12
    assert ProfileState.from_json(ProfileState("p-2", spend_micro=-5).to_json()).spend_micro == -5


def test_what_purchases_earned_is_stored_by_column_and_read_back():
    # Three purchases: one that earned two kinds (its tier points doubled by a
    # status, awarded 90 s after the purchase: a late sync), one that earned
    # nothing, one that earned reward points at its own time.
    records = [
        [1_767_225_600, 35.5, "t-1", "pos", [1_767_225_690, {"tier": [71, "influencer"], "reward": [355]}]],
        [1_767_229_200, -20.0, "t-2", "pos", None],
        [1_767_232_800, 12.0, "t-3", "web", [1_767_232_800, {"reward": [120]}]],
    ]
    state = ProfileState("p-1")
    for record in records:
        state.purchases.append([*record[:4], record[4]])
    stored = orjson.loads(state.to_json())
    assert stored["v"] == 3
    assert stored["pu"]["4"] == [90, 0, 0]
    assert stored["pu"]["k"] == {"tier": [[71, "influencer"], None, None], "reward": [355, None, 120]}
    assert ProfileState.from_json(state.to_json()).purchases.records() == records


def test_a_state_stored_by_the_version_before_is_read():
    # Version 2 kept what a purchase earned as one value per purchase.
    old = {
        "v": 2,
        "p": "p-1",
        "pu": {
            "0": [1_767_225_600, 3600],
            "1": [35.5, 12.0],
            "2": ["t-1", "t-3"],
            "3": "pos",
            "4": [[1_767_225_600, {"tier": [36]}], None],
        },
    }
    state = ProfileState.from_json(orjson.dumps(old))
    assert state.purchases.records() == [
        [1_767_225_600, 35.5, "t-1", "pos", [1_767_225_600, {"tier": [36]}]],
        [1_767_229_200, 12.0, "t-3", "pos", None],
    ]
