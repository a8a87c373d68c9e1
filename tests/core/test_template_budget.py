"""The template budget: every way a value can grow, every loop, and the CPU backstop.

Each case in `GROWTH` and `STEPS` is sized just past one bound, so that the
guard named in its id is the one that trips (its message says so). Without that
guard the template would render: most of them end in `| length`, a small number.
"""

from __future__ import annotations

import pytest

from reactor import templates
from reactor.errors import TemplateError
from reactor.templates import MAX_BUILT, MAX_LENGTH, MAX_STEPS, Template, compile_template

# A 400,000-character string, so that three of them are past MAX_LENGTH (1,000,000).
BIG = "{% set a = 'x' * 400000 %}"
# A macro whose `varargs` is a tuple no literal built: m(a, a, a) shares `a` three times.
SHARE = "{% set ns = namespace() %}{% macro keep() %}{% set ns.x = varargs %}{% endmacro %}"


def render(source: str, context: dict | None = None):
    template = compile_template(source, "targets/templates/t.json.j2")
    assert isinstance(template, Template), template
    return template.render(context or {})


def budget_message(source: str, context: dict | None = None) -> str:
    with pytest.raises(TemplateError) as caught:
        render(source, context)
    assert caught.value.code == "budget_exceeded", caught.value.message
    return caught.value.message


def test_the_bounds_are_what_the_readme_says():
    assert (MAX_STEPS, MAX_LENGTH, MAX_BUILT) == (100_000, 1_000_000, 4_000_000)
    assert (templates.MAX_WIDTH, templates.MAX_INT_BITS, templates.MAX_CPU_SECONDS) == (100_000, 64, 0.5)
    assert templates.MAX_OUTPUT == 1_000_000


GROWTH = [
    # (id, source, what the message says)
    ("concat ~", "{{ (('x' * 600000) ~ ('y' * 600000)) | length }}", "`~` would make a string"),
    ("+ strings", "{{ (('x' * 600000) + ('y' * 600000)) | length }}", "`+` would make a string"),
    ("+ lists", BIG + "{% set l = [a] %}{{ (l + l + l) | length }}", "`+` would make a list"),
    ("+ tuples", BIG + "{% set t = (a,) %}{{ (t + t + t) | length }}", "`+` would make a tuple"),
    ("* string", "{{ ('x' * 1000001) | length }}", "`*` would make a string"),
    ("* list", "{{ (['x' * 1000] * 1000) | length }}", "`*` would make a list"),
    ("** int", "{{ 2 ** 64 }}", "`**` would make an integer of more than 64 bits"),
    ("* int", "{{ (4294967296 * 4294967296) | string | length }}", "an integer of more than 64 bits"),
    ("filter result", "{{ ('\"' * 400000) | escape | length }}", "a string of more than 1,000,000"),
    ("method result", "{{ ('ß' * 600000).upper() | length }}", "a string of more than 1,000,000"),
    ("replace filter", "{{ ('x' * 600000) | replace('x', 'xx') | length }}", "replace would make"),
    ("replace method", "{{ ('x' * 600000).replace('x', 'xx') | length }}", "replace would make"),
    ("join filter", "{{ ('x' * 100) | join('y' * 20000) | length }}", "join would make"),
    ("join method", "{{ ('y' * 20000).join('x' * 100) | length }}", "join would make"),
    ("indent width", "{{ ('\\n' * 1000) | indent(2000) | length }}", "indent would make"),
    ("indent text", "{{ ('\\n' * 1000) | indent('y' * 2000) | length }}", "indent would make"),
    ("indent lines", "{{ ('\\n' * 100001) | indent(1) | length }}", "indent of more than 100,000 lines"),
    ("wordwrap", "{{ ('x ' * 10000) | wordwrap(1, wrapstring='y' * 50) | length }}", "wordwrap could make"),
    ("str.format fields", "{{ ('{:>99999}' * 11).format(*([1] * 11)) | length }}", "format would make"),
    ("str.format width as text", "{{ '{:>{}}'.format('x', '100001') | length }}", "format width 100001"),
    ("% format", "{{ (('%99999s' * 11) % ((1,) * 11)) | length }}", "a %-format of more than"),
    ("| format", "{{ ('%99999s' * 11) | format(*((1,) * 11)) | length }}", "a %-format of more than"),
    ("% width", "{{ ('%100001s' % 1) | length }}", "format width 100001"),
    ("set block", BIG + "{% set b %}{{ a }}{{ a }}{{ a }}{% endset %}{{ b | length }}", "a block of more than"),
    ("macro output", BIG + "{% macro m() %}{{ a }}{{ a }}{{ a }}{% endmacro %}{{ m() | length }}", "a block of"),
    ("namespace attribute", SHARE + BIG + "{{ keep(a, a, a) }}{{ ns.x | length }}", "a tuple of more than"),
    ("list literal", BIG + "{{ [a, a, a] | length }}", "a list of more than 1,000,000 characters when printed"),
    ("dict literal", BIG + "{{ {'k': a, 'l': a, 'm': a} | length }}", "a dict of more than"),
    ("tuple literal", BIG + "{{ (a, a, a) | length }}", "a tuple of more than"),
    ("nested literal", "{% set a = 'x' * 300000 %}{% set b = [a, a] %}{{ [b, b] | length }}", "a list of more"),
    ("tojson input", BIG + "{% macro m() %}{{ varargs | tojson | length }}{% endmacro %}{{ m(a, a, a) }}", "tojson of a value"),
    ("printed value", BIG + "{% macro m() %}{{ varargs }}{% endmacro %}{{ m(a, a, a) | length }}", "a value of more than 1,000,000 characters when printed"),
    ("split", "{{ ('a ' * 100001).split() | length }}", "split into more than 100,000 parts"),
    ("splitlines", "{{ ('\\n' * 100001).splitlines() | length }}", "splitlines of more than 100,000 lines"),
    ("method width", "{{ 'x'.center(100001) | length }}", "number 100001 is larger than templates allow"),
    ("filter width", "{{ 'x' | center(100001) | length }}", "number 100001 is larger than templates allow"),
    ("range", "{{ range(100001) | length }}", "range of more than 100,000 numbers"),
    # 0.5M for `a`, then eight copies of about 0.5M each: past 4M in all, though none is too long.
    ("built in all", "{% set a = 'x' * 500000 %}{% for i in range(8) %}{% set b = a ~ 'y' %}{% endfor %}0", "built more"),
    ("slices built in all", "{% set a = 'x' * 1000000 %}{% for i in range(4) %}{% set b = a[1:] %}{% endfor %}0", "built more"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("source", "expected"), [case[1:] for case in GROWTH], ids=[case[0] for case in GROWTH]
)
def test_each_way_a_value_grows_is_checked(source: str, expected: str):
    assert expected in budget_message(source)


STEPS = [
    ("for over text", "{% for c in 'x' * 100001 %}{% endfor %}0"),
    # 400 for the outer loop, 400 x 400 for the inner one.
    ("nested for", "{% for a in range(400) %}{% for b in range(400) %}{% endfor %}{% endfor %}0"),
    # `map` walks 50,001 items, then the loop walks its output: over 100,000.
    ("for over a filter's output", "{% for x in range(50001) | map(attribute='real') %}{% endfor %}0"),
    # 200 at depth 1, then 200 x 600 at depth 2.
    ("recursive loop", "{% for x in range(200) recursive %}{% if loop.depth == 1 %}{{ loop(range(600)) }}{% endif %}{% endfor %}0"),
    ("*args", "{{ joiner(*('x' * 100001)) }}"),
    # 9,500 iterations and as many macro calls, at 10 steps each (and 1 for the value it returns).
    ("macro calls", "{% macro f() %}{% endmacro %}{% for i in range(9500) %}{{ f() }}{% endfor %}0"),
    ("walking filter", "{{ ('x' * 100001) | list | length }}"),
    # wordwrap costs 4 steps a character: 25,001 characters are 100,004 steps.
    ("wordwrap", "{{ ('x' * 25001) | wordwrap(79) | length }}"),
]  # fmt: skip


@pytest.mark.parametrize("source", [case[1] for case in STEPS], ids=[case[0] for case in STEPS])
def test_every_loop_iteration_and_item_walked_is_counted(source: str):
    assert f"budget of {MAX_STEPS:,} steps" in budget_message(source)


def test_a_loop_over_a_dict_counts_its_keys():
    context = {"d": {str(i): i for i in range(MAX_STEPS + 1)}}
    assert "steps" in budget_message("{% for k in d %}{% endfor %}0", context)
    assert render("{% for k in d %}{% endfor %}0", {"d": {"a": 1}}) == 0


def test_a_loop_longer_than_the_steps_left_fails_before_its_first_item():
    # Deterministic and quick: the body (which would fail otherwise) never runs.
    assert "steps" in budget_message("{% for i in range(100000) %}{{ 1 / 0 }}{% endfor %}")


def test_right_at_the_bounds_a_template_renders():
    assert render("{% for c in 'x' * 99990 %}{% endfor %}0") == 0  # and a step for `*`, one for the loop
    assert render("{{ ('x' * 1000000) | length }}") == 1_000_000
    assert render("{{ 2 ** 63 }}") == 2**63
    assert render("{{ -(2 ** 63) }}") == -(2**63)
    assert render("{{ '{:>100000}'.format('x') | length }}") == 100_000
    assert render("{{ ('%100000s' % 'x') | length }}") == 100_000
    assert render("{{ ('a ' * 99990).split() | length }}") == 99_990


def test_the_cpu_backstop_stops_what_no_counter_sees(monkeypatch: pytest.MonkeyPatch):
    # Comparing two 1 MB strings builds nothing and walks nothing a counter sees;
    # 100,000 of them take seconds. A tenth of the real limit keeps the test short.
    monkeypatch.setattr(templates, "MAX_CPU_SECONDS", 0.05)
    source = (
        "{% set s = 'x' * 1000000 %}{% set t = 'x' * 999999 ~ 'x' %}"
        "{% for i in range(99000) %}{% if s == t %}{% endif %}{% endfor %}0"
    )
    assert "0.05 s of CPU time" in budget_message(source)


def test_recursion_fails_as_a_budget():
    assert "nests too deeply" in budget_message("{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}")


def test_the_counters_give_the_same_answer_every_time():
    source = "{% for a in range(400) %}{% for b in range(400) %}{% endfor %}{% endfor %}0"
    assert budget_message(source) == budget_message(source)


HOSTILE = [
    # The attacks a hostile tester measured at 8 s to minutes of CPU or 1-3 GB before (issue #10).
    ("chained replace", "{% set s = 'x' * 1000 %}{{ s | replace('x', 'x' * 10) | replace('x', 'x' * 10) | replace('x', 'x' * 10) | replace('x', 'x' * 10) | length }}"),
    ("repeated ~", "{% set ns = namespace(s='x') %}{% for i in range(100000) %}{% set ns.s = ns.s ~ 'xxxxxxxxxx' %}{% endfor %}{{ ns.s | length }}"),
    ("doubling ~", "{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s | length }}"),
    ("indent", "{{ ('\\n' * 100000) | indent(100000) | length }}"),
    ("format width as text", "{{ '{:>{}}'.format('x', '1000000000') | length }}"),
    ("list + doubling", "{% set ns = namespace(l=[1]) %}{% for i in range(64) %}{% set ns.l = ns.l + ns.l %}{% endfor %}{{ ns.l | length }}"),
    ("set blocks", "{% set ns = namespace(s='xx') %}{% for i in range(64) %}{% set b %}{{ ns.s }}{{ ns.s }}{% endset %}{% set ns.s = b %}{% endfor %}{{ ns.s | length }}"),
    ("namespace doubling", "{% set ns = namespace(x=[0]) %}{% for i in range(64) %}{% set ns.x = [ns.x, ns.x] %}{% endfor %}{{ ns.x | tojson }}"),
    ("nested for over text", "{% set s = 'x' * 100000 %}{% for a in s %}{% for b in s %}{% endfor %}{% endfor %}0"),
    ("** chain", "{{ 9 ** (9 ** 9) }}"),
    ("* squaring", "{% set ns = namespace(n=3) %}{% for i in range(100000) %}{% set ns.n = ns.n * ns.n %}{% endfor %}{{ ns.n }}"),
    ("old checks: nested range", "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}"),
    ("old checks: string *", "{{ 'x' * 100000000 }}"),
    ("old checks: **", "{{ 2 ** 100000000 }}"),
    ("old checks: center", "{{ 'x' | center(1000000000) }}"),
    ("old checks: % width", "{{ '%1000000000s' % 'x' }}"),
    ("old checks: format width", "{{ '{:>1000000000}'.format(1) }}"),
    ("old checks: output", "{% for i in range(99999) %}{{ 'abcdefghijklmnopqrstuvwxyz' }}{% endfor %}"),
]  # fmt: skip


@pytest.mark.parametrize("source", [case[1] for case in HOSTILE], ids=[case[0] for case in HOSTILE])
def test_the_measured_attacks_fail_within_the_budget(source: str):
    budget_message(source)
