"""The core against CONTRACT.md sections 1-4, one rule at a time.

Every expected value here is worked out by hand from the contract and the
inputs in the test, never copied from the code's output.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest

from reactor.config import Config, load_config
from reactor.engine import next_due, process, run_due
from reactor.events import decode_event
from reactor.state import ProfileState
from support import REPO, brief, profile_updated, run, transaction, write_config

CATALOG = """
statuses:
  - {handle: influencer, name: Influencer, rank: 3, group: social, exclusive: false,
     default_duration: 365d, modifiers: {tier_points_multiplier: 2}, meta: {portal_badge: star}}
  - {handle: vip, name: VIP, rank: 2, modifiers: {reward_extra_days: 30, benefit_extra_days: 30}}
  - {handle: staff, name: Staff, rank: 1, group: employment, exclusive: true,
     customer_facing: false, grants: [staff-discount]}
  - {handle: ex-staff, name: Ex-Staff, rank: 5, group: employment, exclusive: true, grants: [store-credit]}
  - {handle: media, name: Media, rank: 4, grants: [free-delivery-online]}
  - {handle: super-fan, name: Super fan, rank: 6, modifiers: {tier_points_multiplier: 3}}
benefits:
  - {handle: staff-discount, name: 40% off full-price items, kind: percent_discount, value: 40,
     applies_to: full_price}
  - {handle: free-delivery-online, name: Free delivery on online orders, kind: free_delivery}
  - {handle: store-credit, name: Store credit access, kind: store_credit_access}
  - {handle: welcome-gift, name: Welcome gift, kind: free_product, valid_for: 30d}
"""

ECHO_TARGET = """
targets:
  - id: echo
    url: "http://127.0.0.1:9/echo"
    body: '{"statuses": {{ flattened_statuses | tojson }}, "tags": {{ flattened_tags | tojson }}, "now": {{ now | tojson }}}'
"""


@pytest.fixture
def cfg(tmp_path: Path) -> Callable[..., Config]:
    counter = iter(range(1000))

    def make(reactions: str, targets: str = ECHO_TARGET) -> Config:
        root = write_config(
            tmp_path / f"c{next(counter)}",
            {"reactions/catalog.yaml": CATALOG, "reactions/rules.yaml": reactions, "targets/t.yaml": targets},
        )
        return load_config(root)

    return make


# --- §1 events in --------------------------------------------------------------


def test_an_event_already_processed_is_skipped_with_no_actions(cfg):
    config = cfg("""
    reactions:
      - {id: tag-all, on: [transaction.created], actions: [{type: points.award, kind: reward, points: 5}]}
    """)
    first = transaction(10, id="evt-a", txn_id="t-1")
    state, actions, outcomes = run(config, first, first)
    assert [a["points"] for a in actions] == [5]
    assert outcomes[1].skipped == "duplicate_event"
    assert outcomes[1].actions == ()
    assert state is not None and state.point_balance == 5


def test_a_transaction_seen_before_for_the_profile_is_skipped_even_under_a_new_event_id(cfg):
    config = cfg("""
    reactions:
      - {id: points, on: [transaction.created], actions: [{type: points.award, kind: reward, points: 1}]}
    """)
    state, actions, outcomes = run(
        config,
        transaction(100, txn_id="t-9", system="pos"),
        transaction(100, txn_id="t-9", system="pos"),  # re-sent: skipped
        transaction(100, txn_id="t-9", system="shopify"),  # same id, other system: a new transaction
    )
    assert [o.skipped for o in outcomes] == [None, "duplicate_transaction", None]
    assert len(actions) == 2
    assert state.spend_all == 200


def test_profile_deleted_forgets_everything_held(cfg):
    config = cfg("""
    reactions:
      - {id: once, on: [transaction.created], limit: {per_profile: 1},
         actions: [{type: tag.add, tag: first-purchase}]}
    """)
    state, actions, _ = run(config, transaction(50, id="e1"))
    assert brief(actions) == [("tag.add", {"tag": "first-purchase"})]
    deleted = process(
        decode_event(
            b'{"id":"e2","type":"profile.deleted","occurred_at":"2026-11-21T00:00:00Z","profile_id":"p-1","data":{}}'
        ),
        state,
        config,
    )
    # A marker of the deletion is all that is left (CONTRACT §8), and downstream is told.
    assert deleted.state is not None and deleted.state.deleted_at == "2026-11-21T00:00:00Z"
    assert [a.type for a in deleted.actions] == ["profile.forget"]
    # A later event starts from nothing: the once-per-profile limit and spend are gone.
    state, actions, _ = run(config, transaction(20, id="e3", at="2026-11-22T00:00:00Z"), state=deleted.state)
    assert brief(actions) == [("tag.add", {"tag": "first-purchase"})]
    assert state.spend_all == 20


def test_unknown_fields_are_kept_and_visible_to_rules(cfg):
    config = cfg("""
    reactions:
      - id: extras
        on: [profile.updated]
        when: {and: [{"==": [{"var": "event.source"}, "omneo"]},
                     {"==": [{"var": "loyalty_tier_code"}, "GOLD"]},
                     {"==": [{"var": "profile.loyalty_tier_code"}, "GOLD"]}]}
        actions: [{type: tag.add, tag: seen-extras}]
    """)
    raw = b'{"id":"e1","type":"profile.updated","occurred_at":"2026-11-20T10:00:00Z","profile_id":"p-1","source":"omneo","data":{"profile":{"loyalty_tier_code":"GOLD"}}}'
    _, actions, _ = run(config, raw)
    assert brief(actions) == [("tag.add", {"tag": "seen-extras"})]


def test_now_is_the_event_time_in_utc(cfg):
    config = cfg("""
    reactions:
      - id: clock
        on: [profile.updated]
        when: {"==": [{"var": "now"}, "2026-11-20T00:05:00Z"]}
        actions: [{type: target.send, target: echo}]
    """)
    # 10:05 in Sydney (+10:00) is 00:05 UTC.
    _, actions, _ = run(config, profile_updated(at="2026-11-20T10:05:00+10:00"))
    assert actions[0]["at"] == "2026-11-20T00:05:00Z"
    assert actions[0]["payload"]["now"] == "2026-11-20T00:05:00Z"


# --- §2 reactions: limits, order, chains ----------------------------------------------


def test_limit_once_per_profile(cfg):
    config = cfg("""
    reactions:
      - {id: once, on: [transaction.created], limit: {per_profile: 1}, actions: [{type: points.award, kind: reward, points: 1}]}
    """)
    _, actions, _ = run(config, *(transaction(10, at=f"2026-0{m}-01T00:00:00Z") for m in (1, 5, 9)))
    assert len(actions) == 1


def test_limit_per_rolling_window(cfg):
    config = cfg("""
    reactions:
      - {id: twice-a-month, on: [transaction.created], limit: {per_profile: 2, window: 30d},
         actions: [{type: points.award, kind: reward, points: 1}]}
    """)
    days = ["2026-01-01", "2026-01-11", "2026-01-21", "2026-01-31", "2026-02-01", "2026-02-02"]
    state = None
    fired = []
    for d in days:
        state, actions, _ = run(config, transaction(10, at=f"{d}T00:00:00Z"), state=state)
        fired.append(bool(actions))
    # The window is the 30 days ending now: a firing exactly 30 days back has left it.
    # Jan 1, Jan 11 fire; Jan 21 has two within 30 days; on Jan 31 Jan 1 has left,
    # one remains: fires; Feb 1 and Feb 2 have Jan 11 and Jan 31 within 30 days.
    assert fired == [True, True, False, True, False, False]


def test_reactions_run_by_priority_then_id_and_each_sees_the_earlier_changes(cfg):
    config = cfg("""
    reactions:
      - {id: b-second, on: [profile.updated], priority: 5,
         when: {"in": ["a", {"var": "flattened_tags"}]}, actions: [{type: tag.add, tag: b}]}
      - {id: a-first, on: [profile.updated], priority: 5, actions: [{type: tag.add, tag: a}]}
      - {id: c-last, on: [profile.updated], priority: 9,
         when: {"in": ["b", {"var": "flattened_tags"}]}, actions: [{type: tag.add, tag: c}]}
      - {id: zero, on: [profile.updated], priority: 0,
         when: {"in": ["c", {"var": "flattened_tags"}]}, actions: [{type: tag.add, tag: never}]}
    """)
    _, actions, _ = run(config, profile_updated())
    assert [(a["reaction_id"], a["tag"]) for a in actions] == [
        ("a-first", "a"),
        ("b-second", "b"),
        ("c-last", "c"),
    ]


def test_a_false_filter_stops_the_chain_but_earlier_steps_stand_and_the_reaction_counts_as_fired(cfg):
    config = cfg("""
    reactions:
      - id: chain
        on: [profile.updated]
        limit: {per_profile: 1}
        actions:
          - {type: tag.add, tag: before}
          - {type: filter, when: {"in": ["vip", {"var": "flattened_statuses"}]}}
          - {type: tag.add, tag: after}
    """)
    state, actions, _ = run(config, profile_updated(), profile_updated(at="2026-11-21T10:00:00Z"))
    assert brief(actions) == [("tag.add", {"tag": "before"})]
    assert state.fired["chain"] == ["2026-11-20T10:00:00Z"]


def test_when_false_does_not_count_as_fired(cfg):
    config = cfg("""
    reactions:
      - {id: vip-only, on: [profile.updated], limit: {per_profile: 1},
         when: {"in": ["go", {"var": "flattened_tags"}]}, actions: [{type: tag.add, tag: done}]}
    """)
    _, actions, _ = run(
        config, profile_updated(tags=[]), profile_updated(tags=["go"], at="2026-11-21T00:00:00Z")
    )
    assert brief(actions) == [("tag.add", {"tag": "done"})]


def test_disabled_reactions_do_not_run(cfg):
    config = cfg("""
    reactions:
      - {id: off, on: [profile.updated], enabled: false, actions: [{type: tag.add, tag: x}]}
    """)
    assert run(config, profile_updated())[1] == []


def test_root_keys_win_over_profile_fields_of_the_same_name(cfg):
    config = cfg("""
    reactions:
      - id: shadow
        on: [profile.updated]
        when: {and: [{"==": [{"var": "now"}, "2026-11-20T10:00:00Z"]}, {"==": [{"var": "first_name"}, "Ava"]},
                     {"==": [{"var": "profile.now"}, "not-a-time"]}]}
        actions: [{type: tag.add, tag: ok}]
    """)
    _, actions, _ = run(config, profile_updated(first_name="Ava", now="not-a-time"))
    assert brief(actions) == [("tag.add", {"tag": "ok"})]


def test_amounts_and_points_may_be_expressions(cfg):
    config = cfg("""
    reactions:
      - id: five-percent
        on: [transaction.created]
        actions:
          - {type: reward.create, amount: {"*": [{"var": "transaction.total"}, 0.1]}, valid_for: 30d}
          - {type: points.award, kind: reward, points: {"+": [{"var": "transaction.total"}, 1]}}
    """)
    _, actions, _ = run(config, transaction(129.50))
    # 10% of 129.50 = 12.95 (to the cent); the currency is the transaction's.
    # Points: 129.50 + 1 = 130.5 rounds half up to 131.
    assert actions[0]["amount"] == 12.95 and actions[0]["currency"] == "AUD"
    assert actions[0]["expires_at"] == "2026-12-20T10:00:00Z"
    assert actions[1]["points"] == 131


# --- §3 the context ---------------------------------------------------------------


def test_context_profile_view_previous_profile_and_transaction(cfg):
    config = cfg(
        """
    reactions:
      - id: look
        on: [profile.updated, transaction.created]
        actions: [{type: target.send, target: ctx}]
    """,
        targets="""
    targets:
      - id: ctx
        url: "http://127.0.0.1:9/"
        body: |
          {"id": {{ profile.id | tojson }}, "root_first": {{ first_name | default(none) | tojson }},
           "ig": {{ profile.identities.instagram | default(none) | tojson }},
           "root_ig": {{ identities.instagram.followers | default(none) | tojson }},
           "prev": {{ previous_profile | tojson }}, "txn": {{ transaction | tojson }},
           "event": {{ event | tojson }}}
    """,
    )
    txn_first = transaction(10, id="e0", txn_id="t-0", at="2026-11-19T00:00:00Z")
    p1 = profile_updated(
        id="e1",
        first_name="Ava",
        identities=[{"handle": "instagram", "followers": 12500}, {"handle": "tiktok", "followers": 3}],
    )
    p2 = profile_updated(id="e2", first_name="Ava B", at="2026-11-21T00:00:00Z")
    _, actions, _ = run(config, txn_first, p1, p2)
    before, first, second = (a["payload"] for a in actions)
    # Before any snapshot the profile still has its id; the transaction is there.
    assert before["id"] == "p-1" and before["root_first"] is None and before["prev"] is None
    assert before["txn"]["id"] == "t-0" and before["txn"]["total"] == 10
    assert before["event"] == {
        "id": "e0",
        "type": "transaction.created",
        "occurred_at": "2026-11-19T00:00:00Z",
    }
    assert first["ig"] == {"handle": "instagram", "followers": 12500}
    assert first["root_ig"] == 12500
    assert first["prev"] is None and first["txn"] is None
    assert second["root_first"] == "Ava B"
    assert second["prev"]["first_name"] == "Ava" and second["prev"]["identities"]["tiktok"]["followers"] == 3


def test_a_send_renders_with_every_name_its_template_looks_up(cfg):
    """A render gets the context for the names its template can look up only
    (Jinja's analysis): names read in a macro, a loop, a branch not taken and
    a computed key are there; a profile field named like a global (`range`)
    shadows it, as it does in the whole context."""
    config = cfg(
        """
    reactions:
      - id: look
        on: [transaction.created]
        actions: [{type: tag.add, tag: shopper}, {type: target.send, target: ctx}]
    """,
        targets="""
    targets:
      - id: ctx
        url: "http://127.0.0.1:9/"
        body: |
          {% macro hello() %}{{ first_name }}{% endmacro %}{% set n = 2 %}
          {"hello": {{ hello() | tojson }}, "range": {{ range | tojson }}, "n": {{ n }},
           "skus": [{% for i in transaction["items"] %}{{ i.sku | tojson }}{{ "," if not loop.last }}{% endfor %}],
           "tags": {{ flattened_tags | tojson }}, "spend": {{ aggregations.spend_12m | tojson }},
           "other": {{ (nickname if false else "none") | tojson }}}
    """,
    )
    p = profile_updated(first_name="Ava", range="north")
    t = transaction(12.5, items=[{"sku": "S1"}, {"sku": "S2"}], at="2026-11-21T00:00:00Z")
    _, actions, _ = run(config, p, t)
    assert actions[-1]["payload"] == {
        "hello": "Ava",
        "range": "north",
        "n": 2,
        "skus": ["S1", "S2"],
        "tags": ["shopper"],
        "spend": 12.5,
        "other": "none",
    }


def test_flattened_tags_are_the_snapshot_tags_plus_added_less_removed_sorted_unique(cfg):
    config = cfg("""
    reactions:
      - id: tags
        on: [profile.updated]
        actions:
          - {type: tag.add, tag: added}
          - {type: tag.remove, tag: gone}
          - {type: tag.add, tag: zeta}   # already in the snapshot: no action
          - {type: target.send, target: echo}
    """)
    _, actions, _ = run(config, profile_updated(tags=["zeta", "gone", "alpha", "alpha"]))
    assert brief(actions)[:2] == [("tag.add", {"tag": "added"}), ("tag.remove", {"tag": "gone"})]
    assert actions[2]["payload"]["tags"] == ["added", "alpha", "zeta"]


def test_snapshot_tags_and_statuses_replace_the_held_ones_when_present(cfg):
    config = cfg("""
    reactions:
      - {id: tag, on: [transaction.created], actions: [{type: tag.add, tag: shopper}, {type: status.apply, status: media}]}
      - {id: look, on: [profile.updated], actions: [{type: target.send, target: echo}]}
    """)
    state, actions, _ = run(
        config,
        transaction(5, at="2026-11-01T00:00:00Z"),
        profile_updated(at="2026-11-02T00:00:00Z"),  # no tags/statuses keys: held ones stay
        profile_updated(
            at="2026-11-03T00:00:00Z", tags=["upstream"], statuses=[{"handle": "vip", "expires_at": None}]
        ),
    )
    sends = [a["payload"] for a in actions if a["type"] == "target.send"]
    assert sends[0]["tags"] == ["shopper"] and sends[0]["statuses"] == ["media"]
    assert sends[1]["tags"] == ["upstream"] and sends[1]["statuses"] == ["vip"]
    # The media status left with the snapshot, and so did the benefit it granted, silently.
    assert [b[0] for b in state.benefits] == []
    assert "benefit.revoke" not in [a["type"] for a in actions]


def test_statuses_best_first_with_their_fields_and_best_status(cfg):
    config = cfg(
        """
    reactions:
      - id: apply
        on: [profile.updated]
        actions:
          - {type: status.apply, status: influencer}
          - {type: status.apply, status: vip, duration: 30d}
          - {type: target.send, target: statuses}
    """,
        targets="""
    targets:
      - id: statuses
        url: "http://127.0.0.1:9/"
        body: '{"flat": {{ flattened_statuses | tojson }}, "best": {{ best_status | tojson }}, "statuses": {{ statuses | tojson }}, "benefits": {{ benefits | tojson }}}'
    """,
    )
    _, actions, _ = run(config, profile_updated(statuses=[{"handle": "legacy-gold", "expires_at": None}]))
    payload = actions[-1]["payload"]
    assert payload["flat"] == ["vip", "influencer", "legacy-gold"]  # rank 2, rank 3, undefined last
    assert payload["best"] == "vip"
    assert payload["statuses"][1] == {
        "handle": "influencer",
        "name": "Influencer",
        "rank": 3,
        "group": "social",
        "customer_facing": True,
        "applied_at": "2026-11-20T10:00:00Z",
        "expires_at": "2027-11-20T10:00:00Z",
        "meta": {"portal_badge": "star"},
    }
    assert payload["statuses"][0]["expires_at"] == "2026-12-20T10:00:00Z"
    assert payload["statuses"][2] == {
        "handle": "legacy-gold",
        "name": "legacy-gold",
        "rank": None,
        "group": None,
        "customer_facing": True,
        "applied_at": "2026-11-20T10:00:00Z",
        "expires_at": None,
        "meta": {},
    }


def test_aggregations_over_the_365_days_ending_at_now(cfg):
    config = cfg(
        """
    reactions:
      - id: look
        on: [transaction.created]
        actions: [{type: target.send, target: agg}]
    """,
        targets="""
    targets:
      - id: agg
        url: "http://127.0.0.1:9/"
        body: '{{ aggregations | tojson }}'
    """,
    )
    now = "2026-11-20T10:00:00Z"
    _, actions, _ = run(
        config,
        # 2025-11-20T10:00:00Z is exactly 365 days before now: outside the window.
        transaction(1000, at="2025-11-20T10:00:00Z", location={"id": "store-1"}),
        transaction(100, at="2025-11-20T10:00:01Z", location={"id": "store-1"}),
        transaction(50.25, at="2026-06-01T00:00:00Z", location={"id": "store-2"}),
        transaction(-50.25, at="2026-06-02T00:00:00Z", location={"id": "store-2"}),  # a refund
        # The current transaction, transacted two days and a bit before the event time.
        transaction(200, at=now, transacted_at="2026-11-18T09:00:00Z", location={"id": "web"}),
    )
    assert actions[-1]["payload"] == {
        "spend_all": 1300.0,  # 1000 + 100 + 50.25 - 50.25 + 200
        "spend_12m": 300.0,  # 100 + 50.25 - 50.25 + 200
        "spend_atv_12m": 100.0,  # 300 over 3 purchases (the refund is not a shop)
        "shop_count": 4,
        "shop_count_12m": 3,
        "location_count": 3,
        "first_spend_at": "2025-11-20T10:00:00Z",
        "last_spend_at": "2026-11-18T09:00:00Z",
        "days_since_last_spend": 2,  # 2 days 1 hour, rounded down
        # The purchase before this one (the refund is not a purchase): 1 June,
        # 172 days before now (29 + 31 + 31 + 30 + 31 + 20).
        "previous_spend_at": "2026-06-01T00:00:00Z",
        "days_since_previous_spend": 172,
    }


def test_balances_from_points_and_rewards(cfg):
    config = cfg(
        """
    reactions:
      - id: earn
        on: [transaction.created]
        actions:
          - {type: points.award, kind: tier, points: {"var": "transaction.total"}}
          - {type: points.award, kind: reward, points: 10}
          - {type: reward.create, amount: 5, valid_for: 30d}
          - {type: target.send, target: bal}
    """,
        targets="""
    targets:
      - id: bal
        url: "http://127.0.0.1:9/"
        body: '[{{ point_balance }}, {{ tier_points_12m }}, {{ reward_balance }}]'
    """,
    )
    _, actions, _ = run(
        config,
        transaction(
            100, at="2025-10-01T00:00:00Z"
        ),  # its tier points leave the 12 months; its reward expires
        transaction(40, at="2026-11-01T00:00:00Z"),
        transaction(60, at="2026-11-20T00:00:00Z"),
    )
    assert actions[-1]["payload"] == [30, 100, 10.0]


def test_a_target_send_after_a_status_apply_sees_the_new_status(cfg):
    config = cfg("""
    reactions:
      - {id: apply, on: [profile.updated], actions: [{type: status.apply, status: media}, {type: target.send, target: echo}]}
    """)
    _, actions, _ = run(config, profile_updated())
    assert actions[-1]["payload"]["statuses"] == ["media"]


# --- §4 actions out ---------------------------------------------------------------------


def test_action_shape_ids_and_config_version(cfg):
    config = cfg("""
    reactions:
      - {id: r, on: [profile.updated], actions: [{type: tag.add, tag: a}, {type: tag.add, tag: b}]}
    """)
    raw = profile_updated(id="evt-0002", at="2026-11-20T10:05:00Z")
    _, first, _ = run(config, raw)
    _, again, _ = run(config, raw)
    assert first == again  # reprocessing gives the same ids
    assert first[0]["id"] != first[1]["id"]
    assert list(first[0]) == [
        "id",
        "type",
        "profile_id",
        "reaction_id",
        "event_id",
        "at",
        "config_version",
        "tag",
    ]
    assert first[0]["event_id"] == "evt-0002" and first[0]["reaction_id"] == "r"
    assert first[0]["at"] == "2026-11-20T10:05:00Z"
    assert first[0]["config_version"] == config.version and len(config.version) == 12
    assert first[0]["id"].startswith("act-")
    changed = cfg("""
    reactions:
      - {id: r, on: [profile.updated], actions: [{type: tag.add, tag: a}, {type: tag.add, tag: c}]}
    """)
    assert changed.version != config.version


def test_status_apply_uses_the_default_duration_or_the_step_duration(cfg):
    config = cfg("""
    reactions:
      - {id: r, on: [profile.updated], actions: [{type: status.apply, status: influencer},
                                                 {type: status.apply, status: media, duration: 12h},
                                                 {type: status.apply, status: vip}]}
    """)
    _, actions, _ = run(config, profile_updated())
    assert brief(actions) == [
        ("status.apply", {"status": "influencer", "expires_at": "2027-11-20T10:00:00Z"}),
        ("status.apply", {"status": "media", "expires_at": "2026-11-20T22:00:00Z"}),
        (
            "benefit.create",
            {
                "benefit": "free-delivery-online",
                "expires_at": "2026-11-20T22:00:00Z",
                "granted_by": "media",
                "modifiers": [],
            },
        ),
        ("status.apply", {"status": "vip", "expires_at": None}),
    ]


def test_applying_a_held_status_does_nothing_unless_it_extends_the_expiry(cfg):
    config = cfg("""
    reactions:
      - {id: r30, on: [profile.updated], when: {"in": ["30", {"var": "flattened_tags"}]},
         actions: [{type: status.apply, status: media, duration: 30d}]}
      - {id: r10, on: [profile.updated], when: {"in": ["10", {"var": "flattened_tags"}]},
         actions: [{type: status.apply, status: media, duration: 10d}]}
      - {id: rforever, on: [profile.updated], when: {"in": ["forever", {"var": "flattened_tags"}]},
         actions: [{type: status.apply, status: media}]}
    """)
    _, actions, _ = run(
        config,
        profile_updated(tags=["30"], at="2026-11-01T00:00:00Z"),  # held until 12-01
        profile_updated(tags=["10"], at="2026-11-05T00:00:00Z"),  # 11-15 < 12-01: nothing
        profile_updated(tags=["30"], at="2026-11-05T00:00:00Z"),  # 12-05 > 12-01: extends
        profile_updated(tags=["forever"], at="2026-11-06T00:00:00Z"),  # no expiry: extends for good
        profile_updated(tags=["30"], at="2026-11-07T00:00:00Z"),  # cannot extend "never"
    )
    assert [(a["type"], a.get("expires_at")) for a in actions] == [
        ("status.apply", "2026-12-01T00:00:00Z"),
        ("benefit.create", "2026-12-01T00:00:00Z"),
        ("status.apply", "2026-12-05T00:00:00Z"),
        ("status.apply", None),
    ]


def test_exclusive_group_replaces_the_held_status_and_its_grants(cfg):
    config = cfg("""
    reactions:
      - {id: hire, on: [profile.updated], when: {"==": [{"var": "role"}, "staff"]}, actions: [{type: status.apply, status: staff}]}
      - {id: leave, on: [profile.updated], when: {"==": [{"var": "role"}, "left"]}, actions: [{type: status.apply, status: ex-staff}]}
    """)
    state, actions, _ = run(
        config, profile_updated(role="staff"), profile_updated(role="left", at="2026-11-21T00:00:00Z")
    )
    assert brief(actions) == [
        ("status.apply", {"status": "staff", "expires_at": None}),
        (
            "benefit.create",
            {"benefit": "staff-discount", "expires_at": None, "granted_by": "staff", "modifiers": []},
        ),
        ("status.remove", {"status": "staff", "reason": "replaced"}),
        ("benefit.revoke", {"benefit": "staff-discount", "reason": "replaced"}),
        ("status.apply", {"status": "ex-staff", "expires_at": None}),
        (
            "benefit.create",
            {"benefit": "store-credit", "expires_at": None, "granted_by": "ex-staff", "modifiers": []},
        ),
    ]
    assert list(state.statuses) == ["ex-staff"]


def test_non_exclusive_groups_hold_several_statuses(cfg):
    config = cfg("""
    statuses:
      - {handle: creator, name: Creator, rank: 7, group: social}
    reactions:
      - {id: r, on: [profile.updated], actions: [{type: status.apply, status: influencer}, {type: status.apply, status: creator}]}
    """)
    state, actions, _ = run(config, profile_updated())
    assert [a["type"] for a in actions] == ["status.apply", "status.apply"]
    assert set(state.statuses) == {"influencer", "creator"}


def test_status_remove_by_a_reaction_revokes_grants(cfg):
    config = cfg("""
    reactions:
      - {id: add, on: [profile.updated], when: {"!": {"var": "bye"}}, actions: [{type: status.apply, status: media}]}
      - {id: drop, on: [profile.updated], when: {"var": "bye"}, actions: [{type: status.remove, status: media}, {type: status.remove, status: vip}]}
    """)
    _, actions, _ = run(config, profile_updated(), profile_updated(bye=True, at="2026-11-21T00:00:00Z"))
    assert brief(actions)[2:] == [
        ("status.remove", {"status": "media", "reason": "reaction"}),
        ("benefit.revoke", {"benefit": "free-delivery-online", "reason": "reaction"}),
    ]  # vip was not held: nothing


def test_expiry_emits_status_remove_at_the_expiry_time_with_no_event(cfg):
    config = cfg("""
    reactions:
      - {id: r, on: [profile.updated], when: {"!": {"var": "later"}}, actions: [{type: status.apply, status: media, duration: 1d}]}
      - {id: look, on: [profile.updated], when: {"var": "later"}, actions: [{type: target.send, target: echo}]}
    """)
    state, _actions, _ = run(config, profile_updated(at="2026-11-20T10:00:00Z"))
    assert next_due(state, config) == "2026-11-21T10:00:00Z"
    # Through run_due() (the worker's timer, replay's clock):
    expired = run_due(state, config, "2026-11-22T00:00:00Z")
    by_timer = [a.as_dict() for a in expired.actions]
    assert brief(by_timer) == [
        ("status.remove", {"status": "media", "reason": "expired"}),
        ("benefit.revoke", {"benefit": "free-delivery-online", "reason": "expired"}),
    ]
    assert all(
        a["at"] == "2026-11-21T10:00:00Z" and a["event_id"] is None and a["reaction_id"] is None
        for a in by_timer
    )
    # Through the next event, if it comes first: the same actions, the same ids, before the event's own.
    _, by_event, _ = run(config, profile_updated(later=True, at="2026-11-23T00:00:00Z"), state=state)
    assert [a["id"] for a in by_event[:2]] == [a["id"] for a in by_timer]
    assert by_event[2]["payload"]["statuses"] == []
    assert run_due(state, config, "2026-11-21T09:59:59Z").actions == ()


def test_benefit_and_reward_expiries_get_the_vip_extra_days(cfg):
    config = cfg("""
    reactions:
      - id: r
        on: [transaction.created]
        actions:
          - {type: benefit.create, benefit: welcome-gift}
          - {type: status.apply, status: vip}
          - {type: benefit.create, benefit: welcome-gift}
          - {type: reward.create, amount: 20, currency: AUD, valid_for: 90d}
          - {type: benefit.create, benefit: staff-discount}
    """)
    _, actions, _ = run(config, transaction(10, at="2026-01-01T00:00:00Z"))
    assert brief(actions) == [
        (
            "benefit.create",
            {
                "benefit": "welcome-gift",
                "expires_at": "2026-01-31T00:00:00Z",
                "granted_by": None,
                "modifiers": [],
            },
        ),
        ("status.apply", {"status": "vip", "expires_at": None}),
        # 30 days + VIP's 30 extra days
        (
            "benefit.create",
            {
                "benefit": "welcome-gift",
                "expires_at": "2026-03-02T00:00:00Z",
                "granted_by": None,
                "modifiers": ["vip"],
            },
        ),
        # 90 days + 30: 2026-01-01 + 120 days = 2026-05-01
        (
            "reward.create",
            {"amount": 20.0, "currency": "AUD", "expires_at": "2026-05-01T00:00:00Z", "modifiers": ["vip"]},
        ),
        # A benefit with no validity never expires: nothing to extend.
        (
            "benefit.create",
            {"benefit": "staff-discount", "expires_at": None, "granted_by": None, "modifiers": []},
        ),
    ]


def test_influencer_doubles_tier_points_only_and_the_largest_multiplier_wins(cfg):
    config = cfg("""
    reactions:
      - {id: fan, on: [transaction.created], when: {"var": "transaction.fan"}, priority: 1,
         actions: [{type: status.apply, status: super-fan}]}
      - {id: inf, on: [transaction.created], when: {"var": "transaction.inf"}, priority: 1,
         actions: [{type: status.apply, status: influencer}]}
      - id: points
        on: [transaction.created]
        actions:
          - {type: points.award, kind: tier, points: {"var": "transaction.total"}}
          - {type: points.award, kind: reward, points: {"var": "transaction.total"}}
    """)
    _, actions, _ = run(
        config,
        transaction(10.5, at="2026-01-01T00:00:00Z"),
        transaction(10, inf=True, at="2026-01-02T00:00:00Z"),
        transaction(10, fan=True, at="2026-01-03T00:00:00Z"),
    )
    points = [(a["kind"], a["points"], a["modifiers"]) for a in actions if a["type"] == "points.award"]
    assert points == [
        ("tier", 11, []),
        ("reward", 11, []),  # 10.5 rounds half up to 11
        ("tier", 20, ["influencer"]),
        ("reward", 10, []),
        ("tier", 30, ["super-fan"]),
        ("reward", 10, []),  # 3 beats 2; never 2 x 3
    ]


def test_a_refund_takes_points_back(cfg):
    config = cfg("""
    reactions:
      - {id: p, on: [transaction.created], actions: [{type: points.award, kind: reward, points: {"var": "transaction.total"}}]}
    """)
    state, actions, _ = run(config, transaction(80), transaction(-30, at="2026-11-21T00:00:00Z"))
    assert [a["points"] for a in actions] == [80, -30]
    assert state.point_balance == 50


def test_reward_amount_of_zero_or_less_issues_nothing(cfg):
    config = cfg("""
    reactions:
      - {id: r, on: [transaction.created], actions: [{type: reward.create, amount: {"*": [{"var": "transaction.total"}, 0.1]}, valid_for: 30d}]}
    """)
    assert run(config, transaction(-100))[1] == []


def test_target_send_renders_the_payload_and_a_target_limit_drops_sends_but_the_chain_goes_on(cfg):
    config = cfg(
        """
    reactions:
      - {id: r, on: [transaction.created], actions: [{type: target.send, target: capped}, {type: tag.add, tag: after-send}]}
      - {id: other, on: [transaction.created], actions: [{type: target.send, target: capped}]}
    """,
        targets="""
    targets:
      - id: capped
        url: "http://127.0.0.1:9/"
        body: '{"total": {{ transaction.total }}}'
        limit: {per_profile: 1, window: 1d}
    """,
    )
    _state, actions, outcomes = run(
        config, transaction(7, at="2026-11-20T00:00:00Z"), transaction(8, at="2026-11-21T00:00:01Z")
    )
    assert brief(actions) == [
        ("target.send", {"target": "capped", "payload": {"total": 7}}),
        ("tag.add", {"tag": "after-send"}),
        ("target.send", {"target": "capped", "payload": {"total": 8}}),  # a day later: allowed again
    ]
    # In each event, the second send (reaction `other`) was over the limit.
    assert [o.limited_sends for o in outcomes] == [1, 1]


def test_a_failing_template_fails_only_its_reaction_and_rolls_it_back(cfg):
    config = cfg(
        """
    reactions:
      - {id: a-broken, on: [profile.updated], limit: {per_profile: 1},
         actions: [{type: tag.add, tag: from-broken}, {type: target.send, target: broken}]}
      - {id: b-fine, on: [profile.updated], actions: [{type: tag.add, tag: fine}]}
    """,
        targets="""
    targets:
      - id: broken
        url: "http://127.0.0.1:9/"
        body: '{"name": {{ profile.no_such_field | tojson }}}'
    """,
    )
    # The transaction first, so the profile update starts from a held state,
    # which the rolled-back reaction and the one after it must leave unchanged
    # (`run` checks that).
    state, actions, outcomes = run(config, transaction(5), profile_updated())
    assert brief(actions) == [("tag.add", {"tag": "fine"})]
    assert state.tags == ["fine"]
    assert "a-broken" not in state.fired  # rolled back: it may try again next time
    (failure,) = outcomes[1].failures
    assert failure.reaction_id == "a-broken" and failure.code == "missing_value"
    assert "no_such_field" in failure.message


def test_a_send_rolled_back_by_a_later_step_does_not_use_up_its_targets_limit(cfg):
    # The send is the chain's first step; the award after it fails (a string
    # is not a number), so the reaction is undone whole, the send's use of the
    # target's limit included: the next reaction may still send.
    config = cfg(
        """
    reactions:
      - id: a-sends-then-fails
        on: [transaction.created]
        actions:
          - {type: target.send, target: capped}
          - {type: points.award, kind: reward, points: {"var": "transaction.id"}}
      - {id: b-sends, on: [transaction.created], actions: [{type: target.send, target: capped}]}
    """,
        targets="""
    targets:
      - id: capped
        url: "http://127.0.0.1:9/"
        body: '{"total": {{ transaction.total }}}'
        limit: {per_profile: 1, window: 1d}
    """,
    )
    state, actions, outcomes = run(config, transaction(7))
    assert brief(actions) == [("target.send", {"target": "capped", "payload": {"total": 7}})]
    assert [a["reaction_id"] for a in actions] == ["b-sends"]
    (failure,) = outcomes[0].failures
    assert failure.reaction_id == "a-sends-then-fails" and failure.code == "not_a_number"
    assert outcomes[0].limited_sends == 0
    assert len(state.sent["capped"]) == 1  # b-sends' use alone


def test_a_rule_over_its_operation_budget_fails_only_its_reaction(cfg):
    config = cfg("""
    reactions:
      - id: runaway
        on: [profile.updated]
        when: {"reduce": [{"var": "big"}, {"+": [{"var": "accumulator"}, {"var": "current"}]}, 0]}
        actions: [{type: tag.add, tag: never}]
      - {id: fine, on: [profile.updated], actions: [{type: tag.add, tag: fine}]}
    """)
    # 50,000 items at three operations each is over the 100,000 budget.
    _, actions, outcomes = run(config, profile_updated(big=list(range(50_000))))
    assert brief(actions) == [("tag.add", {"tag": "fine"})]
    assert outcomes[0].failures[0].code == "budget_exceeded"


def test_an_amount_that_is_not_a_number_fails_the_reaction(cfg):
    config = cfg("""
    reactions:
      - {id: bad-points, on: [transaction.created], actions: [{type: tag.add, tag: x}, {type: points.award, kind: tier, points: {"var": "transaction.currency"}}]}
    """)
    _, actions, outcomes = run(config, transaction(10))
    assert actions == []
    assert outcomes[0].failures[0].code == "not_a_number"
    assert '"AUD"' in outcomes[0].failures[0].message


def test_process_never_mutates_the_state_it_is_given():
    """Every state of the bundled story (statuses, benefits, limits, points,
    rolled-back reactions, automations) is left as it was by the call that
    was given it: the engine copies a field before it changes it in place."""
    config = load_config(REPO)
    states: dict[str, ProfileState] = {}
    calls = 0
    lines = (REPO / "examples" / "events.jsonl").read_bytes().splitlines()
    for raw in lines:
        event = decode_event(raw)
        given = states.get(event.profile_id)
        kept = copy.deepcopy(given)
        outcome = process(event, given, config)
        assert given == kept, f"{event.id} changed the state it was given"
        if outcome.state is None:
            states.pop(event.profile_id, None)
        else:
            states[event.profile_id] = outcome.state
        calls += 1
    for state in states.values():
        kept = copy.deepcopy(state)
        run_due(state, config, "2030-01-01T00:00:00Z")
        assert state == kept
    assert calls == len(lines) > 200


def test_state_round_trips_through_json(cfg):
    config = cfg("""
    reactions:
      - {id: r, on: [transaction.created], limit: {per_profile: 3, window: 30d},
         actions: [{type: tag.add, tag: t}, {type: status.apply, status: staff}, {type: reward.create, amount: 5, valid_for: 30d},
                   {type: points.award, kind: tier, points: 3}]}
    """)
    state, _, _ = run(
        config,
        transaction(10, location={"id": "s"}),
        profile_updated(first_name="A", at="2026-11-21T00:00:00Z"),
    )
    assert ProfileState.from_json(state.to_json()) == state


def test_a_failed_reaction_leaves_the_state_exactly_as_it_was(cfg):
    config = cfg(
        """
    reactions:
      - {id: a-setup, on: [profile.updated], priority: 1, when: {"!": {"var": "go"}},
         actions: [{type: status.apply, status: media}, {type: tag.add, tag: old}]}
      - id: b-doomed
        on: [profile.updated]
        limit: {per_profile: 1, window: 30d}
        when: {"var": "go"}
        actions:
          - {type: status.apply, status: staff}
          - {type: status.remove, status: media}
          - {type: tag.remove, tag: old}
          - {type: tag.add, tag: new}
          - {type: benefit.create, benefit: welcome-gift}
          - {type: reward.create, amount: 5, currency: AUD, valid_for: 30d}
          - {type: points.award, kind: tier, points: 7}
          - {type: points.award, kind: reward, points: 9}
          - {type: target.send, target: capped}
          - {type: target.send, target: broken}
    """,
        targets="""
    targets:
      - {id: capped, url: "http://127.0.0.1:9/", body: '{}', limit: {per_profile: 1, window: 1d}}
      - {id: broken, url: "http://127.0.0.1:9/", body: '{{ nope | tojson }}'}
    """,
    )
    before, _, _ = run(config, profile_updated(at="2026-11-19T00:00:00Z"))
    after, actions, outcomes = run(config, profile_updated(go=True), state=before)
    assert actions == [] and outcomes[0].failures[0].reaction_id == "b-doomed"
    before_json = before.to_json()
    expected = dataclasses.replace(
        before, snapshot=after.snapshot, seen_events=after.seen_events, clock=after.clock
    )
    assert after == expected
    assert before.to_json() == before_json  # and the state it was given did not change either
