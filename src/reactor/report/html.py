"""The HTML report of `reactor replay --report` and `reactor diff --html`.

One self-contained file: the page's style, its data and its scripts (the
vendored Chartist library and the few lines that draw with it) are inlined,
and nothing in it names a resource to fetch, so it opens from a laptop, an
e-mail or a CI artefact with no network. The tables are plain HTML made here,
so they read (and print) even with scripts off; the charts are drawn by the
browser, as SVG, from the data embedded in the page (see the README for why).

The output is a pure function of its inputs: no generation time, sorted keys,
so the same replay gives the same bytes.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping, Sequence
from importlib import resources
from typing import Any
from urllib.parse import quote

import jinja2
import orjson

from reactor import __version__
from reactor.actions import Action
from reactor.config import Config
from reactor.diff import (
    KINDS,
    MISSING,
    DiffResult,
    comparable,
    reward_rows,
    rule_rows,
    target_rows,
)
from reactor.report.charts import chart_data
from reactor.report.tally import Tally

__all__ = ["PROFILES_SHOWN", "diff_report", "replay_report"]

#: Differing profiles listed in the HTML, each with its actions under both.
PROFILES_SHOWN = 100

METRICS = ("matched", "fired", "limited", "failed")


def _asset(name: str) -> str:
    text = (resources.files("reactor.report") / name).read_text(encoding="utf-8")
    # A sourceMappingURL comment names a file to fetch (developer tools do):
    # the page must name none.
    lines = [line for line in text.splitlines() if "sourceMappingURL=" not in line]
    return "\n".join(lines)


@functools.cache
def _template() -> jinja2.Template:
    environment = jinja2.Environment(
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters["num"] = _number
    environment.filters["money"] = lambda v: f"{v:,.2f}"
    environment.filters["delta"] = _delta
    environment.filters["anchor"] = _anchor
    environment.filters["compact"] = _compact
    return environment.from_string(_asset("templates/report.html.j2"))


@functools.cache
def _assets() -> dict[str, str]:
    assets = {
        "chartist_js": _asset("vendor/chartist.umd.js"),
        "chartist_css": _asset("vendor/chartist.css"),
        "report_js": _asset("templates/report.js"),
        "report_css": _asset("templates/report.css"),
    }
    # Inlined as they are: one that closed its element early would break the page.
    for name, text in assets.items():
        if "</script" in text.lower() or "</style" in text.lower():
            raise RuntimeError(f"the report's {name} cannot be inlined: it contains a closing tag")
    return assets


def _number(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float) and not value.is_integer():
        return f"{value:,.2f}"
    return f"{int(value):,}"


def _delta(pair: Sequence[Any], money: bool = False) -> str:
    before, after = pair
    if before is None or after is None:
        return ""
    delta = round(after - before, 2)
    if delta == 0:
        return "0"
    text = f"{delta:,.2f}" if money else _number(delta)
    return f"+{text}" if delta > 0 else text


def _anchor(profile_id: str) -> str:
    return "profile-" + "".join("_" if c.isspace() else c for c in profile_id)


def _compact(value: Any) -> str:
    if value is MISSING:
        return "(none)"
    return value if isinstance(value, str) else orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def _data_json(data: Any) -> str:
    """JSON safe inside a <script> element: no `<`, `>` or `&` left as such."""
    text = orjson.dumps(data, option=orjson.OPT_SORT_KEYS).decode()
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def _render(**context: Any) -> str:
    return _template().render(version=__version__, quote=quote, METRICS=METRICS, **_assets(), **context)


def _rule_kinds(config: Config) -> dict[str, str]:
    return {rule_id: kind for attribute, kind in KINDS for rule_id in getattr(config, attribute, {})}


def _fields(action: Action) -> dict[str, Any]:
    return dict(action.fields)


# --- replay ------------------------------------------------------------------


def replay_report(summary: Mapping[str, Any], tally: Tally, *, config: Config, file: str) -> str:
    """The report of one replay: its summary, per-reaction counts with their
    fires over time, actions by type, points, rewards, targets, and charts."""
    kinds = _rule_kinds(config)
    zero = dict.fromkeys(METRICS, 0)
    reactions = {
        rule_id: {"kind": kinds.get(rule_id, "reaction"), **summary["reactions"].get(rule_id, zero)}
        for rule_id in sorted(set(kinds) | set(summary["reactions"]))
    }
    rewards = {c: t.as_dict() for c, t in sorted(tally.rewards.items())}
    charts = chart_data({"run": tally})
    return _render(
        mode="replay",
        title=f"reactor replay: {file}",
        file=file,
        root=str(config.root),
        summary=summary,
        reactions=reactions,
        points=dict(sorted(tally.points.items())),
        rewards=rewards,
        charts=charts,
        data=_data_json(charts),
    )


# --- diff --------------------------------------------------------------------


def _marked(actions: Iterable[Action], changed: set[tuple[Any, ...]]) -> list[dict[str, Any]]:
    return [{"action": a, "fields": _fields(a), "changed": comparable(a) in changed} for a in actions]


def diff_report(result: DiffResult, actions: Mapping[str, Mapping[str, list[Action]]]) -> str:
    """The report of a diff, both configurations side by side: what changed in
    the rules, every figure under each, charts over the same periods and
    scales, and each differing profile (up to PROFILES_SHOWN) with all its
    actions under each configuration, those added and removed marked.
    `actions` is `profile_actions` for both sides."""
    rows = rule_rows(result)
    prefer = [r for r, row in sorted(rows.items(), key=_change_size) if row["differs"]]
    base_types, new_types = result.base.tally.by_type, result.new.tally.by_type
    types = {t: (base_types.get(t, 0), new_types.get(t, 0)) for t in sorted(set(base_types) | set(new_types))}
    by_change = sorted(types.items(), key=lambda kv: (-abs(kv[1][1] - kv[1][0]), kv[0]))
    prefer_types = [t for t, (b, n) in by_change if b != n]
    charts = chart_data({"base": result.base.tally, "new": result.new.tally}, prefer, prefer_types)
    points = {
        k: (result.base.tally.points.get(k, 0), result.new.tally.points.get(k, 0))
        for k in sorted(set(result.base.tally.points) | set(result.new.tally.points))
    }
    profiles = []
    for entry in result.profiles[:PROFILES_SHOWN]:
        added = {comparable(a) for a in entry.added}
        removed = {comparable(a) for a in entry.removed}
        profiles.append(
            {
                "id": entry.profile_id,
                "added": len(entry.added),
                "removed": len(entry.removed),
                "base": _marked(actions["base"].get(entry.profile_id, []), removed),
                "new": _marked(actions["new"].get(entry.profile_id, []), added),
            }
        )
    return _render(
        mode="diff",
        title=f"reactor diff: {result.file}",
        file=result.file,
        result=result,
        base_root=str(result.base.root),
        new_root=str(result.new.root),
        rules=result.rules,
        configuration=result.configuration,
        reactions=rows,
        types=types,
        points=points,
        rewards=reward_rows(result),
        targets=target_rows(result),
        profiles=profiles,
        charts=charts,
        data=_data_json(charts),
    )


def _change_size(item: tuple[str, Mapping[str, Any]]) -> tuple[int, str]:
    """Reactions whose fires changed most first, then by id."""
    rule_id, row = item
    before = (row["base"] or {}).get("fired", 0)
    after = (row["new"] or {}).get("fired", 0)
    return (-abs(after - before), rule_id)
