"""The template sandbox: classic Jinja SSTI payloads, Python reprs, key before method."""

from __future__ import annotations

import copy
import re

import pytest

from reactor.errors import TemplateError
from reactor.templates import Template, compile_template

CONTEXT = {
    "first_name": "Ava",
    "statuses": [{"handle": "vip", "meta": {"concierge_email": "c@example.com"}}],
    "flattened_tags": ["a", "b"],
    "aggregations": {"spend_12m": 1234.5},
}

# Classic server-side template injection payloads (PayloadsAllTheThings, HackTricks, the
# Jinja sandbox's own advisories), aimed at what reactor's templates can reach.
ESCAPES = [
    # Class hierarchy walks from literals and context values.
    "{{ ''.__class__ }}",
    "{{ ''.__class__.__mro__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ ''.__class__.__base__.__subclasses__() }}",
    "{{ [].__class__.__base__.__subclasses__() }}",
    "{{ {}.__class__.__bases__[0].__subclasses__() }}",
    "{{ ().__class__.__bases__[0].__subclasses__()[59].__init__.__globals__ }}",
    "{{ first_name.__class__ }}",
    "{{ first_name.__init__.__globals__ }}",
    "{{ aggregations.__class__.__subclasses__() }}",
    "{% for c in [].__class__.__base__.__subclasses__() %}{% if c.__name__ == 'catch_warnings' %}"
    "{{ c()._module.__builtins__['__import__']('os').popen('id').read() }}{% endif %}{% endfor %}",
    # Globals and their function objects.
    "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
    "{{ joiner.__init__.__globals__.os.popen('id').read() }}",
    "{{ namespace.__init__.__globals__.os.popen('id').read() }}",
    "{{ lipsum.__globals__['os'].popen('id').read() }}",
    "{{ lipsum.__globals__.__builtins__.open('/etc/passwd').read() }}",
    "{{ range.__self__ }}",
    "{{ range.__globals__ }}",
    "{{ dict.__globals__ }}",
    "{{ dict.__class__ }}",
    "{{ dict.fromkeys(range(3)) }}",
    "{{ namespace().__class__ }}",
    "{{ joiner().__class__.__mro__ }}",
    # The template's own objects.
    "{{ self._TemplateReference__context }}",
    "{{ self._TemplateReference__context.cycler.__init__.__globals__.os }}",
    "{{ self.__init__.__globals__ }}",
    "{{ self.__dict__ }}",
    "{% for x in [1] %}{{ loop.__class__.__init__.__globals__ }}{% endfor %}",
    "{% macro m() %}{% endmacro %}{{ m._func.__globals__ }}",
    "{% macro m() %}{% endmacro %}{{ m.__call__.__globals__ }}",
    # Flask's objects, which reactor does not have.
    "{{ request.application.__globals__.__builtins__.__import__('os').popen('id').read() }}",
    "{{ config.__class__.__init__.__globals__['os'].popen('id').read() }}",
    "{{ config.items() }}",
    "{{ url_for.__globals__['os'] }}",
    "{{ get_flashed_messages.__globals__ }}",
    # Format strings reaching attributes.
    "{{ '{0.__class__}'.format(first_name) }}",
    "{{ '{0.__class__.__mro__}'.format(1) }}",
    "{{ '{0.__init__.__globals__}'.format(joiner) }}",
    "{{ '{0[__class__]}'.format({}) }}",
    "{{ '{x.__class__}'.format_map({'x': 1}) }}",
    "{{ '%s' | format(first_name.__class__) }}",
    # The attr filter, escapes and subscripts for the dunder names.
    "{{ first_name | attr('__class__') }}",
    "{{ first_name | attr('__class__') | attr('__mro__') }}",
    "{{ '' | attr('\\x5f\\x5fclass\\x5f\\x5f') }}",
    "{{ ''['__class__'] }}",
    "{{ ''['\\x5f\\x5fclass\\x5f\\x5f'] }}",
    "{{ ''|attr(['_','_class_','_']|join) }}",
    "{{ statuses | map(attribute='__class__') | list }}",
    "{{ statuses | map('attr', '__class__') | list }}",
    "{{ statuses | selectattr('__class__') | map(attribute='__class__') | first }}",
    "{{ statuses | sort(attribute='__class__') | map(attribute='__class__') | first }}",
    # Mutating the context.
    "{{ flattened_tags.append('x') }}",
    "{{ aggregations.update({'x': 1}) }}",
    "{{ aggregations.pop('spend_12m') }}",
    "{{ aggregations.setdefault('x', 1) }}",
    "{{ flattened_tags.__setitem__(0, 'y') }}",
    # Methods left out: bytes, and growth no check bounds cheaply.
    "{{ ''.encode }}",
    "{{ (1).to_bytes(8, 'big') }}",
    "{{ {}.fromkeys('ab') }}",
    "{{ 'a\\tb'.expandtabs(8) }}",
    "{{ 'ab'.translate({97: 'x'}) }}",
]
ADDRESS = re.compile(r"0x[0-9a-fA-F]{6,}")


def render(source: str, context: dict | None = None):
    template = compile_template(source, "targets/templates/t.json.j2")
    assert isinstance(template, Template), template
    return template.render(CONTEXT if context is None else context)


def test_there_are_at_least_forty_payloads():
    assert len(ESCAPES) >= 40


@pytest.mark.parametrize("source", ESCAPES)
def test_escapes_fail_and_leak_nothing(source: str):
    before = copy.deepcopy(CONTEXT)
    with pytest.raises(TemplateError) as caught:
        render(source)
    # Refused by the sandbox, undefined (the global or method is not there), or not printable.
    assert caught.value.code in (
        "sandbox",
        "missing_value",
        "unprintable",
        "template_error",
        "budget_exceeded",
    )
    message = caught.value.message
    assert not ADDRESS.search(message)
    assert "root:" not in message and "uid=" not in message
    assert before == CONTEXT


# A payload must never hold a Python repr: each of these turns a non-JSON object into text.
REPRS = [
    "{{ ''.upper }}",
    "{{ ''.upper | string }}",
    "{{ joiner }}",
    "{{ joiner() ~ joiner }}",
    "{{ namespace() }}",
    "{{ namespace() | string }}",
    "{{ range(3) }}",
    "{{ range(3) | string }}",
    "{% macro m() %}{% endmacro %}{{ m }}",
    "{% for x in [1] %}{{ loop }}{% endfor %}",
    "{% for x in [1] %}{{ loop.cycle }}{% endfor %}",
    "{{ self }}",
    "{{ [''.upper] }}",
    "{{ {'a': joiner} }}",
    "{{ '%s' % joiner }}",
    "{{ '%r' % (joiner,) }}",
    "{{ '{}'.format(joiner) }}",
    "{{ '{!r}'.format(joiner) }}",
    "{{ [joiner] | join }}",
    "{{ joiner | replace('a', 'b') }}",
    "{{ joiner | upper }}",
    "{{ '%s' | format(joiner) }}",
    "{{ {'a': 1}.items() }}",
    "{{ (statuses | map(attribute='handle')) }}",
]


@pytest.mark.parametrize("source", REPRS)
def test_no_python_repr_reaches_a_payload(source: str):
    with pytest.raises(TemplateError) as caught:
        render(source)
    assert caught.value.code == "unprintable", caught.value.message
    assert "templates print only text, numbers, booleans, none, and lists and dicts" in caught.value.message
    assert not ADDRESS.search(caught.value.message)


def test_json_like_values_still_print():
    assert render('{"n": {{ 5 }}, "f": {{ 1.5 }}, "s": "{{ "abc" ~ 1 ~ none }}", "b": "{{ true }}"}') == {
        "n": 5,
        "f": 1.5,
        "s": "abc1None",
        "b": "True",
    }
    assert render('"{{ [1, "a"] }}"') == "[1, 'a']"  # Python's text for a list, as Jinja prints it
    assert render('"{{ "%s-%d" % ("a", 2) }}-{{ "{}:{}".format("b", 3) }}"') == "a-2-b:3"


def test_a_missing_value_inside_a_printed_list_is_missing_not_unprintable():
    with pytest.raises(TemplateError) as caught:
        render('"{{ [nickname] }}"')
    assert caught.value.code == "missing_value" and "nickname" in caught.value.message


def test_only_the_globals_a_payload_needs():
    assert render("{{ range(3) | list | tojson }}") == [0, 1, 2]
    assert render("{{ dict(a=1) | tojson }}") == {"a": 1}
    assert (
        render(
            "{% set ns = namespace(n=0) %}{% for i in range(3) %}{% set ns.n = ns.n + i %}{% endfor %}{{ ns.n }}"
        )
        == 3
    )
    assert render(
        '[{% set comma = joiner(",") %}{% for t in flattened_tags %}{{ comma() }}"{{ t }}"{% endfor %}]'
    ) == [
        "a",
        "b",
    ]
    for name in ("cycler", "lipsum"):
        with pytest.raises(TemplateError) as caught:
            render(f"{{{{ {name} }}}}")
        assert caught.value.code == "missing_value"


KEYS = {
    "transaction": {"items": [{"sku": "a-1", "qty": 2}], "currency": "AUD"},
    "profile": {"values": {"tier": "gold"}, "id": "p-1"},
    "x": {"keys": ["k"], "get": "got", "copy": 3},
    "plain": {"a": 1},
}


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("{{ transaction.items | tojson }}", [{"sku": "a-1", "qty": 2}]),
        ("{{ transaction['items'] | tojson }}", [{"sku": "a-1", "qty": 2}]),
        ("{{ transaction.items | map(attribute='sku') | list | tojson }}", ["a-1"]),
        ('[{% for item in transaction.items %}"{{ item.sku }}"{% endfor %}]', ["a-1"]),
        ("{{ transaction.items | length }}", 1),
        ("{{ profile.values | tojson }}", {"tier": "gold"}),
        ("{{ profile.values.tier | tojson }}", "gold"),
        ("{{ x.keys | tojson }}", ["k"]),
        ("{{ x.get | tojson }}", "got"),
        ("{{ x.copy }}", 3),
        # Without such a key, the method is still there.
        ("{{ plain.items() | list | tojson }}", [["a", 1]]),
        ("{{ plain.get('a') }}", 1),
        ("{{ plain.keys() | list | tojson }}", ["a"]),
    ],
)
def test_a_key_wins_over_a_method_of_the_same_name(source: str, expected: object):
    assert render(source, KEYS) == expected
