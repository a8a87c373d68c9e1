"""Template benchmark: hostile templates against the budget, and what the budget costs an ordinary render.

Prints, from one run:

- hostile: each template below (the attacks a hostile tester measured at 8 s to
  minutes of CPU or 1-3 GB in issue #10, and more) rendered once in a child
  process of its own: the CPU time of the render, the memory it allocated at
  peak (tracemalloc, in a second render) and the child's peak RSS growth
  (ru_maxrss, over what it held before rendering), the error code and the
  bound that stopped it. Goal: each fails with `budget_exceeded` (or
  `unprintable`) within 1 s and a few MB.
- ordinary: the bundled templates (targets/templates/*.j2 and the inline body
  in targets/comms.yaml) rendered with a realistic context, reactor's
  `Template.render` against the same templates in Jinja's bare
  `ImmutableSandboxedEnvironment` with the same filters and JSON parsing (no
  budget, no key-before-method, no repr guard), interleaved in the same run,
  best of `--rounds` (thread CPU time). `--before FILE` adds another version
  of templates.py to the comparison, e.g. the one before the budget:
  `git show ce240b7:src/reactor/templates.py > /tmp/before.py`.

    python benchmarks/templates.py [--renders 1000] [--rounds 20] [--before FILE] [--no-hostile]
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import resource
import subprocess
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jinja2
import orjson
from jinja2.sandbox import ImmutableSandboxedEnvironment
from ruamel.yaml import YAML

from reactor.clock import parse_instant
from reactor.errors import TemplateError
from reactor.templates import Template, compile_template

REPO = Path(__file__).resolve().parent.parent

HOSTILE: dict[str, str] = {
    # issue #10, as measured before the budget
    "chained replace": "{% set s = 'x' * 1000 %}{{ s | replace('x', 'x' * 10) | replace('x', 'x' * 10) | replace('x', 'x' * 10) | replace('x', 'x' * 10) | replace('x', 'x' * 10) | length }}",
    "repeated ~": "{% set ns = namespace(s='x') %}{% for i in range(30000) %}{% set ns.s = ns.s ~ 'xxxxxxxxxx' %}{% endfor %}{{ ns.s | length }}",
    "doubling ~": "{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s | length }}",
    "indent": "{{ ('\\n' * 100000) | indent(100000) | length }}",
    "format width as text": "{{ '{:>{}}'.format('x', '1000000000') | length }}",
    "list + doubling": "{% set ns = namespace(l=[1]) %}{% for i in range(64) %}{% set ns.l = ns.l + ns.l %}{% endfor %}{{ ns.l | length }}",
    "set blocks": "{% set ns = namespace(s='xx') %}{% for i in range(64) %}{% set b %}{{ ns.s }}{{ ns.s }}{% endset %}{% set ns.s = b %}{% endfor %}{{ ns.s | length }}",
    "namespace doubling": "{% set ns = namespace(x=[0]) %}{% for i in range(64) %}{% set ns.x = [ns.x, ns.x] %}{% endfor %}{{ ns.x | tojson | length }}",
    "nested for over text": "{% set s = 'x' * 100000 %}{% for a in s %}{% for b in s %}{% endfor %}{% endfor %}0",
    "** chain": "{{ 9 ** (9 ** 9) }}",
    "* squaring": "{% set ns = namespace(n=3) %}{% for i in range(50000) %}{% set ns.n = ns.n * ns.n %}{% endfor %}{{ ns.n }}",
    "a method's repr": "{{ 'x'.upper | string }}",  # `cycler.next | string` before: cycler is gone
    # more
    "str.format fields": "{{ ('{:>99999}' * 10000).format(*([1] * 10000)) | length }}",
    "% fields": "{{ (('%99999s' * 10000) % ((1,) * 10000)) | length }}",
    "join separator": "{{ ('x' * 100000) | join('y' * 100000) | length }}",
    "macro recursion": "{% macro f(n) %}{{ f(n) }}{{ f(n) }}{% endmacro %}{{ f(1) }}",
    "macro buffer": "{% macro m() %}{% for i in range(9000) %}" + "x" * 10000 + "{% endfor %}{% endmacro %}{{ m() | length }}",
    "macro calls": "{% macro f() %}{% endmacro %}{% for i in range(50000) %}{{ f() }}{% endfor %}0",
    "loop attributes": "{% for i in range(90000) %}{{ loop.index }}{% endfor %}",
    "method lookups": "{% for i in range(90000) %}{{ 'x'.upper() }}{% endfor %}",
    "split": "{{ ('a ' * 500000).split() | length }}",
    "slices": "{% set s = 'x' * 1000000 %}{% for i in range(50000) %}{% set t = s[1:] %}{% endfor %}0",
    "wordwrap(1)": "{{ ('x' * 90000) | wordwrap(1) | length }}",
    "list of text": "{{ ('€' * 1000000) | list | length }}",
    "recursive loop": "{% for x in range(1000) recursive %}{{ loop(range(1000)) }}{% endfor %}",
    "compare 1 MB (backstop)": "{% set s = 'x' * 1000000 %}{% set t = 'x' * 999999 ~ 'x' %}{% for i in range(99000) %}{% if s == t %}{% endif %}{% endfor %}0",
}  # fmt: skip


def child(name: str) -> None:
    """Render one hostile template and print what it cost as JSON."""
    template = compile_template(HOSTILE[name], name)
    assert isinstance(template, Template), template
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.process_time()
    code, message = "ok", ""
    try:
        template.render({})
    except TemplateError as exc:
        code, message = exc.code, exc.message.split(": ", 1)[1]
    seconds = time.process_time() - started
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    tracemalloc.start()
    with contextlib.suppress(TemplateError):
        template.render({})
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(json.dumps({"seconds": seconds, "peak": peak, "rss": rss * 1024, "code": code, "message": message}))


def hostile() -> None:
    print("hostile templates, one child process each (bounds: README 'Templates'):")
    print(f"  {'template':26} {'CPU s':>6} {'peak MB':>8} {'RSS MB':>7}  outcome")
    worst_seconds = worst_peak = 0.0
    for name in HOSTILE:
        out = subprocess.run(
            [sys.executable, __file__, "--child", name], capture_output=True, text=True, check=True
        ).stdout
        got = json.loads(out)
        worst_seconds, worst_peak = max(worst_seconds, got["seconds"]), max(worst_peak, got["peak"])
        print(
            f"  {name:26} {got['seconds']:6.3f} {got['peak'] / 1e6:8.1f} {got['rss'] / 1e6:7.1f}"
            f"  {got['code']}: {got['message'].split(' (')[0].split(':')[0]}"
        )
    print(
        f"  worst: {worst_seconds:.3f} s of CPU, {worst_peak / 1e6:.1f} MB allocated at peak (goal: < 1 s, a few MB)"
    )


CONTEXT: dict[str, Any] = {
    "email": "ava@example.com",
    "first_name": "Ava",
    "profile": {
        "id": "p-1",
        "email": "ava@example.com",
        "identities": {"instagram": {"handle": "instagram", "identifier": "ava.k", "followers": 12500}},
    },
    "statuses": [
        {"handle": "influencer", "name": "Influencer", "rank": 3, "group": None, "customer_facing": True,
         "applied_at": "2026-11-20T10:05:00Z", "expires_at": "2027-11-20T10:05:00Z", "meta": {"portal_badge": "star"}},
        {"handle": "vip", "name": "VIP", "rank": 2, "group": None, "customer_facing": True,
         "applied_at": "2026-10-01T09:00:00Z", "expires_at": "2027-10-01T09:00:00Z",
         "meta": {"concierge_email": "concierge@example.com"}},
    ],
    "flattened_statuses": ["influencer", "vip"],
    "best_status": "influencer",
    "benefits": [{"benefit": "welcome-gift", "issued_at": "2026-11-20T10:05:00Z",
                  "expires_at": "2026-12-20T10:05:00Z", "granted_by": "influencer"}],
    "reward_balance": 25.0,
    "aggregations": {"spend_12m": 2450.5, "days_since_last_spend": 95, "last_spend_at": "2026-08-17T12:00:00Z"},
    "transaction": {"id": "t-9", "total": 180.0, "currency": "AUD", "location": {"id": "store-3", "name": "Sydney CBD"}},
    "trigger": {"program": "club", "from": "silver", "to": "gold"},
    "tiers": {"club": {"handle": "gold", "name": "Gold", "since": "2026-11-20T10:05:00Z",
                       "review_at": "2027-11-20T10:05:00Z", "meta": {"lounge": True}}},
    "points": {"tier": 1250, "reward": 3400},
}  # fmt: skip


def bundled() -> dict[str, str]:
    sources = {path.name: path.read_text() for path in sorted((REPO / "targets" / "templates").glob("*.j2"))}
    for target in YAML(typ="safe").load((REPO / "targets" / "comms.yaml").read_text())["targets"]:
        if "body" in target:
            sources[f"{target['id']} (body)"] = target["body"]
    return sources


class _Undefined(jinja2.ChainableUndefined, jinja2.StrictUndefined):
    pass


def bare_jinja() -> Callable[[str], Callable[[dict[str, Any]], Any]]:
    """The baseline: Jinja's sandbox with the same filters, no budget."""
    env = ImmutableSandboxedEnvironment(undefined=_Undefined, autoescape=False)
    env.filters["tojson"] = lambda value: orjson.dumps(value).decode()
    env.filters["date"] = lambda value, fmt="%Y-%m-%d": parse_instant(value).strftime(fmt)
    env.filters["money"] = lambda value, currency=None: (f"{currency} " if currency else "") + f"{value:,.2f}"

    def compile_bare(source: str) -> Callable[[dict[str, Any]], Any]:
        template = env.from_string(source)
        return lambda context: orjson.loads(template.render(context))

    return compile_bare


def load_templates_module(path: str) -> Any:
    spec = importlib.util.spec_from_file_location("templates_before", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["templates_before"] = module
    spec.loader.exec_module(module)
    return module


def bytecodes(render: Callable[[dict[str, Any]], Any]) -> int:
    """Python bytecodes one render runs: the Python-level work, which a shared machine's
    load does not blur (C work, such as orjson's, is not in it)."""
    count = 0

    def trace(frame: Any, event: str, arg: Any) -> Any:
        nonlocal count
        frame.f_trace_opcodes = True
        if event == "opcode":
            count += 1
        return trace

    sys.settrace(trace)
    try:
        render(CONTEXT)
    finally:
        sys.settrace(None)
    return count


def best(render: Callable[[dict[str, Any]], Any], renders: int) -> float:
    started = time.thread_time()
    for _ in range(renders):
        render(CONTEXT)
    return (time.thread_time() - started) / renders


def ordinary(renders: int, rounds: int, before: str | None) -> None:
    compile_bare = bare_jinja()
    previous = load_templates_module(before) if before else None
    print(
        f"ordinary renders: µs per render (thread CPU time, best of {rounds} rounds of {renders},"
        " interleaved), and Python bytecodes per render:"
    )
    header = f"  {'template':28} {'bare Jinja':>10} {'reactor':>8} {'ratio':>6}"
    print(
        header + (f" {'before':>8} {'ratio':>6}" if previous else "") + "   bytecodes: bare, reactor, before"
    )
    totals = [0.0, 0.0, 0.0]
    code_totals = [0, 0, 0]
    for name, source in bundled().items():
        template = compile_template(source, name)
        assert isinstance(template, Template), template
        contenders = [compile_bare(source), template.render]
        if previous is not None:
            contenders.append(previous.compile_template(source, name).render)
        outputs = [render(CONTEXT) for render in contenders]
        if any(output != outputs[0] for output in outputs):
            raise SystemExit(f"{name}: the renders differ: {outputs}")
        codes = [bytecodes(render) for render in contenders]
        times = [float("inf")] * len(contenders)
        for _ in range(rounds):
            for i, render in enumerate(contenders):
                times[i] = min(times[i], best(render, renders))
        for i, seconds in enumerate(times):
            totals[i] += seconds
            code_totals[i] += codes[i]
        line = f"  {name:28} {times[0] * 1e6:10.1f} {times[1] * 1e6:8.1f} {times[1] / times[0]:6.2f}"
        line += f" {times[2] * 1e6:8.1f} {times[1] / times[2]:6.2f}" if previous else ""
        print(line + "   " + ", ".join(f"{code:,}" for code in codes))
    line = f"  {'all':28} {totals[0] * 1e6:10.1f} {totals[1] * 1e6:8.1f} {totals[1] / totals[0]:6.2f}"
    line += f" {totals[2] * 1e6:8.1f} {totals[1] / totals[2]:6.2f}" if previous else ""
    ratios = f"reactor/bare {code_totals[1] / code_totals[0]:.2f}"
    if previous:
        ratios += f", reactor/before {code_totals[1] / code_totals[2]:.2f}"
    print(line + f"   bytecodes {ratios}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--renders", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--before", help="another templates.py to compare with")
    parser.add_argument("--no-hostile", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    if not args.no_hostile:
        hostile()
    ordinary(args.renders, args.rounds, args.before)


if __name__ == "__main__":
    main()
