"""The context's shape, as `validate` checks rules against it (CONTRACT §11).
Messages and pointers are as a user reads them."""

from __future__ import annotations

from typing import Any

import pytest

from reactor.schema import check_path, check_rule_paths, context_shape, did_you_mean

SHAPE = context_shape()


@pytest.mark.parametrize(
    ("path", "message"),
    [
        (
            "aggregations.spend12m",
            "`aggregations.spend12m` is not in `aggregations` (did you mean `aggregations.spend_12m`?)",
        ),
        (
            "aggregation.spend_12m",
            "`aggregation` is not in the context (did you mean `aggregations`?); "
            "a profile field of that name is `profile.aggregation`",
        ),
        (
            "Aggregations.spend_12m",
            "`Aggregations` is not in the context (did you mean `aggregations`?); "
            "a profile field of that name is `profile.Aggregations`",
        ),
        (
            "transaction.totl",
            "`transaction.totl` is not in `transaction` (did you mean `transaction.total`?)",
        ),
        (
            "transaction.location.nmae",
            "`transaction.location.nmae` is not in `transaction.location` (did you mean `transaction.location.name`?)",
        ),
        (
            "flattened_tags.first",
            "`flattened_tags` is a list of strings: index it with a number, not `first`",
        ),
        ("point_balance.total", "`point_balance` is a number: it has no field `total`"),
        (
            "statuses.0.handel",
            "`statuses.0.handel` is not in `statuses.0` (did you mean `statuses.0.handle`?)",
        ),
        (
            "best_staus",
            "`best_staus` is not in the context (did you mean `best_status`?); "
            "a profile field of that name is `profile.best_staus`",
        ),
        ("now.day", "`now` is a time (RFC 3339 string): it has no field `day`"),
    ],
)
def test_a_path_no_context_can_hold(path: str, message: str) -> None:
    assert check_path(path.split("."), SHAPE) == message


@pytest.mark.parametrize(
    "path",
    [
        "first_name",  # the profile's own fields sit at the root
        "attributes.custom.employee_id",
        "profile.identities.instagram.followers",
        "previous_profile.attributes.custom.employee_id",
        "event.source_system",  # an event's unknown top-level fields are kept
        "transaction.payment_method",  # upstream's own transaction field, not a near miss
        "transaction.items.0.sku",
        "transaction.items.3.anything",
        "aggregations.days_since_previous_spend",
        "statuses.0.meta.portal_badge",
        "benefits.0.claimed_at",
        "best_customer_facing_status",
        "trigger.tier",  # a template may be sent from any reaction
        "points.reward",
        "rewards.0.remaining",
        "reminder.item.anything",
    ],
)
def test_paths_a_context_can_hold(path: str) -> None:
    assert check_path(path.split("."), SHAPE) is None


def problems(rule: Any) -> list[tuple[str, str]]:
    return [(p.pointer, p.message) for p in check_rule_paths(rule, SHAPE)]


def test_every_var_of_a_rule_is_checked_with_a_pointer_to_it():
    rule = {"and": [{">=": [{"var": "aggregations.spend12m"}, 1000]}, {"!": {"var": "transaction.totl"}}]}
    assert problems(rule) == [
        (
            "/and/0/>=/0/var",
            "`aggregations.spend12m` is not in `aggregations` (did you mean `aggregations.spend_12m`?)",
        ),
        ("/and/1/!/var", "`transaction.totl` is not in `transaction` (did you mean `transaction.total`?)"),
    ]


def test_defaults_and_missing_are_checked_too():
    assert problems({"var": ["first_name", {"var": "aggregations.shops"}]}) == [
        ("/var/1/var", "`aggregations.shops` is not in `aggregations`"),
    ]
    assert problems({"missing": ["email", "aggregations.spend_12"]}) == [
        (
            "/missing/1",
            "`aggregations.spend_12` is not in `aggregations` (did you mean `aggregations.spend_12m`?)",
        ),
    ]


def test_a_root_key_inside_an_iterator_reads_the_item_and_the_fix_is_given():
    rule = {
        "some": [
            {"var": "transaction.items"},
            {">": [{"var": "price"}, {"var": "aggregations.spend_atv_12m"}]},
        ]
    }
    ((pointer, message),) = problems(rule)
    assert pointer == "/some/1/>/1/var"
    assert message == (
        "`aggregations.spend_atv_12m` inside an iterator reads the current item, not the context (JsonLogic); "
        'to read the context write {"val":[[1],"aggregations","spend_atv_12m"]}'
    )
    assert problems(
        {"all": [{"var": "transaction.items"}, {"<": [{"var": "now"}, "2027-01-01T00:00:00Z"]}]}
    ) == [
        (
            "/all/1/</0/var",
            '`now` inside an iterator reads the current item, not the context (JsonLogic); to read the context write {"val":[[1],"now"]}',
        )
    ]


def test_the_suggested_form_reads_the_context_from_inside_one_and_two_iterators():
    from reactor.rules import ContextData, compile_amount

    data = ContextData({"now": "N", "items": [{"inner": [1]}]})
    one = {"map": [{"var": "items"}, {"val": [[1], "now"]}]}
    two = {"map": [{"var": "items"}, {"map": [{"var": "inner"}, {"val": [[3], "now"]}]}]}
    assert compile_amount(one, "t")._rule.evaluate_data(data.handle) == ["N"]
    assert compile_amount(two, "t")._rule.evaluate_data(data.handle) == [["N"]]
    nested = {"map": [{"var": "transaction.items"}, {"map": [{"var": "tags"}, {"var": "now"}]}]}
    assert '[[3],"now"]' in problems(nested)[0][1]
    assert problems({"some": [{"var": "transaction.items"}, {"==": [{"val": [[1], "now"]}, 1]}]}) == []


def test_inside_an_iterator_an_items_known_fields_are_checked():
    assert problems({"some": [{"var": "statuses"}, {"==": [{"var": "handel"}, "vip"]}]}) == [
        ("/some/1/==/0/var", '`handel` is not in an item of {"var":"statuses"} (did you mean `handle`?)'),
    ]
    assert problems({"some": [{"var": "transaction.items"}, {"var": "full_price"}]}) == []  # items are open
    reduce = {"reduce": [{"var": "statuses"}, {"+": [{"var": "accumulator"}, {"var": "current.rnak"}]}, 0]}
    assert problems(reduce) == [
        ("/reduce/1/+/1/var", '`rnak` is not in an item of {"var":"statuses"} (did you mean `rank`?)'),
    ]


def test_the_programme_in_the_shape():
    shape = context_shape(programs=["loyalty"], achievements=["regular"], kinds=["tier", "reward", "action"])
    assert check_path(["tiers", "loyalty", "handle"], shape) is None
    assert check_path(["tiers", "loyality", "handle"], shape) == (
        "`tiers.loyality` is not in `tiers` (did you mean `tiers.loyalty`?)"
    )
    assert (
        check_path(["points", "actoin"], shape)
        == "`points.actoin` is not in `points` (did you mean `points.action`?)"
    )
    assert check_path(["achievements", "regular", "levle"], shape) == (
        "`achievements.regular.levle` is not in `achievements.regular` (did you mean `achievements.regular.level`?)"
    )


def test_trigger_and_reminder_as_the_rule_sees_them():
    on_tier = context_shape(listens_to=["tier.changed"])
    assert check_path(["trigger", "tier"], on_tier) is None
    assert (
        check_path(["trigger", "tir"], on_tier)
        == "`trigger.tir` is not in `trigger` (did you mean `trigger.tier`?)"
    )
    on_profile = context_shape(listens_to=["profile.updated"], reminder=False)
    assert check_path(["trigger", "tier"], on_profile) == (
        "`trigger` is null here (only reactions on reactor's own events have one): it has no field `tier`"
    )
    assert check_path(["reminder", "due_at"], on_profile) == (
        "`reminder` is null here (only reminders have one): it has no field `due_at`"
    )
    assert check_path(["reminder", "due_at"], context_shape(reminder=True)) is None


def test_did_you_mean_prefers_a_case_slip():
    assert did_you_mean("VIP", ["vip", "media"], quote="'") == " (did you mean 'vip'?)"
    assert did_you_mean("whem", ["when", "where"]) == " (did you mean `when`?)"
    assert did_you_mean("xyz", ["when"]) == ""
