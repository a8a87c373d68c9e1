"""`Template.reads()`: the context paths a template reads, for `validate` to check.

The expected paths and lines of the bundled templates are read off the files by hand.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from ruamel.yaml import YAML

from reactor.templates import ContextRead, Template, compile_template

ROOT = Path(__file__).resolve().parents[2]


def reads(source: str) -> list[tuple[tuple[str, ...], int, bool]]:
    template = compile_template(source, "t")
    assert isinstance(template, Template), template
    return [(read.path, read.line, read.optional) for read in template.reads()]


def bundled(name: str) -> str:
    return (ROOT / "targets" / "templates" / name).read_text()


def test_influencer_welcome():
    assert reads(bundled("influencer-welcome.json.j2")) == [
        (("statuses",), 1, False),  # `influencer` is set from it on line 1, and is no context path after
        (("email",), 3, True),
        (("first_name",), 6, True),
        (("profile", "identities", "instagram", "identifier"), 7, True),
        (("profile", "identities", "instagram", "followers"), 8, False),
        # `default` on line 11 applies to `first`'s result, not to the path `benefits`.
        (("benefits",), 11, False),
    ]


def test_reward_issued():
    assert reads(bundled("reward-issued.json.j2")) == [
        (("email",), 2, True),
        (("first_name",), 5, True),
        (("reward_balance",), 6, False),
        (("transaction", "currency"), 6, False),
        (("aggregations", "spend_12m"), 7, False),
        (("transaction", "location", "name"), 8, True),
        (("best_status",), 9, False),
    ]


def test_vip_welcome():
    assert reads(bundled("vip-welcome.json.j2")) == [
        (("email",), 2, True),
        (("first_name",), 5, True),
        (("aggregations", "spend_12m"), 6, False),
        (("flattened_statuses",), 7, False),
        # `.meta.concierge_email` is read from `first`'s result, not from the root.
        (("statuses",), 8, False),
    ]


def test_tier_welcome():
    assert reads(bundled("tier-welcome.json.j2")) == [
        # `tiers[trigger.program]`: the dynamic subscript is read on its own and ends `tiers`.
        (("trigger", "program"), 1, False),
        (("tiers",), 1, False),
        (("email",), 3, True),
        (("first_name",), 6, True),
        # `tier` (lines 7-9) is set on line 1.
        (("points", "tier"), 10, False),
        (("points", "reward"), 11, False),
    ]


def test_reward_expiring():
    assert reads(bundled("reward-expiring.json.j2")) == [
        (("email",), 2, True),
        (("first_name",), 5, True),
        (("reminder", "item", "remaining"), 6, False),
        (("reminder", "item", "currency"), 6, False),
        (("reminder", "item", "expires_at"), 7, False),
        (("reward_balance",), 8, False),
    ]


def test_birthday():
    assert reads(bundled("birthday.json.j2")) == [
        (("email",), 2, True),
        (("first_name",), 5, True),
        (("reminder", "item"), 6, False),
        (("days_until_birthday",), 7, False),
        (("tier_handle",), 8, False),
        (("benefits",), 9, False),  # `default` applies to `last`'s result
    ]


def test_the_inline_body_in_comms_yaml():
    targets = YAML(typ="safe").load((ROOT / "targets" / "comms.yaml").read_text())["targets"]
    (body,) = [target["body"] for target in targets if "body" in target]
    assert reads(body) == [
        (("email",), 2, True),
        (("first_name",), 4, True),
        (("aggregations", "days_since_last_spend"), 5, False),
        (("aggregations", "last_spend_at"), 6, False),
        (("reward_balance",), 7, False),
    ]


def test_every_bundled_template_is_covered():
    assert sorted(p.name for p in (ROOT / "targets" / "templates").glob("*.j2")) == [
        "birthday.json.j2",
        "influencer-welcome.json.j2",
        "reward-expiring.json.j2",
        "reward-issued.json.j2",
        "tier-welcome.json.j2",
        "vip-welcome.json.j2",
    ]


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        # Subscripts: a constant string is a name, anything else ends the path (and is read itself).
        ("{{ transaction['items'] }}", [(("transaction", "items"), 1, False)]),
        ("{{ transaction.items[0].sku }}", [(("transaction", "items", "0", "sku"), 1, False)]),
        ("{{ statuses.0.handle }}", [(("statuses", "0", "handle"), 1, False)]),
        ("{{ transaction.items[-1].sku }}", [(("transaction", "items"), 1, False)]),
        ("{{ a.b[key].c }}", [(("key",), 1, False), (("a", "b"), 1, False)]),
        # A method call reads the object, not a field named after the method.
        ("{{ aggregations.get('spend_12m') }}", [(("aggregations",), 1, False)]),
        ("{{ profile.values() }}", [(("profile",), 1, False)]),
        # `default` (or `d`), `is defined` and `is undefined` make a path optional.
        ("{{ a.b | d(1) }}", [(("a", "b"), 1, True)]),
        ("{% if a.b is defined %}{% endif %}", [(("a", "b"), 1, True)]),
        ("{% if a is undefined %}{% endif %}", [(("a",), 1, True)]),
        ("{{ a.b | upper | default('x') }}", [(("a", "b"), 1, False)]),
        # Names bound in the template are not context paths.
        ("{% set x = a %}{{ x.y }}", [(("a",), 1, False)]),
        ("{% set x %}{{ a }}{% endset %}{{ x }}", [(("a",), 1, False)]),
        ("{% set x, y = a, b %}{{ x }}{{ y }}", [(("a",), 1, False), (("b",), 1, False)]),
        ("{% for s in statuses %}{{ s.handle }}{{ loop.index }}{% endfor %}", [(("statuses",), 1, False)]),
        ("{% for k, v in a | dictsort %}{{ k }}{{ v }}{% endfor %}", [(("a",), 1, False)]),
        ("{% for s in xs if s.ok %}{{ s }}{% else %}{{ s }}{% endfor %}", [(("xs",), 1, False), (("s",), 1, False)]),
        ("{% macro m(p, q=1) %}{{ p }}{{ q }}{{ r }}{{ varargs }}{{ caller }}{% endmacro %}{{ m(a) }}",
         [(("r",), 1, False), (("a",), 1, False)]),
        ("{% call(item) m(a) %}{{ item }}{% endcall %}", [(("m",), 1, False), (("a",), 1, False)]),
        ("{% with w = a %}{{ w }}{% endwith %}{{ w }}", [(("a",), 1, False), (("w",), 1, False)]),
        ("{% set ns = namespace(n=0) %}{% set ns.n = a %}{{ ns.n }}", [(("a",), 1, False)]),
        ("{{ range(3) | list }}{{ dict(a=1) }}{{ joiner() }}", []),
        # A name read before it is set is read from the context.
        ("{{ x }}{% set x = 1 %}{{ x }}", [(("x",), 1, False)]),
        # A set inside a loop stays there.
        ("{% for i in range(2) %}{% set x = i %}{% endfor %}{{ x }}", [(("x",), 1, False)]),
        # One entry per place: the same path on two lines is two entries, the same line once.
        ("{{ a }}{{ a }}\n{{ a }}", [(("a",), 1, False), (("a",), 2, False)]),
    ],
)  # fmt: skip
def test_reads_rules(source: str, expected: list[tuple[tuple[str, ...], int, bool]]):
    assert reads(source) == expected


def test_reads_are_frozen_values():
    template = compile_template("{{ aggregations.spend_12m | tojson }}", "t")
    assert isinstance(template, Template)
    assert template.reads() == (ContextRead(("aggregations", "spend_12m"), 1, False),)
    with pytest.raises(AttributeError):
        template.reads()[0].line = 2  # type: ignore[misc]
