"""Core benchmark: events/s through `process` with 100 reactions.

Prints, from one run on one machine, these throughputs and their ratios:

- reactor: decode + `process` (state, context, rules, actions) + action JSON,
  for every event, the way `reactor replay` runs, on one core; as installed
  (pure Python, unless installed with REACTOR_COMPILE=1), and compiled with
  mypyc: the benchmark builds that into a temporary directory the way
  `REACTOR_COMPILE=1 pip install .` does and runs the same measurement there,
  in a child process (`--no-compiled` skips it);
- qubit: the same `when` rules evaluated with json-logic-qubit on the very
  contexts reactor's rules saw (and nothing else: no decoding, no state, no
  actions), i.e. a lower bound on the cost of the rules alone with qubit;
- orjson: a bare `orjson.loads` of the same lines (the floor).

Goals (issue #3): reactor >= 20,000 events/s per core and >= 10x qubit.

    python benchmarks/core.py [--events 20000] [--profiles 2000] [--reactions 100] [--no-compiled]
    python benchmarks/core.py --baseline COMMIT [--rounds 3]

`--baseline` times only the pipeline, under this tree and under COMMIT (a
git worktree of it), each in a child process, in turns; and this tree with
the sample programme's tiers and achievements. Goals (issues #11, #12):
within 5 % of the baseline's events/s, within 10 % with the programme.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from reactor.config import Config, load_config
from reactor.engine import process
from reactor.events import decode_event
from reactor.replay import Replay
from reactor.rules import Amount, Condition, ConditionBatch, ContextData, compile_batch
from reactor.runtime import tune_gc

CATALOG = """
statuses:
  - {handle: vip, name: VIP, rank: 2, modifiers: {reward_extra_days: 30, benefit_extra_days: 30}}
  - {handle: influencer, name: Influencer, rank: 3, default_duration: 365d, modifiers: {tier_points_multiplier: 2}}
benefits:
  - {handle: gift, name: Gift, kind: free_product, valid_for: 30d}
targets:
  - id: hook
    url: "http://127.0.0.1:9/"
    body: '{"to": {{ email | default(none) | tojson }}, "spend": {{ aggregations.spend_12m | tojson }}, "best": {{ best_status | tojson }}}'
"""


def conditions(rng: random.Random, event_type: str, k: int) -> tuple[Any, bool]:
    """A rule of a shape ops write, and whether it gets a per-profile limit.
    Like real loyalty rules, each is true for a small share of events: a
    threshold crossed, a tag or store or product singled out, a lapse."""
    spend = rng.randint(2000, 20000)
    points = rng.randint(20000, 200000)
    shapes: list[tuple[Any, bool]] = [
        ({"in": [f"tag-{rng.randint(0, 40)}", {"var": "flattened_tags"}]}, True),
        (
            {
                "and": [
                    {"in": ["vip", {"var": "flattened_statuses"}]},
                    {"==": [{"var": "aggregations.shop_count"}, rng.randint(2, 12)]},
                ]
            },
            False,
        ),
        (
            {
                "and": [
                    {">": [{"var": "aggregations.days_since_last_spend"}, 60]},
                    {"!": {"in": ["no-comms", {"var": "flattened_tags"}]}},
                ]
            },
            True,
        ),
    ]
    if event_type == "transaction.created":
        shapes += [
            (
                {
                    "and": [
                        {">=": [{"var": "aggregations.spend_12m"}, spend]},
                        {
                            "<": [
                                {"-": [{"var": "aggregations.spend_12m"}, {"var": "transaction.total"}]},
                                spend,
                            ]
                        },
                    ]
                },
                False,
            ),
            (
                {
                    "and": [
                        {">=": [{"var": "point_balance"}, points]},
                        {
                            "<": [
                                {"-": [{"var": "point_balance"}, {"*": [{"var": "transaction.total"}, 10]}]},
                                points,
                            ]
                        },
                    ]
                },
                False,
            ),
            (
                {
                    "and": [
                        {">": [{"var": "transaction.total"}, rng.randint(200, 450)]},
                        {"==": [{"var": "transaction.location.id"}, f"store-{rng.randint(1, 30)}"]},
                    ]
                },
                False,
            ),
            (
                {
                    "some": [
                        {"var": "transaction.items"},
                        {"and": [{"var": "full_price"}, {"==": [{"var": "sku"}, f"S{rng.randint(1, 999)}"]}]},
                    ]
                },
                False,
            ),
        ]
    else:
        followers = rng.randint(2000, 50000)
        shapes += [
            (
                {
                    "and": [
                        {">=": [{"var": "profile.identities.instagram.followers"}, followers]},
                        {"<": [{"var": "previous_profile.identities.instagram.followers"}, followers]},
                    ]
                },
                False,
            ),
            (
                {
                    "and": [
                        {"==": [{"var": "attributes.comms.email_opt_in"}, True]},
                        {"==": [{"var": "aggregations.shop_count"}, 0]},
                        {"in": [f"tag-{rng.randint(0, 40)}", {"var": "flattened_tags"}]},
                    ]
                },
                True,
            ),
        ]
    return shapes[k % len(shapes)]


def write_config(
    root: Path,
    reactions: int,
    rng: random.Random,
    reminders: bool = False,
    programme: bool = False,
    reminders_idle: bool = False,
) -> Config:
    """The benchmark's configuration; `reminders_idle`: the same reminders,
    whose `when` holds for no profile (their cost apart from what they do)."""
    (root / "reactions").mkdir(parents=True)
    (root / "targets").mkdir()
    (root / "reactions" / "catalog.yaml").write_text(CATALOG)
    if reminders or reminders_idle:
        (root / "reactions" / "reminders.yaml").write_text(IDLE_REMINDERS if reminders_idle else REMINDERS)
    if programme:
        (root / "reactions" / "programme.yaml").write_text(PROGRAMME)
    rules = []
    for i in range(reactions):
        event_type = "transaction.created" if i % 2 == 0 else "profile.updated"
        if i % 10 == 0:
            actions = [{"type": "target.send", "target": "hook"}]
        elif i % 10 == 5:
            actions = [
                {"type": "status.apply", "status": "vip"},
                {"type": "benefit.create", "benefit": "gift"},
            ]
        elif i % 3 == 0:
            actions = [{"type": "points.award", "kind": "reward", "points": 10}]
        else:
            actions = [{"type": "tag.add", "tag": f"segment-{i}"}]
        when, limited = conditions(rng, event_type, i)
        rule: dict[str, Any] = {
            "id": f"r{i:03d}",
            "on": [event_type],
            "priority": i % 7,
            "when": when,
            "actions": actions,
        }
        if limited:
            rule["limit"] = {"per_profile": 1, "window": "90d"} if i % 10 == 3 else {"per_profile": 1}
        rules.append(rule)
    # Points on every transaction, as every loyalty programme has.
    rules[0] = {
        "id": "r000",
        "on": ["transaction.created"],
        "actions": [
            {"type": "points.award", "kind": "tier", "points": {"var": "transaction.total"}},
            {"type": "points.award", "kind": "reward", "points": {"*": [{"var": "transaction.total"}, 10]}},
        ],
    }
    (root / "reactions" / "rules.yaml").write_bytes(rules_yaml(rules))
    return load_config(root)


def rules_yaml(rules: list[dict]) -> bytes:
    """Reactions as YAML, one JSON flow mapping a line (a YAML line may hold at
    most 20,000 bytes: README 'Limits')."""
    return b"reactions:\n" + b"".join(b"  - " + orjson.dumps(rule) + b"\n" for rule in rules)


def _birthday(pid: str) -> str:
    """A birthday from the profile id (no draw from the generator's random stream)."""
    n = int(pid.split("-")[1])
    return f"19{70 + n % 30}-{1 + n % 12:02d}-{1 + n % 28:02d}"


REMINDERS = """
programme: {timezone: Australia/Sydney}
reminders:
  - id: birthday-week
    of: profile.birthday
    before: 7d
    at: "09:00"
    when: {"!": {"in": ["no-comms", {"var": "flattened_tags"}]}}
    actions: [{type: benefit.create, benefit: gift}]
  - id: gift-expiring
    of: benefit.expires_at
    before: 3d
    actions: [{type: target.send, target: hook}]
"""


#: The same reminders, due and checked for every profile as above, with a
#: `when` no profile meets: what having reminders costs apart from their actions.
IDLE_REMINDERS = REMINDERS.replace(
    """when: {"!": {"in": ["no-comms", {"var": "flattened_tags"}]}}""",
    """when: {"in": ["remind-me", {"var": "flattened_tags"}]}""",
).replace("before: 3d\n", """before: 3d\n    when: {"in": ["remind-me", {"var": "flattened_tags"}]}\n""")
assert IDLE_REMINDERS.count("remind-me") == 2


#: The bundled sample's programme (reactions/programme.yaml): its tier program
#: on the tier points every purchase earns here, its achievement counted on
#: every purchase, a bonus per achievement level and a welcome per tier reached.
PROGRAMME = """
points:
  - {handle: action, name: Action points}
tiers:
  - program: loyalty
    name: Loyalty
    measure: tier_points_12m
    review_after: 365d
    floor: member
    levels:
      - {handle: member, name: Member, attain: 0}
      - {handle: gold, name: Gold, attain: 1000, maintain: 800}
      - {handle: platinum, name: Platinum, attain: 2500, maintain: 2000}
achievements:
  - {handle: regular, name: Regular, levels: [1, 5, 10, 25]}
reactions:
  - id: count-visits
    on: [transaction.created]
    when: {">=": [{"var": "transaction.total"}, 0]}
    actions: [{type: achievement.progress, achievement: regular}]
  - id: regular-level-bonus
    on: [achievement.level]
    when: {"==": [{"var": "trigger.achievement"}, "regular"]}
    actions: [{type: points.award, kind: action, points: 50}]
  - id: tier-welcome
    on: [tier.changed]
    when: {"in": [{"var": "trigger.tier"}, ["gold", "platinum"]]}
    actions: [{type: tag.add, tag: "welcomed"}]
"""


def generate_events(count: int, profiles: int, rng: random.Random, skewed: bool = False) -> list[bytes]:
    """`count` events over one year for `profiles` profiles: spread evenly
    (uniform), or `skewed` as real customer bases are, a Pareto spread where
    a few busy profiles hold most of the events (80/20: shape 1.16)."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    followers = {f"p-{p:06d}": int(rng.paretovariate(1.2) * 800) for p in range(profiles)}
    ids = list(followers)
    weights = [rng.paretovariate(1.16) for _ in ids] if skewed else None
    chosen = rng.choices(ids, weights=weights, k=count) if skewed else None
    lines = []
    for n in range(count):
        at = start + timedelta(seconds=n * (365 * 86400 // count))
        pid = chosen[n] if chosen is not None else f"p-{rng.randrange(profiles):06d}"
        stamp = at.strftime("%Y-%m-%dT%H:%M:%SZ")
        if rng.random() < 0.25:
            # Audiences grow slowly (to 10 M at most: busy profiles update often).
            followers[pid] = min(int(followers[pid] * rng.uniform(1.0, 1.3)), 10_000_000)
            data = {
                "profile": {
                    "id": pid,
                    "first_name": "Ava",
                    "email": f"{pid}@example.com",
                    "birthday": _birthday(pid),
                    "tags": rng.sample([f"tag-{i}" for i in range(40)] + ["no-comms"], rng.randint(0, 4)),
                    "identities": [{"handle": "instagram", "identifier": pid, "followers": followers[pid]}],
                    "attributes": {"comms": {"email_opt_in": rng.random() < 0.7}, "custom": {"tier": "gold"}},
                }
            }
            kind = "profile.updated"
        else:
            total = round(rng.uniform(5, 500), 2)
            data = {
                "transaction": {
                    "id": f"t-{n}",
                    "system": "pos",
                    "total": total,
                    "currency": "AUD",
                    "transacted_at": stamp,
                    "location": {"id": f"store-{rng.randint(1, 30)}", "name": "Store"},
                    "channel": "in_store",
                    "items": [
                        {
                            "sku": f"S{rng.randint(1, 999)}",
                            "quantity": 1,
                            "price": total,
                            "full_price": rng.random() < 0.5,
                        }
                        for _ in range(rng.randint(1, 3))
                    ],
                }
            }
            kind = "transaction.created"
        lines.append(
            orjson.dumps(
                {"id": f"e-{n}", "type": kind, "occurred_at": stamp, "profile_id": pid, "data": data}
            )
        )
    return lines


def time_reactor(config: Config, lines: list[bytes]) -> tuple[float, int]:
    out: list[bytes] = []
    runner = Replay(config, on_action=lambda a: out.append(a.to_json()), on_reject=lambda r: None)
    gc.collect()
    started = time.perf_counter()
    runner.feed_lines(enumerate(lines, 1))
    elapsed = time.perf_counter() - started
    return elapsed, len(out)


def capture_rule_work(config: Config, lines: list[bytes]) -> list[tuple[Any, Any, dict[str, Any]]]:
    """Every (compiled when, when, context) reactor evaluates, from a separate
    untimed run that evaluates reactions one by one."""
    work: list[tuple[Any, Any, dict[str, Any]]] = []
    states: dict[str, Any] = {}

    class Capture:
        def reaction(self, reaction: Any, context: dict[str, Any], limited: bool) -> None:
            if not limited and reaction.condition is not None:
                if work and work[-1][2] == context:
                    context = work[-1][2]  # unchanged since the last rule: the same object
                work.append((reaction.condition, reaction.when, context))

        def filter(self, *_: Any) -> None:
            pass

        def capped(self, *_: Any) -> None:
            pass

    for raw in lines:
        event = decode_event(raw)
        outcome = process(event, states.get(event.profile_id), config, Capture())
        states[event.profile_id] = outcome.state
    return work


def time_rules(work: list[tuple[Any, Any, dict[str, Any]]], engine: str) -> float:
    """The rules alone: datalogic (one parse per context, compiled rules) or qubit."""
    from json_logic import jsonLogic  # json-logic-qubit, the baseline (the bench extra)

    gc.collect()
    started = time.perf_counter()
    if engine == "qubit":
        for _, rule, context in work:
            jsonLogic(rule, context)
    else:
        data, last = None, None
        for condition, _, context in work:
            if context is not last:
                data, last = ContextData(context), context
            condition.holds(data)
    return time.perf_counter() - started


def batched(work: list[tuple[Any, Any, dict[str, Any]]]) -> list[tuple[Any, dict[str, Any]]]:
    """The same work as reactor does it: the conditions met by one context
    compiled into one batch (untimed), evaluated in one call."""
    groups: list[tuple[list[Any], dict[str, Any]]] = []
    for condition, _, context in work:
        if groups and groups[-1][1] is context:
            groups[-1][0].append(condition)
        else:
            groups.append(([condition], context))
    cache: dict[tuple[int, ...], Any] = {}
    out = []
    for conditions, context in groups:
        key = tuple(id(c) for c in conditions)
        if key not in cache:
            cache[key] = compile_batch(conditions)
        out.append((cache[key], context))
    return out


def time_batches(groups: list[tuple[Any, dict[str, Any]]]) -> float:
    gc.collect()
    started = time.perf_counter()
    for batch, context in groups:
        batch.evaluate(ContextData(context))
    return time.perf_counter() - started


def with_qubit() -> Callable[[], None]:
    """Swap json-logic-qubit in for datalogic inside reactor (the same pipeline,
    the other rule engine); returns the function that swaps datalogic back."""
    # Imported where used, not at the top: the e2e tests reuse this module's
    # generator and install only the test extra, not the bench one.
    from json_logic import jsonLogic  # json-logic-qubit, the baseline

    saved = (ContextData.__init__, Condition.holds, Amount.value, ConditionBatch.evaluate)

    def init(self: Any, context: Any) -> None:
        self.handle = context

    def holds(self: Any, data: Any) -> bool:
        return bool(jsonLogic(self.source, data.handle))

    def value(self: Any, data: Any) -> float:
        return float(self.source if self._rule is None else jsonLogic(self.source, data.handle))

    def evaluate(self: Any, data: Any) -> list[Any]:
        return [jsonLogic(rule, data.handle) for rule in self.sources]

    ContextData.__init__, Condition.holds, Amount.value, ConditionBatch.evaluate = (
        init,
        holds,
        value,
        evaluate,
    )  # type: ignore[method-assign]

    def restore() -> None:
        ContextData.__init__, Condition.holds, Amount.value, ConditionBatch.evaluate = saved  # type: ignore[method-assign]

    return restore


def time_orjson(lines: list[bytes]) -> float:
    gc.collect()
    started = time.perf_counter()
    for line in lines:
        orjson.loads(line)
    return time.perf_counter() - started


REPO = Path(__file__).resolve().parent.parent


def compiled_pipeline(args: argparse.Namespace) -> tuple[float, int, float]:
    """Build reactor with REACTOR_COMPILE=1 into a temporary directory
    (scripts/build-compiled) and time the same pipeline there, in a child
    process."""
    with tempfile.TemporaryDirectory() as tmp:
        site = Path(tmp) / "site"
        subprocess.run([str(REPO / "scripts" / "build-compiled"), str(site), sys.executable], check=True)
        child = [sys.executable, __file__, "--pipeline-only", *sys.argv[1:]]
        out = subprocess.run(
            child, env={**os.environ, "PYTHONPATH": str(site)}, check=True, capture_output=True, text=True
        ).stdout
    result = json.loads(out)
    if not result["engine"].endswith(".so"):
        raise SystemExit(f"the compiled build was not used: reactor.engine is {result['engine']}")
    return result["seconds"], result["actions"], result["skewed"]


#: What a child process runs to time one replay of a configuration with the
#: reactor on its PYTHONPATH (this tree or the baseline's): the least of
#: `rounds` runs, in CPU seconds, and the actions. Only API that every version
#: since the first has (load_config, Replay, feed_lines, to_json).
BASELINE_CHILD = """
import gc, json, sys, time
from pathlib import Path
from reactor.config import load_config
from reactor.replay import Replay
try:
    from reactor.runtime import tune_gc
    tune_gc()
except ImportError:
    pass
config = load_config(Path(sys.argv[1]))
lines = Path(sys.argv[2]).read_bytes().splitlines()
best, actions = None, 0
for _ in range(int(sys.argv[3])):
    out = []
    runner = Replay(config, on_action=lambda a: out.append(a.to_json()), on_reject=lambda r: None)
    gc.collect()
    started = time.process_time()
    runner.feed_lines(enumerate(lines, 1))
    elapsed = time.process_time() - started
    best, actions = min(best or elapsed, elapsed), len(out)
print(json.dumps({"seconds": best, "actions": actions}))
"""


def against_baseline(args: argparse.Namespace) -> None:
    """This tree against commit `args.baseline` (a git worktree of it in a
    temporary directory), each in its own child process, taking turns, on
    the same events: the plain configuration under both, and this tree with
    the sample programme's tiers and achievements, which the baseline may
    not know (issues #11, #12: within 5 % and 10 % of the baseline)."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        tree = work / "baseline"
        subprocess.run(
            ["git", "-C", str(REPO), "worktree", "add", "--detach", "--quiet", str(tree), args.baseline],
            check=True,
        )
        try:
            plain, programme = work / "plain", work / "programme"
            write_config(plain, args.reactions, random.Random(42))
            write_config(programme, args.reactions, random.Random(42), programme=True)
            events = work / "events.jsonl"
            events.write_bytes(
                b"\n".join(generate_events(args.events, args.profiles, random.Random(42))) + b"\n"
            )

            def child(src: Path, root: Path) -> tuple[float, int]:
                env = {**os.environ, "PYTHONPATH": str(src)}
                run = [sys.executable, "-c", BASELINE_CHILD, str(root), str(events), "1"]
                out = json.loads(
                    subprocess.run(run, env=env, check=True, capture_output=True, text=True).stdout
                )
                return out["seconds"], out["actions"]

            runs: dict[str, list[tuple[float, int]]] = {"baseline": [], "this": [], "programme": []}
            for _ in range(args.rounds):  # in turns, so that all meet the same machine
                runs["baseline"].append(child(tree / "src", plain))
                runs["this"].append(child(REPO / "src", plain))
                runs["programme"].append(child(REPO / "src", programme))
        finally:
            subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(tree)], check=True)
    best = {name: min(values) for name, values in runs.items()}
    base = best["baseline"][0]
    print(f"  against {args.baseline} (each in a child process, CPU seconds, least of {args.rounds} rounds):")
    this, with_programme = best["this"][0], best["programme"][0]
    rows = (
        (f"{args.baseline}, the benchmark's configuration", base, best["baseline"][1]),
        ("this version, the same", this, best["this"][1]),
        ("this version, with tiers and achievements", with_programme, best["programme"][1]),
    )
    for label, seconds, actions in rows:
        print(f"    {label:<46}{seconds:7.3f}   ({actions} actions)")
    for name, seconds, goal in (
        ("this version", this, 0.95),
        ("with tiers and achievements", with_programme, 0.90),
    ):
        ratio = base / seconds
        print(
            f"  goal events/s {name} / {args.baseline} >= {goal}: {ratio:.2f}, {'met' if ratio >= goal else 'not met'}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--profiles", type=int, default=2_000)
    parser.add_argument("--reactions", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3, help="best of N for each measurement")
    parser.add_argument("--no-compiled", action="store_true", help="skip the mypyc-compiled build")
    parser.add_argument("--pipeline-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument(
        "--baseline", metavar="COMMIT", help="also compare with the replay of COMMIT (a git worktree), alone"
    )
    args = parser.parse_args()
    tune_gc()  # as `reactor replay` and `reactor worker` run
    if args.baseline is not None:
        print(f"core benchmark against a baseline: {args.events} events, {args.profiles} profiles")
        against_baseline(args)
        return
    rng = random.Random(42)
    with tempfile.TemporaryDirectory() as tmp:
        config = write_config(Path(tmp), args.reactions, rng)
    with tempfile.TemporaryDirectory() as tmp:
        with_reminders = write_config(Path(tmp), args.reactions, random.Random(42), reminders=True)
    with tempfile.TemporaryDirectory() as tmp:
        idle_reminders = write_config(Path(tmp), args.reactions, random.Random(42), reminders_idle=True)
    lines = generate_events(args.events, args.profiles, rng)
    skewed_lines = generate_events(args.events, args.profiles, random.Random(43), skewed=True)
    # Uniform, skewed and with reminders taken in turns, so that all meet the same machine.
    rounds = [
        (
            time_reactor(config, lines),
            time_reactor(config, skewed_lines),
            time_reactor(with_reminders, lines),
            time_reactor(idle_reminders, lines),
        )
        for _ in range(args.rounds)
    ]
    reactor_time, actions = min(uniform for uniform, _, _, _ in rounds)
    skewed_time = min(skewed for _, (skewed, _), _, _ in rounds)
    reminders_time, reminder_actions = min(reminded for _, _, reminded, _ in rounds)
    idle_time, idle_actions = min(idle for _, _, _, idle in rounds)
    if idle_actions != actions:
        raise SystemExit(f"idle reminders gave {idle_actions} actions, not {actions}")
    if args.pipeline_only:  # the child run of `compiled_pipeline`
        import reactor.engine

        print(
            json.dumps(
                {
                    "seconds": reactor_time,
                    "skewed": skewed_time,
                    "actions": actions,
                    "engine": reactor.engine.__file__,
                }
            )
        )
        return
    compiled = None if args.no_compiled else compiled_pipeline(args)
    restore = with_qubit()
    try:
        qubit_pipeline_time, qubit_actions = min(
            time_reactor(config, lines) for _ in range(max(1, args.rounds - 1))
        )
    finally:
        restore()
    work = capture_rule_work(config, lines)
    datalogic_rules = min(time_rules(work, "datalogic") for _ in range(args.rounds))
    groups = batched(work)
    datalogic_batches = min(time_batches(groups) for _ in range(args.rounds))
    qubit_rules = min(time_rules(work, "qubit") for _ in range(args.rounds))
    orjson_time = min(time_orjson(lines) for _ in range(args.rounds))

    def rate(seconds: float) -> float:
        return args.events / seconds

    print(
        f"core benchmark: {args.events} events, {args.profiles} profiles, {args.reactions} reactions "
        f"({args.reactions // 2} per event type), {actions} actions ({actions / args.events:.2f} per event), "
        f"{len(work)} rule evaluations ({len(work) / args.events:.1f} per event), Python {sys.version.split()[0]}"
    )
    import reactor.engine

    build = "compiled" if reactor.engine.__file__.endswith(".so") else "pure Python"
    print("  events/s, one core:")
    print(
        f"    reactor pipeline (decode, process, actions as JSON) {rate(reactor_time):>10,.0f}  ({build}, as installed)"
    )
    busiest = max(Counter(orjson.loads(line)["profile_id"] for line in skewed_lines).values())
    print(
        f"    the same, skewed (Pareto: busiest profile {busiest:,} events) {rate(skewed_time):>7,.0f}  ({build})"
    )
    print(
        f"    the same, with 2 reminders (birthday, benefit)     {rate(reminders_time):>10,.0f}  "
        f"({reminder_actions - actions:+,} actions)"
    )
    print(
        f"    the same, the 2 reminders checked, none holding     {rate(idle_time):>10,.0f}  "
        f"(their due times, memo, firings; no actions)"
    )
    if compiled is not None:
        print(f"    the same, compiled with mypyc (REACTOR_COMPILE=1)   {rate(compiled[0]):>10,.0f}")
        print(f"    the same, compiled, skewed                          {rate(compiled[2]):>10,.0f}")
        if compiled[1] != actions:
            raise SystemExit(f"the compiled build gave {compiled[1]} actions, not {actions}")
    print(f"    the same pipeline with json-logic-qubit as engine   {rate(qubit_pipeline_time):>10,.0f}")
    print(f"    the rules alone, datalogic-py                       {rate(datalogic_rules):>10,.0f}")
    print(f"    the rules alone, datalogic-py, batched as reactor   {rate(datalogic_batches):>10,.0f}")
    print(f"    the rules alone, json-logic-qubit                   {rate(qubit_rules):>10,.0f}")
    print(f"    orjson.loads of each line (the floor)               {rate(orjson_time):>10,.0f}")
    if qubit_actions != actions:
        # e.g. qubit raises on `null < 5315` (JsonLogic: true) and takes it as false
        print(f"    (with qubit: {qubit_actions} actions, not {actions}: it departs from JsonLogic on nulls)")
    print("  ratios:")
    print(f"    pipeline, reactor / with qubit      {qubit_pipeline_time / reactor_time:>6.1f}x")
    if compiled is not None:
        print(f"    pipeline, compiled / as installed   {reactor_time / compiled[0]:>6.2f}x")
    print(
        f"    rules alone, datalogic / qubit      {qubit_rules / datalogic_rules:>6.1f}x one by one, "
        f"{qubit_rules / datalogic_batches:.1f}x batched  (goal >= 10x)"
    )
    print(f"    reactor / orjson floor              {orjson_time / reactor_time:>6.3f}")
    reminders_ratio = reactor_time / reminders_time
    idle_ratio = reactor_time / idle_time
    print(
        f"    with reminders / without            {reminders_ratio:>6.2f}  "
        f"(goal >= 0.9: {'met' if reminders_ratio >= 0.9 else 'not met'})"
    )
    print(
        f"    reminders none hold / without       {idle_ratio:>6.2f}  "
        f"(the same goal, on their cost apart from their actions: {'met' if idle_ratio >= 0.9 else 'not met'})"
    )
    skew_ratio = reactor_time / skewed_time
    print(
        f"    skewed / uniform                    {skew_ratio:>6.2f}  "
        f"(goal >= 0.8: {'met' if skew_ratio >= 0.8 else 'not met'})"
    )
    for name, seconds in [(build, reactor_time)] + ([("compiled", compiled[0])] if compiled else []):
        met = "met" if rate(seconds) >= 20_000 else "not met"
        print(f"  goal >= 20,000 events/s per core, {name}: {met}")


if __name__ == "__main__":
    main()
