"""Target templates: Jinja2 in a sandbox that renders JSON, and fails safely."""

from __future__ import annotations

import pytest

from reactor.errors import TemplateError
from reactor.templates import Template, TemplateSyntaxProblem, compile_template

CONTEXT = {
    "first_name": "Ava",
    "now": "2026-11-20T10:05:00Z",
    "aggregations": {"spend_12m": 1234.5},
    "statuses": [{"handle": "influencer", "meta": {"portal_badge": "star"}}],
    "flattened_tags": ["a", "b"],
}


def render(source: str, context: dict | None = None):
    template = compile_template(source, "targets/templates/t.json.j2")
    assert isinstance(template, Template), template
    return template.render(CONTEXT if context is None else context)


def test_filters_tojson_date_default_money():
    payload = render(
        '{"name": {{ first_name | tojson }}, "day": {{ now | date("%d %b %Y") | tojson }},'
        ' "nick": {{ nickname | default("friend") | tojson }}, "spend": {{ aggregations.spend_12m | money("AUD") | tojson }},'
        ' "plain": {{ aggregations.spend_12m | money | tojson }}, "tags": {{ flattened_tags | tojson }},'
        ' "badge": {{ (statuses | first).meta.portal_badge | tojson }}, "html": {{ "<b>&</b>" | tojson }}}'
    )
    assert payload == {
        "name": "Ava",
        "day": "20 Nov 2026",
        "nick": "friend",
        "spend": "AUD 1,234.50",
        "plain": "1,234.50",
        "tags": ["a", "b"],
        "badge": "star",
        "html": "<b>&</b>",
    }


def test_a_missing_value_is_an_error_unless_defaulted():
    with pytest.raises(TemplateError) as caught:
        render('{"x": {{ profile.email | tojson }}}')
    assert caught.value.code == "missing_value" and "targets/templates/t.json.j2" in caught.value.message
    assert render('{"x": {{ profile.email | default(none) | tojson }}}') == {"x": None}


def test_output_must_be_json():
    with pytest.raises(TemplateError) as caught:
        render('{"name": {{ first_name }}}')  # unquoted string
    assert caught.value.code == "invalid_json"


# Escapes, reprs and key-before-method: test_template_sandbox.py; budgets: test_template_budget.py;
# `reads()`: test_template_reads.py.


@pytest.mark.parametrize(
    ("source", "line"),
    [
        ("{% include 'secrets.txt' %}", 1),
        ("{\n{% import 'x' as y %}\n}", 2),
        ("{% extends '/etc/passwd' %}", 1),
        ("{\n\n{{ x | no_such_filter }}", 3),
        ("{% if %}", 1),
        # Jinja itself lets an unknown filter or test through in a branch that may not run.
        ("{% if x %}\n{{ x | no_such_filter }}{% endif %}", 2),
        ("{{ 1 if x is no_such_test else 2 }}", 1),
        ("{{ " + "9" * 5000 + " }}", 1),  # past Python's 4,300 digits: was a crash at load
    ],
)
def test_templates_cannot_read_files_and_syntax_errors_name_the_line(source: str, line: int):
    problem = compile_template(source, "t")
    assert isinstance(problem, TemplateSyntaxProblem)
    assert problem.line == line


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("{{ x | tojsn }}", "No filter named 'tojsn'. Did you mean 'tojson'?"),
        ("{{ x | defualt(1) }}", "No filter named 'defualt'. Did you mean 'default'?"),
        (
            "{{ x | pprint }}",
            "The filter 'pprint' is not available in templates (it prints Python reprs): use `tojson`.",
        ),
        (
            "{{ [1, 2] | random }}",
            "The filter 'random' is not available in templates (a payload must be the same in replay "
            "and on the worker): pick by a rule instead.",
        ),
        ("{% if x is defind %}{% endif %}", "No test named 'defind'. Did you mean 'defined'?"),
    ],
)
def test_unknown_filters_and_tests_say_what_was_meant(source: str, message: str):
    problem = compile_template(source, "t")
    assert isinstance(problem, TemplateSyntaxProblem)
    assert problem.message == message
