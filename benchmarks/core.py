"""Core benchmark: events/s through `process` with 100 reactions.

Prints, from one run on one machine, three throughputs and two ratios:

- reactor: decode + `process` (state, context, rules, actions) + action JSON,
  for every event, the way `reactor replay` runs, on one core;
- qubit: the same `when` rules evaluated with json-logic-qubit on the very
  contexts reactor's rules saw (and nothing else: no decoding, no state, no
  actions), i.e. a lower bound on the cost of the rules alone with qubit;
- orjson: a bare `orjson.loads` of the same lines (the floor).

Goals (issue #3): reactor >= 20,000 events/s per core and >= 10x qubit.

    python benchmarks/core.py [--events 20000] [--profiles 2000] [--reactions 100]
"""

from __future__ import annotations

import argparse
import gc
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from json_logic import jsonLogic  # json-logic-qubit, the baseline

from reactor.config import Config, load_config
from reactor.engine import process
from reactor.events import decode_event
from reactor.replay import Replay

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
        ({"and": [{"in": ["vip", {"var": "flattened_statuses"}]},
                  {"==": [{"var": "aggregations.shop_count"}, rng.randint(2, 12)]}]}, False),
        ({"and": [{">": [{"var": "aggregations.days_since_last_spend"}, 60]},
                  {"!": {"in": ["no-comms", {"var": "flattened_tags"}]}}]}, True),
    ]
    if event_type == "transaction.created":
        shapes += [
            ({"and": [{">=": [{"var": "aggregations.spend_12m"}, spend]},
                      {"<": [{"-": [{"var": "aggregations.spend_12m"}, {"var": "transaction.total"}]}, spend]}]}, False),
            ({"and": [{">=": [{"var": "point_balance"}, points]},
                      {"<": [{"-": [{"var": "point_balance"}, {"*": [{"var": "transaction.total"}, 10]}]}, points]}]},
             False),
            ({"and": [{">": [{"var": "transaction.total"}, rng.randint(200, 450)]},
                      {"==": [{"var": "transaction.location.id"}, f"store-{rng.randint(1, 30)}"]}]}, False),
            ({"some": [{"var": "transaction.items"},
                       {"and": [{"var": "full_price"}, {"==": [{"var": "sku"}, f"S{rng.randint(1, 999)}"]}]}]}, False),
        ]
    else:
        followers = rng.randint(2000, 50000)
        shapes += [
            ({"and": [{">=": [{"var": "profile.identities.instagram.followers"}, followers]},
                      {"<": [{"var": "previous_profile.identities.instagram.followers"}, followers]}]}, False),
            ({"and": [{"==": [{"var": "attributes.comms.email_opt_in"}, True]},
                      {"==": [{"var": "aggregations.shop_count"}, 0]},
                      {"in": [f"tag-{rng.randint(0, 40)}", {"var": "flattened_tags"}]}]}, True),
        ]
    return shapes[k % len(shapes)]


def write_config(root: Path, reactions: int, rng: random.Random) -> Config:
    (root / "reactions").mkdir(parents=True)
    (root / "targets").mkdir()
    (root / "reactions" / "catalog.yaml").write_text(CATALOG)
    rules = []
    for i in range(reactions):
        event_type = "transaction.created" if i % 2 == 0 else "profile.updated"
        if i % 10 == 0:
            actions = [{"type": "target.send", "target": "hook"}]
        elif i % 10 == 5:
            actions = [{"type": "status.apply", "status": "vip"}, {"type": "benefit.create", "benefit": "gift"}]
        elif i % 3 == 0:
            actions = [{"type": "points.award", "kind": "reward", "points": 10}]
        else:
            actions = [{"type": "tag.add", "tag": f"segment-{i}"}]
        when, limited = conditions(rng, event_type, i)
        rule: dict[str, Any] = {"id": f"r{i:03d}", "on": [event_type], "priority": i % 7, "when": when,
                                "actions": actions}
        if limited:
            rule["limit"] = {"per_profile": 1, "window": "90d"} if i % 10 == 3 else {"per_profile": 1}
        rules.append(rule)
    # Points on every transaction, as every loyalty programme has.
    rules[0] = {"id": "r000", "on": ["transaction.created"], "actions": [
        {"type": "points.award", "kind": "tier", "points": {"var": "transaction.total"}},
        {"type": "points.award", "kind": "reward", "points": {"*": [{"var": "transaction.total"}, 10]}}]}
    (root / "reactions" / "rules.yaml").write_text(orjson.dumps({"reactions": rules}).decode())
    return load_config(root)


def generate_events(count: int, profiles: int, rng: random.Random) -> list[bytes]:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    followers = {f"p-{p:06d}": int(rng.paretovariate(1.2) * 800) for p in range(profiles)}
    lines = []
    for n in range(count):
        at = start + timedelta(seconds=n * (365 * 86400 // count))
        pid = f"p-{rng.randrange(profiles):06d}"
        stamp = at.strftime("%Y-%m-%dT%H:%M:%SZ")
        if rng.random() < 0.25:
            followers[pid] = int(followers[pid] * rng.uniform(1.0, 1.3))  # audiences grow slowly
            data = {"profile": {
                "id": pid, "first_name": "Ava", "email": f"{pid}@example.com",
                "tags": rng.sample([f"tag-{i}" for i in range(40)] + ["no-comms"], rng.randint(0, 4)),
                "identities": [{"handle": "instagram", "identifier": pid, "followers": followers[pid]}],
                "attributes": {"comms": {"email_opt_in": rng.random() < 0.7}, "custom": {"tier": "gold"}}}}
            kind = "profile.updated"
        else:
            total = round(rng.uniform(5, 500), 2)
            data = {"transaction": {
                "id": f"t-{n}", "system": "pos", "total": total, "currency": "AUD", "transacted_at": stamp,
                "location": {"id": f"store-{rng.randint(1, 30)}", "name": "Store"}, "channel": "in_store",
                "items": [{"sku": f"S{rng.randint(1, 999)}", "quantity": 1, "price": total, "full_price": rng.random() < 0.5}
                          for _ in range(rng.randint(1, 3))]}}
            kind = "transaction.created"
        lines.append(orjson.dumps({"id": f"e-{n}", "type": kind, "occurred_at": stamp, "profile_id": pid, "data": data}))
    return lines


def time_reactor(config: Config, lines: list[bytes]) -> tuple[float, int]:
    out: list[bytes] = []
    runner = Replay(config, on_action=lambda a: out.append(a.to_json()), on_reject=lambda r: None)
    gc.collect()
    started = time.perf_counter()
    runner.feed_lines(enumerate(lines, 1))
    elapsed = time.perf_counter() - started
    return elapsed, len(out)


def capture_rule_work(config: Config, lines: list[bytes]) -> list[tuple[Any, dict[str, Any]]]:
    """Every (when, context) pair reactor evaluated, from a separate untimed run."""
    work: list[tuple[Any, dict[str, Any]]] = []
    states: dict[str, Any] = {}

    def observe(reaction: Any, context: dict[str, Any], limited: bool) -> None:
        if not limited and reaction.when is not None:
            work.append((reaction.when, context))

    for raw in lines:
        event = decode_event(raw)
        outcome = process(event, states.get(event.profile_id), config, observe)
        states[event.profile_id] = outcome.state
    return work


def time_qubit(work: list[tuple[Any, dict[str, Any]]]) -> float:
    gc.collect()
    started = time.perf_counter()
    for rule, context in work:
        jsonLogic(rule, context)
    return time.perf_counter() - started


def time_orjson(lines: list[bytes]) -> float:
    gc.collect()
    started = time.perf_counter()
    for line in lines:
        orjson.loads(line)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--profiles", type=int, default=2_000)
    parser.add_argument("--reactions", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3, help="best of N for each measurement")
    args = parser.parse_args()
    rng = random.Random(42)
    with tempfile.TemporaryDirectory() as tmp:
        config = write_config(Path(tmp), args.reactions, rng)
    lines = generate_events(args.events, args.profiles, rng)
    reactor_runs = [time_reactor(config, lines) for _ in range(args.rounds)]
    reactor_time, actions = min(reactor_runs)
    work = capture_rule_work(config, lines)
    qubit_time = min(time_qubit(work) for _ in range(args.rounds))
    orjson_time = min(time_orjson(lines) for _ in range(args.rounds))

    def rate(seconds: float) -> float:
        return args.events / seconds

    print(f"core benchmark: {args.events} events, {args.profiles} profiles, {args.reactions} reactions "
          f"({args.reactions // 2} per event type), {actions} actions ({actions / args.events:.2f} per event), "
          f"{len(work)} rule evaluations, Python {sys.version.split()[0]}")
    print(f"  reactor (decode+process+actions) {rate(reactor_time):>12,.0f} events/s")
    print(f"  json-logic-qubit (rules only)    {rate(qubit_time):>12,.0f} events/s")
    print(f"  orjson.loads (floor)             {rate(orjson_time):>12,.0f} events/s")
    print(f"  ratio reactor / qubit            {qubit_time / reactor_time:>12.1f}x   (goal >= 10x)")
    print(f"  ratio reactor / orjson floor     {orjson_time / reactor_time:>12.3f}")
    print(f"  goal >= 20,000 events/s per core: {'met' if rate(reactor_time) >= 20_000 else 'NOT met'}")


if __name__ == "__main__":
    main()
