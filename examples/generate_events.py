"""Writes examples/events.jsonl: six months of events for a few dozen profiles.

Deterministic (fixed seed), so the file only changes when this script does.
The named profiles act out the sample configuration's stories; the rest are
ordinary shoppers.

    python examples/generate_events.py > examples/events.jsonl
"""

from __future__ import annotations

import json
import random
import sys
from datetime import UTC, datetime, timedelta

START = datetime(2026, 5, 4, 8, 0, tzinfo=UTC)
END = datetime(2026, 11, 25, 20, 0, tzinfo=UTC)
STORES = [
    ("store-12", "Sydney"),
    ("store-7", "Melbourne"),
    ("store-3", "Brisbane"),
    ("store-21", "Perth"),
    ("web", "Online store"),
]
FIRST_NAMES = [
    "Ava",
    "Noah",
    "Mia",
    "Leo",
    "Isla",
    "Jack",
    "Zoe",
    "Liam",
    "Ruby",
    "Oscar",
    "Chloe",
    "Henry",
    "Grace",
    "Lucas",
    "Ella",
    "Harper",
    "Max",
    "Lily",
    "Thomas",
    "Sienna",
]

rng = random.Random(7)
events: list[dict] = []
counter = 0


def ts(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def next_id() -> str:
    global counter
    counter += 1
    return f"evt-{counter:04d}"


def profile_event(pid: str, at: datetime, **fields: object) -> dict:
    number = int(pid.split("-")[1])
    profile = {
        "id": pid,
        "first_name": FIRST_NAMES[number % len(FIRST_NAMES)],
        "last_name": f"Customer{number}",
        "email": f"{pid}@example.com",
        "birthday": f"19{70 + number % 30}-0{1 + number % 9}-1{number % 9}",
        # No `tags`/`statuses` unless a story sets them: when present they
        # replace what reactor holds (upstream is the source of truth).
        "identities": [],
        "attributes": {"custom": {}, "comms": {"email_opt_in": True}},
    }
    profile.update(fields)
    event = {
        "id": next_id(),
        "type": "profile.updated",
        "occurred_at": ts(at),
        "profile_id": pid,
        "data": {"profile": profile},
    }
    events.append(event)
    return event


def transaction_event(
    pid: str,
    at: datetime,
    total: float,
    *,
    tags: list[str] | None = None,
    store: tuple[str, str] | None = None,
    system: str = "pos",
    txn_id: str | None = None,
    original_id: str | None = None,
) -> dict:
    location = store or rng.choice(STORES)
    online = location[0] == "web"
    event = {
        "id": next_id(),
        "type": "transaction.created",
        "occurred_at": ts(at + timedelta(seconds=30)),
        "profile_id": pid,
        "data": {
            "transaction": {
                "id": txn_id or f"t-{counter:05d}",
                "system": "shopify" if online else system,
                "total": round(total, 2),
                "currency": "AUD",
                "transacted_at": ts(at),
                "location": {"id": location[0], "name": location[1]},
                "channel": "online" if online else "in_store",
                "items": [
                    {
                        "sku": f"SKU-{rng.randint(100, 999)}",
                        "quantity": 1,
                        "price": round(total, 2),
                        "full_price": rng.random() < 0.6,
                    }
                ],
                "tags": tags or [],
            }
        },
    }
    if original_id is not None:  # a refund naming the purchase it refunds
        event["data"]["transaction"]["original_id"] = original_id
    events.append(event)
    return event


def instagram(handle: str, followers: int) -> list[dict]:
    return [{"handle": "instagram", "identifier": handle, "followers": followers}]


def day(month: int, dom: int, hour: int = 10) -> datetime:
    return datetime(2026, month, dom, hour, rng.randint(0, 59), tzinfo=UTC)


# p-001 Ava: an influencer from June; her later purchases earn double tier points.
profile_event("p-001", day(5, 6), identities=instagram("ava.styles", 4200))
profile_event("p-001", day(6, 15), identities=instagram("ava.styles", 12500), tags=["vip-waitlist"])
for month, dom, total in [(6, 20, 129.50), (7, 14, 89.00), (9, 2, 240.00)]:
    transaction_event("p-001", day(month, dom, 11), total)

# p-002: an influencer who asked for no marketing: status and gift, no comms.
profile_event("p-002", day(5, 10), identities=instagram("no.emails.please", 30100), tags=["no-comms"])
transaction_event("p-002", day(5, 22), 60.00)

# p-003: followers grow past 10k over the summer: upgraded once, never twice.
for month, followers in [(5, 8000), (7, 10400), (9, 15800)]:
    profile_event("p-003", day(month, 12), identities=instagram("leo.runs", followers))

# p-004: joins staff in May, leaves in October (Ex-Staff replaces Staff).
profile_event("p-004", day(5, 4, 9), attributes={"custom": {}, "comms": {"email_opt_in": True}})
profile_event(
    "p-004", day(5, 18, 9), attributes={"custom": {"employee_id": "E-1042"}, "comms": {"email_opt_in": True}}
)
transaction_event("p-004", day(6, 3), 180.00)
profile_event("p-004", day(10, 1, 9), attributes={"custom": {}, "comms": {"email_opt_in": True}})

# p-005: a journalist tagged `media` upstream in May; the 180-day status runs out in November.
profile_event("p-005", day(5, 8), tags=["media"])
transaction_event("p-005", day(8, 8), 75.00, store=STORES[4])

# p-006: a big spender: the $1,000 reward in July, VIP in September, then
# rewards with 30 extra days.
for month, dom, total in [
    (5, 9, 420.0),
    (6, 11, 380.0),
    (7, 2, 310.0),
    (8, 19, 690.0),
    (9, 25, 900.0),
    (10, 30, 150.0),
]:
    transaction_event("p-006", day(month, dom, 13), total)
profile_event("p-006", day(5, 5), first_name="Harper")

# p-007: VIP set upstream (snapshot); her $1,000 reward gets VIP's +30 days.
profile_event("p-007", day(5, 15), statuses=[{"handle": "vip", "expires_at": "2027-05-15T00:00:00Z"}])
for month, dom, total in [(6, 1, 650.0), (7, 7, 500.0)]:
    transaction_event("p-007", day(month, dom, 15), total)

# p-008: Black Friday shopper (and a duplicate delivery of the same event).
profile_event("p-008", day(6, 2))
bf = transaction_event("p-008", day(11, 20, 9), 129.50, tags=["black-friday"])
events.append(json.loads(json.dumps(bf)))  # the same event delivered twice: skipped

# p-009: a purchase and its refund, which names it: the points come back.
profile_event("p-009", day(7, 1))
bought = transaction_event("p-009", day(7, 3), 210.0, store=STORES[0])
transaction_event(
    "p-009", day(7, 9), -210.0, store=STORES[0], original_id=bought["data"]["transaction"]["id"]
)

# p-010: shopped in May, then lapsed: the Monday win-back finds her in August.
profile_event("p-010", day(5, 4, 12))
transaction_event("p-010", day(5, 6), 95.0)

# p-011: the POS re-sent a transaction under a new event id: counted once.
profile_event("p-011", day(6, 6))
transaction_event("p-011", day(6, 9), 55.0, txn_id="t-dup-1")
transaction_event("p-011", day(6, 9, 11), 55.0, txn_id="t-dup-1")

# p-012: asked to be forgotten in September; later events start a new profile.
profile_event("p-012", day(5, 20), identities=instagram("gone.soon", 22000))
transaction_event("p-012", day(6, 20), 300.0)
events.append(
    {
        "id": next_id(),
        "type": "profile.deleted",
        "occurred_at": ts(day(9, 1)),
        "profile_id": "p-012",
        "data": {},
    }
)

# p-013 .. p-036: ordinary shoppers, a few to a dozen visits each.
for number in range(13, 37):
    pid = f"p-{number:03d}"
    joined = START + timedelta(days=rng.randint(0, 60), hours=rng.randint(0, 10))
    profile_event(pid, joined, tags=rng.choice([[], [], ["newsletter"], ["no-comms"]]))
    visits = rng.randint(2, 12)
    moment = joined
    for _ in range(visits):
        moment += timedelta(days=rng.randint(3, 40), hours=rng.randint(0, 8))
        if moment >= END:
            break
        tags = ["black-friday"] if moment.month == 11 and moment.day >= 20 else []
        transaction_event(pid, moment, rng.choice([19.95, 35.0, 49.9, 89.0, 120.0, 199.0, 310.0]), tags=tags)

# The incentive programme (CONTRACT §7), last so that the events above keep their ids.

# p-040: reaches Gold on tier points in September, and is welcomed.
profile_event("p-040", day(5, 12))
for month, dom, total in [(6, 5, 420.0), (7, 22, 380.0), (9, 8, 260.0)]:
    transaction_event("p-040", day(month, dom, 12), total)

# p-041: one large online order goes straight to Platinum (from Member, its floor).
profile_event("p-041", day(6, 1))
transaction_event("p-041", day(6, 18, 16), 2600.0, store=STORES[4])

# p-042: a purchase and a partial refund naming it: half of its points come back.
profile_event("p-042", day(6, 10))
half = transaction_event("p-042", day(6, 12), 300.0, store=STORES[1])
transaction_event("p-042", day(6, 20), -150.0, store=STORES[1], original_id=half["data"]["transaction"]["id"])

# p-043: an Influencer (set upstream until 1 August) buys in July at double tier
# points; her refund in September, after the status ended, takes back double.
profile_event("p-043", day(6, 1), statuses=[{"handle": "influencer", "expires_at": "2026-08-01T00:00:00Z"}])
doubled = transaction_event("p-043", day(7, 10), 200.0, store=STORES[2])
transaction_event(
    "p-043", day(9, 15), -200.0, store=STORES[2], original_id=doubled["data"]["transaction"]["id"]
)

# The customer lifecycle (CONTRACT §8), after the stories above so they keep their ids.


def redemption_event(pid: str, at: datetime, kind: str, **data: object) -> dict:
    event = {"id": next_id(), "type": kind, "occurred_at": ts(at), "profile_id": pid, "data": data}
    events.append(event)
    return event


# p-006 spends $15 of the $20 reward he got on 2 July (it runs out on 30 September).
redemption_event(
    "p-006", day(7, 20, 14), "reward.redeemed", redemption_id="rd-0001", amount=15.0, currency="AUD"
)
# p-041 spends 5,000 of the reward points from her Platinum order.
redemption_event("p-041", day(7, 1, 12), "points.redeemed", redemption_id="rd-0002", points=5000)
# p-001 claims the welcome gift her Influencer status brought on 15 June.
redemption_event("p-001", day(6, 20, 12), "benefit.claimed", claim_id="cl-0001", benefit="welcome-gift")

events.sort(key=lambda e: (e["occurred_at"], e["id"]))
for event in events:
    sys.stdout.write(json.dumps(event, separators=(",", ":")) + "\n")
