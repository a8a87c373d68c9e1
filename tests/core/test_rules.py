"""JSON Logic as ops staff write it against reactor's context.

Expected values follow the JsonLogic spec (jsonlogic.com/operations.html):
truthiness (0, "", [], null, false are falsy; "0" is truthy), `var` with dotted
paths and defaults, `missing`, `in` on arrays and strings, loose `==`, and
array operations whose `var` is relative to the current item.
"""

from __future__ import annotations

from typing import Any

import pytest

from reactor.errors import RuleError
from reactor.rules import (
    ContextData,
    check_rule,
    compile_amount,
    compile_batch,
    compile_condition,
    explain_rule,
    fast_form,
    is_truthy,
)

CONTEXT: dict[str, Any] = {
    "first_name": "Ava",
    "email": "ava@example.com",
    "attributes": {
        "comms": {"email_opt_in": True, "sms_opt_in": False},
        "custom": {"instagram_followers": 12500},
    },
    "profile": {"id": "p-1", "identities": {"instagram": {"handle": "instagram", "followers": 12500}}},
    "previous_profile": None,
    "now": "2026-11-20T10:00:00Z",
    "flattened_tags": ["black-friday-2026", "vip-waitlist"],
    "flattened_statuses": ["vip", "influencer"],
    "best_status": "vip",
    "point_balance": 0,
    "aggregations": {
        "spend_12m": 1250.5,
        "days_since_last_spend": 3,
        "last_spend_at": "2026-11-17T09:00:00Z",
        "shop_count": 4,
    },
    "transaction": {
        "total": 129.5,
        "currency": "AUD",
        "items": [
            {"sku": "A1", "quantity": 1, "price": 129.5, "full_price": True},
            {"sku": "B2", "quantity": 2, "price": 10.0, "full_price": False},
        ],
        "tags": ["black-friday"],
    },
}

TABLE: list[tuple[str, Any, Any]] = [
    # var: dotted paths, defaults, missing values and nulls
    ("dotted path", {"var": "profile.identities.instagram.followers"}, 12500),
    ("root profile field", {"var": "first_name"}, "Ava"),
    ("array index in path", {"var": "transaction.items.1.sku"}, "B2"),
    ("missing path is null", {"var": "profile.identities.tiktok.followers"}, None),
    ("default for a missing path", {"var": ["profile.identities.tiktok.followers", 0]}, 0),
    ("null value is not replaced by the default", {"var": ["previous_profile", "none"]}, None),
    ("empty var is the whole data", {"!!": {"var": ""}}, True),
    # comparisons
    ("number >=", {">=": [{"var": "aggregations.spend_12m"}, 1000]}, True),
    ("null < number (null is 0)", {"<": [{"var": "nothing"}, 10000]}, True),
    ("between", {"<": [1000, {"var": "aggregations.spend_12m"}, 2000]}, True),
    (
        "RFC 3339 strings compare in time order",
        {"<": [{"var": "aggregations.last_spend_at"}, {"var": "now"}]},
        True,
    ),
    ("later time is greater", {">": ["2026-12-01T00:00:00Z", {"var": "now"}]}, True),
    ("loose equality", {"==": [1, "1"]}, True),
    ("strict equality", {"===": [1, "1"]}, False),
    ("!= on strings", {"!=": [{"var": "best_status"}, "staff"]}, True),
    # `==` as JavaScript's loose equality, the JsonLogic reference (CONTRACT §11):
    # null equals only null; booleans and strings compare as numbers.
    ("null == false is false", {"==": [None, False]}, False),
    ("null == 0 is false", {"==": [None, 0]}, False),
    ('null == "" is false', {"==": [None, ""]}, False),
    ("null == null", {"==": [None, None]}, True),
    ('"" == false', {"==": ["", False]}, True),
    ('"" == 0', {"==": ["", 0]}, True),
    ('"0" == false', {"==": ["0", False]}, True),
    ('"1" == true', {"==": ["1", True]}, True),
    ('"true" == true is false (true is 1)', {"==": ["true", True]}, False),
    ("0 == false", {"==": [0, False]}, True),
    ("2 == true is false", {"==": [2, True]}, False),
    ('" 12 " == 12 (spaces trimmed)', {"==": [" 12 ", 12]}, True),
    ('"0x10" == 16', {"==": ["0x10", 16]}, True),
    ('"abc" == 0 is false (NaN)', {"==": ["abc", 0]}, False),
    ("a missing var == false is false", {"==": [{"var": "attributes.custom.vip"}, False]}, False),
    ("a missing var == 0 is false", {"==": [{"var": "nothing"}, 0]}, False),
    ("a missing var == null", {"==": [{"var": "nothing"}, None]}, True),
    ("a false var == false", {"==": [{"var": "attributes.comms.sms_opt_in"}, False]}, True),
    ("a false var == 0", {"==": [{"var": "attributes.comms.sms_opt_in"}, 0]}, True),
    ("a number var == its string", {"==": [{"var": "aggregations.shop_count"}, "4"]}, True),
    (
        "a number var == a number var",
        {"==": [{"var": "aggregations.shop_count"}, {"var": "aggregations.shop_count"}]},
        True,
    ),
    ("two vars, null and 0", {"==": [{"var": "previous_profile"}, {"var": "point_balance"}]}, False),
    ("a one-item array == its item", {"==": [{"var": "flattened_statuses.0"}, "vip"]}, True),
    ("null != 0", {"!=": [None, 0]}, True),
    ('"" != false is false', {"!=": ["", False]}, False),
    ("a missing var != false", {"!=": [{"var": "attributes.custom.vip"}, False]}, True),
    # logic and truthiness
    (
        "and of truths",
        {"and": [{"var": "attributes.comms.email_opt_in"}, {">": [{"var": "point_balance"}, -1]}]},
        True,
    ),
    ("and returns the first falsy", {"and": [True, {"var": "attributes.comms.sms_opt_in"}, True]}, False),
    ("or returns the first truthy", {"or": [{"var": "nothing"}, {"var": "first_name"}]}, "Ava"),
    ("not", {"!": {"var": "attributes.comms.sms_opt_in"}}, True),
    ("double not of zero", {"!!": [0]}, False),
    ("the string 0 is truthy", {"!!": ["0"]}, True),
    ("an empty list is falsy", {"!!": [[]]}, False),
    # in
    ("in on an array", {"in": ["vip", {"var": "flattened_statuses"}]}, True),
    ("not in an array", {"in": ["staff", {"var": "flattened_statuses"}]}, False),
    ("in on a string", {"in": ["@example.com", {"var": "email"}]}, True),
    ("in on a transaction's tags", {"in": ["black-friday", {"var": "transaction.tags"}]}, True),
    # arithmetic for amounts
    ("percentage of a total", {"*": [{"var": "transaction.total"}, 0.1]}, 12.950000000000001),
    ("sum", {"+": [{"var": "transaction.total"}, 10, 0.5]}, 140.0),
    ("difference", {"-": [2000, {"var": "aggregations.spend_12m"}]}, 749.5),
    ("division", {"/": [{"var": "aggregations.spend_12m"}, {"var": "aggregations.shop_count"}]}, 312.625),
    ("modulo", {"%": [{"var": "aggregations.shop_count"}, 3]}, 1),
    ("max", {"max": [{"var": "aggregations.days_since_last_spend"}, 7]}, 7),
    ("min", {"min": [100, {"var": "transaction.total"}]}, 100),
    ("unary minus", {"-": [5]}, -5),
    # if
    ("if / else", {"if": [{">": [{"var": "aggregations.spend_12m"}, 5000]}, "gold", "silver"]}, "silver"),
    (
        "if / else if / else",
        {
            "if": [
                {"in": ["staff", {"var": "flattened_statuses"}]},
                40,
                {"in": ["vip", {"var": "flattened_statuses"}]},
                20,
                0,
            ]
        },
        20,
    ),
    # missing
    (
        "missing lists the absent keys",
        {"missing": ["email", "phone", "attributes.comms.email_opt_in"]},
        ["phone"],
    ),
    ("missing_some", {"missing_some": [1, ["email", "phone"]]}, []),
    # some / all / none over transaction items (var is relative to the item)
    ("some item is full price", {"some": [{"var": "transaction.items"}, {"var": "full_price"}]}, True),
    ("all items at least 10", {"all": [{"var": "transaction.items"}, {">=": [{"var": "price"}, 10]}]}, True),
    ("all items full price", {"all": [{"var": "transaction.items"}, {"var": "full_price"}]}, False),
    (
        "none of the items is a gift card",
        {"none": [{"var": "transaction.items"}, {"==": [{"var": "sku"}, "GIFT"]}]},
        True,
    ),
    ("all over an empty list is false", {"all": [[], True]}, False),
    # map / filter / reduce
    (
        "count full-price items",
        {
            "reduce": [
                {"filter": [{"var": "transaction.items"}, {"var": "full_price"}]},
                {"+": [{"var": "accumulator"}, 1]},
                0,
            ]
        },
        1,
    ),
    (
        "units bought",
        {
            "reduce": [
                {"var": "transaction.items"},
                {"+": [{"var": "accumulator"}, {"var": "current.quantity"}]},
                0,
            ]
        },
        3,
    ),
    ("skus", {"map": [{"var": "transaction.items"}, {"var": "sku"}]}, ["A1", "B2"]),
    # strings
    ("cat", {"cat": ["Hi ", {"var": "first_name"}]}, "Hi Ava"),
    ("substr", {"substr": [{"var": "email"}, -11]}, "example.com"),
]


@pytest.mark.parametrize(("name", "rule", "expected"), TABLE, ids=[row[0] for row in TABLE])
def test_rules_as_ops_write_them(name: str, rule: Any, expected: Any) -> None:
    assert check_rule(rule) == []
    amount = compile_amount(rule, "test")
    if isinstance(expected, int | float) and not isinstance(expected, bool):
        assert amount.value(ContextData(CONTEXT)) == pytest.approx(expected)
    explained = explain_rule(rule, CONTEXT)
    assert explained["value"] == expected
    assert compile_condition(rule, "test").holds(ContextData(CONTEXT)) is is_truthy(expected)


@pytest.mark.parametrize(
    ("rule", "fragment"),
    [
        ({"foo": [1]}, "unknown operator `foo`"),
        ({"tensor": [1, 2]}, "unknown operator `tensor`"),  # families left out on purpose
        ({"and": [True, {"bogus": []}]}, "unknown operator `bogus`"),
        ({">=": [{"var": "a"}]}, "at least 2 arguments"),
        ({"now": []}, "event time"),
        ({"<": [{"now": []}, {"var": "profile.birthday"}]}, "event time"),
    ],
)
def test_a_rule_that_cannot_run_is_refused_before_it_runs(rule: Any, fragment: str) -> None:
    problems = check_rule(rule)
    assert problems and fragment in problems[0].message


def test_the_problem_points_into_the_rule():
    (problem,) = check_rule({"and": [True, {"bogus": []}]})
    assert problem.pointer == "/and/1"


def test_a_runtime_error_is_a_rule_error_naming_the_place():
    condition = compile_condition({"throw": "stop"}, "reactions/x.yaml:3:5")
    with pytest.raises(RuleError) as caught:
        condition.holds(ContextData({}))
    assert caught.value.path == "reactions/x.yaml:3:5"


@pytest.mark.parametrize(
    ("left", "right", "expected"),
    [
        # Arrays and objects against scalars: JavaScript turns them into strings.
        (["a"], "a", True),
        ([1, 2], "1,2", True),
        ([], 0, True),
        ([], False, True),
        ([None], "", True),
        ([[1, 2], 3], "1,2,3", True),
        ([1.5], "1.5", True),
        ({"a": 1}, "[object Object]", True),
        ({"a": 1}, 1, False),
        # Two arrays or objects: the same values (JSON has no references).
        (["x"], ["x"], True),
        ({"a": 1}, {"a": 1}, True),
        ({"a": 1}, {"a": 2}, False),
        (["x"], {"0": "x"}, False),
    ],
)
def test_equality_with_arrays_and_objects_from_the_context(left: Any, right: Any, expected: bool) -> None:
    rule = {"==": [{"var": "left"}, {"var": "right"}]}
    context = {"left": left, "right": right}
    assert compile_condition(rule, "t").holds(ContextData(context)) is expected
    assert (
        compile_condition({"!=": [{"var": "left"}, {"var": "right"}]}, "t").holds(ContextData(context))
        is not expected
    )


@pytest.mark.parametrize(
    ("left", "right", "expected"),
    [
        # datalogic takes RFC 3339 strings for instants (its `===` says these
        # two are equal); JavaScript compares two strings as strings.
        ("2026-01-01T00:00:00Z", "2026-01-01T01:00:00+01:00", False),
        ("2026-01-01T00:00:00Z", "2026-01-01T00:00:00.000Z", False),
        ("2026-01-01T00:00:00Z", "2026-01-01T00:00:00Z", True),
    ],
)
def test_two_times_written_differently_are_different_strings(left: str, right: str, expected: bool) -> None:
    context = ContextData({"left": left, "right": right})
    for rule in ({"==": [{"var": "left"}, {"var": "right"}]}, {"==": [{"var": "left"}, right]}):
        assert compile_condition(rule, "t").holds(context) is expected
        assert compile_condition({"!": [rule]}, "t").holds(context) is not expected


# `==` under an iterator and at the top level, with the values JavaScript
# gives (ECMA-262 IsLooselyEqual, worked by hand): the fast form (`===` behind
# a probe of the operands' types) must mean what the exact form means, one
# rule at a time and in a batch, whatever the items and fields hold.
_SKU_12 = {"some": [{"var": "items"}, {"and": [{"var": "full_price"}, {"==": [{"var": "sku"}, "12"]}]}]}
_QTY_1 = {"some": [{"var": "items"}, {"==": [{"var": "qty"}, 1]}]}
_NOT_GIFT = {"all": [{"var": "items"}, {"!=": [{"var": "kind"}, "gift"]}]}
_SAME = {"some": [{"var": "items"}, {"==": [{"var": "a"}, {"var": "b"}]}]}
_NESTED = {"some": [{"var": "orders"}, {"some": [{"var": "items"}, {"==": [{"var": "sku"}, 5]}]}]}
_TOP = {"and": [{"==": [{"var": "qty"}, 1]}, {"!=": [{"var": "kind"}, "gift"]}]}
_AT = {"==": [{"var": "at"}, "2026-01-01T00:00:00Z"]}


@pytest.mark.parametrize(
    ("rule", "context", "expected"),
    [
        (_SKU_12, {"items": [{"sku": "12", "full_price": True}]}, True),
        (_SKU_12, {"items": [{"sku": "12", "full_price": False}]}, False),
        (
            _SKU_12,
            {"items": [{"sku": "x", "full_price": True}, {"sku": 12, "full_price": True}]},
            True,
        ),  # 12 == "12"
        (_SKU_12, {"items": [{"sku": " 12 ", "full_price": True}]}, False),  # two strings: as strings
        (_SKU_12, {"items": [{"sku": [12], "full_price": True}]}, True),  # [12] is "12"
        (_SKU_12, {"items": [{"sku": None, "full_price": True}, {"full_price": True}]}, False),
        (_SKU_12, {"items": []}, False),
        (_SKU_12, {}, False),
        (_QTY_1, {"items": [{"qty": 1}]}, True),
        (_QTY_1, {"items": [{"qty": 1.0}]}, True),
        (_QTY_1, {"items": [{"qty": True}]}, True),  # true is 1
        (_QTY_1, {"items": [{"qty": "01"}]}, True),  # "01" is 1
        (_QTY_1, {"items": [{"qty": "one"}, {"qty": 2}, {"qty": None}, {"qty": False}]}, False),
        (_NOT_GIFT, {"items": [{"kind": "shoe"}, {}]}, True),
        (_NOT_GIFT, {"items": [{"kind": "shoe"}, {"kind": "gift"}]}, False),
        (_NOT_GIFT, {"items": [{"kind": ["gift"]}]}, False),  # ["gift"] == "gift"
        (_SAME, {"items": [{"a": 1, "b": 2}, {"a": None, "b": None}]}, True),  # null == null
        (_SAME, {"items": [{"a": None, "b": 0}, {"a": "", "b": None}]}, False),  # null equals only null
        (_SAME, {"items": [{"a": 1, "b": "1"}]}, True),
        (_SAME, {"items": [{"a": "2026-01-01T00:00:00Z", "b": "2026-01-01T01:00:00+01:00"}]}, False),
        (_NESTED, {"orders": [{"items": [{"sku": 4}]}, {"items": [{"sku": "5"}]}]}, True),
        (_NESTED, {"orders": [{"items": [{"sku": 4}]}, {"items": [{"sku": "6"}]}]}, False),
        (_TOP, {"qty": 1, "kind": "shoe"}, True),
        (_TOP, {"qty": 1}, True),  # undefined != "gift"
        (_TOP, {"qty": 2, "kind": "shoe"}, False),
        (_TOP, {"qty": "1", "kind": "shoe"}, True),  # "1" == 1
        (_TOP, {"qty": " 1.0 ", "kind": "shoe"}, True),  # ToNumber trims
        (_TOP, {"qty": True, "kind": "shoe"}, True),  # true is 1
        (_TOP, {"qty": [1], "kind": "shoe"}, True),  # [1] is "1", is 1
        (_TOP, {"qty": None, "kind": "shoe"}, False),  # null equals only null
        (_TOP, {"qty": 1, "kind": ["gift"]}, False),  # ["gift"] == "gift"
        (_TOP, {"qty": 1, "kind": {"a": 1}}, True),  # "[object Object]" != "gift"
        (_AT, {"at": "2026-01-01T00:00:00Z"}, True),
        (_AT, {"at": "2026-01-01T01:00:00+01:00"}, False),  # the same instant, another string
    ],
)
def test_equality_means_the_same_in_its_fast_form(rule: Any, context: dict[str, Any], expected: bool) -> None:
    condition = compile_condition(rule, "t")
    assert condition.fast is not None
    data = ContextData(context)
    assert condition.holds(data) is expected
    other = compile_condition({"==": [{"var": "missing"}, None]}, "t")
    values = compile_batch([other, condition, None]).evaluate(data)
    assert values is not None and [is_truthy(v) for v in values] == [True, expected, True]


@pytest.mark.parametrize(
    "rule",
    [
        {"==": [{"var": "a"}, {"var": "b"}]},  # no literal at the top level: its exact form
        {"==": [{"var": "a"}, None]},  # `== null` is `=== null`
        {"some": [{"var": "items"}, {"===": [{"var": "sku"}, "x"]}]},  # no `==`
        {"some": [{"var": "items"}, {"==": [{"var": "sku"}, None]}]},  # `== null` is `=== null`
        {"reduce": [{"var": "items"}, {"==": [{"var": "current"}, 1]}, False]},  # another scope
        {"try": [{"some": [{"var": "items"}, {"==": [{"var": "sku"}, "x"]}]}, False]},  # a probe could throw
        {
            "some": [{"var": "items"}, {"==": [{"some": [{"var": "tags"}, True]}, True]}]
        },  # an iterator operand
    ],
)
def test_shapes_without_a_fast_form_keep_the_exact_form(rule: Any) -> None:
    assert fast_form(rule) is None
    assert compile_condition(rule, "t").fast is None


def test_explain_shows_equality_as_written_with_javascript_values():
    tree = explain_rule({"and": [True, {"!=": [{"var": "attributes.custom.vip"}, False]}]}, CONTEXT)
    assert tree["value"] is True
    (inequality,) = tree["children"]  # literals are not traced
    assert inequality["expression"] == {"!=": [{"var": "attributes.custom.vip"}, False]}
    assert inequality["value"] is True
    assert inequality["children"] == [
        {"expression": {"var": "attributes.custom.vip"}, "value": None},
        {"expression": False, "value": False},
    ]


def test_the_rewrite_operator_cannot_be_written_by_hand():
    (problem,) = check_rule({"reactor_loose_eq": [1, 2]})
    assert "unknown operator" in problem.message


def test_explain_marks_short_circuited_branches_as_not_evaluated():
    tree = explain_rule({"and": [{"var": "no"}, {"var": "first_name"}]}, CONTEXT)
    assert tree["value"] is None
    first, second = tree["children"]
    assert first == {"expression": {"var": "no"}, "value": None}
    assert "value" not in second  # `and` stopped at the first falsy value


@pytest.mark.parametrize(
    ("rule", "reads"),
    [
        ({"==": [{"var": "aggregations.shop_count"}, 8]}, {"aggregations"}),
        ({"!=": [{"var": "attributes.comms.email_opt_in"}, True]}, {"attributes"}),
        (
            {"==": [{"var": "profile.first_name"}, {"var": "previous_profile.first_name"}]},
            {"profile", "previous_profile"},
        ),
        (
            {"and": [{"==": [{"var": "tier"}, None]}, {"in": ["vip", {"var": "flattened_statuses"}]}]},
            {"tier", "flattened_statuses"},
        ),
        ({"==": [{"var": {"cat": ["attributes.", "x"]}}, 1]}, None),  # a computed path: could be anything
    ],
)
def test_a_rule_with_equality_reads_only_its_operands(rule, reads):
    # `==` is rewritten with a fallback operator datalogic cannot see into; the
    # keys read come from the rule as written, or each rule with an `==` would
    # have the whole context parsed for it (benchmarks/core.py: half the speed).
    expected = None if reads is None else frozenset(reads)
    assert compile_condition(rule, "r.yaml:1:1").reads == expected
    assert compile_amount({"if": [rule, 1, 0]}, "r.yaml:1:1").reads == expected
