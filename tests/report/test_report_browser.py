"""The HTML reports opened in a real browser: Debian's Chromium, headless,
driven by Playwright (the Python package; it never downloads a browser of its
own: `executable_path` is /usr/bin/chromium, which .ci/run installs).

Each report is opened offline with every request blocked and recorded: it must
load without one, with no console error, draw its charts as SVG with the
expected series, and show in its tables the numbers of `--json` (and of the
replay summary). A screenshot of each is left in the test's temporary
directory for people to look at. These tests never skip: without Chromium
they fail, saying how to install it.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from diff_story import changed_copy
from support import REPO

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
# As this machine's notes start it: background networking off (the machine has
# no network but the package registries), no GPU, no sandbox (CI runs as root).
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
EXAMPLES = "examples/events.jsonl"


def reactor(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "reactor", *args], cwd=REPO, capture_output=True, timeout=120
    )


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            "Chromium is missing: `apt-get install -y chromium` (Debian's package; .ci/run installs it)"
        )
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS, headless=True)
        yield launched
        launched.close()


class Opened:
    """A page opened offline, with what it tried to fetch and what it logged."""

    def __init__(self, browser: Browser, path: Path, width: int = 1280) -> None:
        self.context = browser.new_context(offline=True, viewport={"width": width, "height": 900})
        self.page: Page = self.context.new_page()
        self.page.set_default_timeout(120_000)  # a long page on a busy machine
        self.url = path.as_uri()
        self.requests: list[str] = []
        self.errors: list[str] = []
        self.page.on(
            "console", lambda m: self.errors.append(m.text) if m.type in ("error", "warning") else None
        )
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.route("**/*", self.route)
        self.page.goto(self.url)
        self.page.wait_for_selector("html[data-charts=ready]", timeout=20_000)

    def route(self, route: Any) -> None:
        self.requests.append(route.request.url)
        if route.request.url == self.url:
            route.continue_()
        else:
            route.abort()

    def close(self) -> None:
        self.context.close()


def series(page: Page, chart: str, side: str) -> dict[str, list[float]]:
    """Each series of a chart, by name, with the values its SVG elements carry."""
    return page.evaluate(
        """([chart, side]) => {
            const element = document.querySelector(`.chart[data-chart="${chart}"][data-side="${side}"]`);
            const out = {};
            element.querySelectorAll("svg g.ct-series").forEach((g) => {
                const marks = g.querySelectorAll(".ct-bar, .ct-point");
                out[g.getAttribute("ct:series-name")] = Array.from(marks, (m) => Number(m.getAttribute("ct:value")));
            });
            return out;
        }""",
        [chart, side],
    )


def cells(page: Page, table: str, key: str) -> dict[str, dict[str, str]]:
    """The cells of a table, by row key then `metric/side`, as displayed."""
    return page.evaluate(
        """([table, key]) => {
            const out = {};
            document.querySelectorAll(`#${table} tbody tr`).forEach((row) => {
                const cells = {};
                row.querySelectorAll("td[data-metric], td[data-side]").forEach((td) => {
                    const name = [td.dataset.metric, td.dataset.side].filter(Boolean).join("/");
                    cells[name] = td.textContent.trim();
                });
                out[row.getAttribute(key)] = cells;
            });
            return out;
        }""",
        [table, key],
    )


def number(text: str) -> float | None:
    return None if text == "-" else float(text.replace(",", ""))


def pdf_pages(page: Page, path: Path, landscape: bool) -> int:
    page.emulate_media(media="print")
    page.pdf(path=str(path), format="A4", landscape=landscape, prefer_css_page_size=True)
    data = path.read_bytes()
    assert data.startswith(b"%PDF")
    return data.count(b"/Type /Page") - data.count(b"/Type /Pages")


def prints_within(page: Page, width: int) -> None:
    """In print media, at the width of a printed page, nothing sticks out and
    the page's navigation is gone."""
    page.emulate_media(media="print")
    page.set_viewport_size({"width": width, "height": 1000})
    page.wait_for_timeout(300)  # Chartist redraws on resize
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    assert page.evaluate("getComputedStyle(document.querySelector('nav')).display") == "none"
    page.emulate_media(media="screen")


# --- replay --report -------------------------------------------------------------


@pytest.fixture(scope="module")
def replay_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], list[dict[str, Any]]]:
    out = tmp_path_factory.mktemp("replay") / "report.html"
    done = reactor("replay", "--report", str(out), EXAMPLES)
    assert done.returncode == 0, done.stderr.decode()
    summary = orjson.loads(done.stderr.splitlines()[-1])["summary"]
    actions = [orjson.loads(line) for line in done.stdout.splitlines()]
    return out, summary, actions


def test_the_replay_report_in_chromium(browser: Browser, replay_run, tmp_path: Path):
    path, summary, actions = replay_run
    opened = Opened(browser, path)
    page = opened.page
    try:
        assert opened.requests == [opened.url]  # the page itself, nothing else
        assert opened.errors == []

        # Fires per week by reaction: the ten that fired most, one series each,
        # and the rest as one; bar values add up to each one's `fired`.
        fires = series(page, "fires", "run")
        fired = {r: c["fired"] for r, c in summary["reactions"].items() if c["fired"]}
        drawn = {name: sum(values) for name, values in fires.items()}
        (other,) = [name for name in drawn if name.startswith("other reactions")]
        top = sorted(fired, key=lambda r: (-fired[r], r))[:10]
        assert list(drawn)[:10] == top
        assert {r: drawn[r] for r in top} == {r: fired[r] for r in top}
        assert other == f"other reactions ({len(fired) - 10})"
        assert drawn[other] == sum(n for r, n in fired.items() if r not in top)
        # 2026-05-04 (a Monday, the first event) to 2026-11-24: 30 weeks.
        assert {len(values) for values in fires.values()} == {30}
        # By hand (tests/core/test_diff.py): 195 purchases earn points, 10 spend
        # rewards, 11 win-backs.
        assert (fired["points-on-transaction"], fired["spend-reward-12m"], fired["win-back"]) == (195, 10, 11)
        types = series(page, "types", "run")
        by_type = summary["actions_by_type"]
        drawn_types = {name: sum(values) for name, values in types.items()}
        top_types = sorted(by_type, key=lambda t: (-by_type[t], t))[:10]
        assert {t: drawn_types[t] for t in top_types} == {t: by_type[t] for t in top_types}
        assert drawn_types[f"other types ({len(by_type) - 10})"] == sum(
            n for t, n in by_type.items() if t not in top_types
        )
        # Reward liability: AUD only, at the end of each week; at the end, the
        # $150 worked out by hand (6 spend rewards of $20 and 3 win-backs of $10 left).
        liability = series(page, "liability", "run")
        assert list(liability) == ["AUD"]
        assert len(liability["AUD"]) == 30 and liability["AUD"][-1] == 150
        assert liability["AUD"][0] == 0

        # The tables hold the summary's numbers.
        reactions = cells(page, "reactions-table", "data-id")
        for rule_id, counts in summary["reactions"].items():
            assert {m: number(reactions[rule_id][m]) for m in counts} == counts, rule_id
        assert {t: number(c["count"]) for t, c in cells(page, "types-table", "data-type").items()} == summary[
            "actions_by_type"
        ]
        targets = cells(page, "targets-table", "data-target")
        assert {t: {k: number(v) for k, v in c.items()} for t, c in targets.items()} == summary["targets"]
        points: dict[str, int] = {}
        for action in actions:  # worked out from the printed actions, not from the report's code
            if action["type"] == "points.award":
                points[action["kind"]] = points.get(action["kind"], 0) + action["points"]
        assert {k: number(c["points"]) for k, c in cells(page, "points-table", "data-kind").items()} == points
        rewards = cells(page, "rewards-table", "data-currency")
        assert {k: number(v) for k, v in rewards["AUD"].items()} == {
            "count": 21,
            "issued": 310.0,
            "redeemed": 15.0,  # p-006's $15 on 20 July
            "expired": 145.0,
            "outstanding": 150.0,
        }
        summary_cards = page.evaluate(
            "Object.fromEntries(Array.from(document.querySelectorAll('dd[data-metric]'), d => [d.dataset.metric, d.textContent]))"
        )
        for key in ("events", "rejected", "duplicates", "actions", "profiles"):
            assert number(summary_cards[key]) == summary[key], key
        # Every reaction that fired has its sparkline, drawn.
        assert page.locator(".spark svg").count() == len(fired)

        page.screenshot(path=str(tmp_path / "replay-report.png"), full_page=True)
        prints_within(page, 703)  # A4 portrait less 12 mm margins, at 96 px per inch
        assert pdf_pages(page, tmp_path / "replay-report.pdf", landscape=False) >= 2
    finally:
        opened.close()


# --- diff --html ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def diff_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    root = tmp_path_factory.mktemp("diff")
    changed = changed_copy(root / "changed")
    out = root / "diff.html"
    done = reactor("diff", "--base", ".", "--config", str(changed), "--json", "--html", str(out), EXAMPLES)
    assert done.returncode == 0, done.stderr.decode()
    return out, orjson.loads(done.stdout)


def test_the_diff_report_in_chromium(browser: Browser, diff_run, tmp_path: Path):
    path, report = diff_run
    opened = Opened(browser, path)
    page = opened.page
    try:
        assert opened.requests == [opened.url]
        assert opened.errors == []

        # Side by side: both configurations drawn with the same series and the same scale.
        for chart in ("fires", "types", "liability"):
            base, new = series(page, chart, "base"), series(page, chart, "new")
            assert list(base) == list(new) and base, chart
            axes = page.evaluate(
                """(chart) => Array.from(document.querySelectorAll(`.chart[data-chart="${chart}"]`), (c) =>
                    Array.from(c.querySelectorAll(".ct-label.ct-vertical"), (l) => l.textContent).join("|"))""",
                chart,
            )
            assert len(axes) == 2 and axes[0] == axes[1] and axes[0], chart
        fires = {side: series(page, "fires", side) for side in ("base", "new")}
        for side in ("base", "new"):
            # The rules whose fires changed are drawn first, by how much; then
            # the most fired, up to ten; the rest summed.
            names = list(fires[side])
            assert names[:4] == [
                "big-basket-bonus",
                "black-friday-shopper",
                "spend-reward-12m",
                "reward-expiring",
            ]
            drawn = {name: sum(values) for name, values in fires[side].items()}
            counts = {r: c[side]["fired"] if c[side] else 0 for r, c in report["reactions"].items()}
            assert len(names) == 11 and names[-1].startswith("other reactions")
            assert {r: drawn[r] for r in names[:10]} == {r: counts[r] for r in names[:10]}
            assert drawn[names[-1]] == sum(n for r, n in counts.items() if r not in names)
        liability = {side: series(page, "liability", side)["AUD"][-1] for side in ("base", "new")}
        assert liability == {"base": 150, "new": 210}  # by hand, tests/core/test_diff.py

        # Every table equals --json.
        reactions = cells(page, "reactions-table", "data-id")
        for rule_id, row in report["reactions"].items():
            for side in ("base", "new"):
                for metric in ("matched", "fired", "limited", "failed"):
                    shown = number(reactions[rule_id][f"{metric}/{side}"])
                    assert shown == (row[side][metric] if row[side] else None), (rule_id, side, metric)
        for table, key, figures in (
            ("types-table", "data-type", report["actions_by_type"]),
            ("points-table", "data-kind", report["points_by_kind"]),
        ):
            shown = cells(page, table, key)
            assert {k: {s: number(c[s]) for s in ("base", "new")} for k, c in shown.items()} == figures
        rewards = cells(page, "rewards-table", "data-currency")["AUD"]
        for side in ("base", "new"):
            for metric in ("count", "issued", "redeemed", "expired", "outstanding"):
                assert number(rewards[f"{metric}/{side}"]) == report["rewards"]["AUD"][side][metric]
        targets = cells(page, "targets-table", "data-target")
        for target_id, row in report["targets"].items():
            for side in ("base", "new"):
                assert {m: number(targets[target_id][f"{m}/{side}"]) for m in ("sent", "limited")} == row[
                    side
                ]

        # The differing profiles: all 21 listed (up to 100 are), the first ten
        # with the counts of --json, each linked to its actions under both.
        profiles = cells(page, "profiles-table", "data-profile")
        assert len(profiles) == report["profiles"]["differ"] == 21
        for entry in report["profiles"]["first"]:
            pid = entry["profile_id"]
            assert number(profiles[pid]["added"]) == len(entry["added"])
            assert number(profiles[pid]["removed"]) == len(entry["removed"])
            target = page.evaluate(
                "(pid) => document.querySelector(`#profiles-table tr[data-profile='${pid}'] a`).getAttribute('href')",
                pid,
            )
            section = page.locator(f"section.profile[data-profile='{pid}']")
            assert section.get_attribute("id") == target.lstrip("#")
            removed = section.locator(".pane[data-side=base] tr.removed")
            added = section.locator(".pane[data-side=new] tr.added")
            assert sorted(removed.evaluate_all("rows => rows.map(r => r.dataset.action)")) == sorted(
                a["id"] for a in entry["removed"]
            )
            assert sorted(added.evaluate_all("rows => rows.map(r => r.dataset.action)")) == sorted(
                a["id"] for a in entry["added"]
            )
        # Following a link lands on that profile.
        page.click("#profiles-table tr[data-profile='p-008'] a")
        assert page.evaluate("location.hash") == "#profile-p-008"
        assert page.locator("#profile-p-008").is_visible()

        page.evaluate("window.scrollTo(0, 0)")
        # The top of the page (rules, charts, tables); the profiles' actions run on far below.
        page.screenshot(
            path=str(tmp_path / "diff-report.png"),
            full_page=True,
            clip={"x": 0, "y": 0, "width": 1280, "height": 4000},
        )
        prints_within(page, 1031)  # A4 landscape less 12 mm margins
        assert pdf_pages(page, tmp_path / "diff-report.pdf", landscape=True) >= 3
    finally:
        opened.close()
