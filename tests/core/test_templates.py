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


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ first_name.__class__ }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ flattened_tags.append('x') }}",
        "{{ aggregations.update({'x': 1}) }}",
        "{{ self.__init__.__globals__ }}",
    ],
)
def test_the_sandbox_refuses_python_internals_and_mutation(source: str):
    with pytest.raises(TemplateError) as caught:
        render(source)
    assert caught.value.code in ("sandbox", "missing_value", "template_error")
    assert CONTEXT["flattened_tags"] == ["a", "b"]


@pytest.mark.parametrize(
    "source",
    [
        "{% for i in range(100000) %}{% for j in range(100000) %}x{% endfor %}{% endfor %}",
        "{{ 'x' * 100000000 }}",
        "{{ 2 ** 100000000 }}",
        "{{ 'x' | center(1000000000) }}",
        "{{ '%1000000000s' % 'x' }}",
        "{{ '{:>1000000000}'.format(1) }}",
        "{% for i in range(99999) %}{{ 'abcdefghijklmnopqrstuvwxyz' }}{% endfor %}",
    ],
)
def test_templates_that_would_run_for_ever_or_explode_fail_within_a_budget(source: str):
    with pytest.raises(TemplateError) as caught:
        render(source)
    assert caught.value.code == "budget_exceeded"


@pytest.mark.parametrize(
    ("source", "line"),
    [
        ("{% include 'secrets.txt' %}", 1),
        ("{\n{% import 'x' as y %}\n}", 2),
        ("{% extends '/etc/passwd' %}", 1),
        ("{\n\n{{ x | no_such_filter }}", 3),
        ("{% if %}", 1),
    ],
)
def test_templates_cannot_read_files_and_syntax_errors_name_the_line(source: str, line: int):
    problem = compile_template(source, "t")
    assert isinstance(problem, TemplateSyntaxProblem)
    assert problem.line == line
