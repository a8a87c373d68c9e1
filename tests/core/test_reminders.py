"""Reminders (CONTRACT §8): due times relative to a profile's own dates, once
per profile, item and due time. Expected instants are worked out by hand
(Sydney is UTC+11 until 3 a.m. on Sunday 5 April 2026, UTC+10 after)."""

from __future__ import annotations

from pathlib import Path

import pytest

from reactor.config import load_config
from reactor.engine import next_due, run_due
from reactor.errors import ConfigError
from reactor.state import ProfileState
from support import profile_updated, run, transaction, write_config


@pytest.fixture
def cfg(tmp_path: Path):
    counter = iter(range(1000))

    def make(text: str):
        return load_config(write_config(tmp_path / f"c{next(counter)}", {"reactions/r.yaml": text}))

    return make


REWARD = """
reactions:
  - id: give
    on: [transaction.created]
    actions: [{type: reward.create, amount: {"var": "transaction.total"}, currency: AUD, valid_for: 30d}]
reminders:
  - id: reward-expiring
    of: reward.expires_at
    before: 14d
    actions: [{type: tag.add, tag: reminded}]
"""


def test_a_reward_reminder_fires_at_its_due_time_once(cfg):
    config = cfg(REWARD)
    state, actions, _ = run(config, transaction(10, at="2026-01-01T10:00:00Z"))
    reward_id = actions[0]["id"]
    # Expires 31 January 10:00; 14 days before: 17 January 10:00.
    assert next_due(state, config) == "2026-01-17T10:00:00Z"
    outcome = run_due(state, config, "2026-01-20T00:00:00Z")
    (tag,) = [a.as_dict() for a in outcome.actions]
    assert tag["at"] == "2026-01-17T10:00:00Z" and tag["reaction_id"] == "reward-expiring"
    assert tag["event_id"] == f"reward-expiring@{reward_id}@2026-01-17T10:00:00Z"
    # Once: again later, and after the state went through the changelog, nothing.
    again = run_due(outcome.state, config, "2026-01-25T00:00:00Z")
    assert again.actions == ()
    stored = ProfileState.from_json(outcome.state.to_json())
    assert run_due(stored, config, "2026-01-25T00:00:00Z").actions == ()
    # The next due time is the reward's own expiry now.
    assert next_due(outcome.state, config) == "2026-01-31T10:00:00Z"


def test_two_reminders_due_at_one_instant_fire_once_and_the_next_due_time_moves_on(cfg):
    # Found by benchmarks/memory.py, whose replay never ended: the second
    # reminder fired in one run changed the fired list in place, the due-time
    # memo kept the instant already done, and replay ran it again for ever.
    config = cfg(
        REWARD
        + "  - {id: second, of: reward.expires_at, before: 14d, actions: [{type: tag.add, tag: again}]}\n"
    )
    state, _, _ = run(config, transaction(10, at="2026-01-01T10:00:00Z"))
    assert next_due(state, config) == "2026-01-17T10:00:00Z"
    outcome = run_due(state, config, "2026-01-17T10:00:00Z")
    assert sorted(a.fields["tag"] for a in outcome.actions) == ["again", "reminded"]
    assert next_due(outcome.state, config) == "2026-01-31T10:00:00Z"
    assert run_due(outcome.state, config, "2026-01-17T10:00:00Z").actions == ()


def test_replay_reports_due_work_that_leaves_itself_due_instead_of_looping(cfg, monkeypatch):
    # The guard behind the bug above: were the next due time still the instant
    # just run, replay would run it for ever. Such a bug cannot be made with the
    # real engine any more, so `next_due` is replaced by one that has it (which
    # is why tests/core/test_compiled.py leaves this test out of its run).
    import reactor.replay as replay_module

    config = cfg(REWARD)
    monkeypatch.setattr(replay_module, "next_due", lambda state, config: "2026-01-17T10:00:00Z")
    rejects: list[dict] = []
    runner = replay_module.Replay(config, on_action=lambda a: None, on_reject=rejects.append)
    lines = [transaction(10, at="2026-01-01T10:00:00Z"), transaction(5, at="2026-02-01T10:00:00Z")]
    runner.feed_lines(enumerate(lines, 1))
    (letter,) = rejects
    assert letter["error"]["code"] == "internal_error"
    assert "left 2026-01-17T10:00:00Z due again" in letter["error"]["message"]
    assert letter["source"]["profile_id"] == "p-1"
    assert (runner.stats.events, runner.stats.rejected, runner.stats.internal_errors) == (2, 0, 1)


def test_a_due_time_already_past_when_the_item_appears_fires_at_once(cfg):
    config = cfg(REWARD.replace("valid_for: 30d", "valid_for: 10d"))
    _, actions, _ = run(config, transaction(10, id="e1", at="2026-01-01T10:00:00Z"))
    # Expires 11 January; due 14 days before, 28 December: already past. It fires
    # at the event that issued the reward, at its time.
    reward, tag = actions
    assert tag["type"] == "tag.add" and tag["at"] == "2026-01-01T10:00:00Z"
    assert tag["event_id"] == f"reward-expiring@{reward['id']}@2025-12-28T10:00:00Z"


def test_an_item_due_at_once_fires_at_once_after_due_work_changed_the_same_field(cfg):
    # VIP (granting a lounge benefit) runs out on 11 January: the due work
    # before the 12 January purchase revokes the lounge, copying the benefits
    # once. The purchase then issues a voucher (valid 7 days: expires 19
    # January, its reminder due 5 January, already past), in that same copy.
    # The voucher's reminder fires at once, at the purchase, not at some later
    # event or tick.
    config = cfg("""
    statuses:
      - {handle: vip, name: VIP, rank: 1, default_duration: 10d, grants: [lounge]}
    benefits:
      - {handle: lounge, name: Lounge, kind: free_product}
      - {handle: voucher, name: Voucher, kind: free_product, valid_for: 7d}
    reactions:
      - {id: make-vip, on: [profile.updated], actions: [{type: status.apply, status: vip}]}
      - {id: give, on: [transaction.created], actions: [{type: benefit.create, benefit: voucher}]}
    reminders:
      - id: expiring
        of: benefit.expires_at
        before: 14d
        actions: [{type: points.award, kind: reward, points: 1}]
    """)
    state, actions, _ = run(
        config, profile_updated(at="2026-01-01T10:00:00Z"), transaction(11, at="2026-01-12T10:00:00Z")
    )
    voucher = next(a for a in actions if a["type"] == "benefit.create" and a["benefit"] == "voucher")
    reminded = [a for a in actions if a["reaction_id"] == "expiring"]
    assert [(a["at"], a["event_id"]) for a in reminded] == [
        ("2026-01-01T10:00:00Z", reminded[0]["event_id"]),  # the lounge's, due 28 December: at once
        ("2026-01-12T10:00:00Z", f"expiring@{voucher['id']}@2026-01-05T10:00:00Z"),
    ]
    # Nothing left due (it was 5 January, in the past, before): a benefit's
    # expiry is not due work, benefits are let go when next looked at.
    assert next_due(state, config) is None


def test_the_context_holds_the_reminder_and_its_item(cfg):
    config = cfg(
        REWARD.replace(
            "actions: [{type: tag.add, tag: reminded}]",
            """actions:
      - {type: points.award, kind: reward, points: {"var": "reminder.item.remaining"}}
      - {type: filter, when: {"==": [{"var": "reminder.due_at"}, "2026-01-17T10:00:00Z"]}}
      - {type: tag.add, tag: right-due}""",
        )
    )
    state, _, _ = run(config, transaction(25, at="2026-01-01T10:00:00Z"))
    got = [
        (a.type, a.fields.get("points") or a.fields.get("tag"))
        for a in run_due(state, config, "2026-02-01T00:00:00Z").actions
    ]
    assert got[:2] == [("points.award", 25), ("tag.add", "right-due")]


def test_an_item_gone_by_its_due_time_does_not_fire(cfg):
    config = cfg("""
    statuses:
      - {handle: trial, name: Trial, rank: 1, default_duration: 30d}
    reactions:
      - {id: start, on: [profile.updated], when: {"!": {"var": "stop"}}, actions: [{type: status.apply, status: trial}]}
      - {id: stop, on: [profile.updated], when: {"var": "stop"}, actions: [{type: status.remove, status: trial}]}
    reminders:
      - {id: trial-ending, of: status.expires_at, before: 3d, actions: [{type: tag.add, tag: ending}]}
    """)
    # The trial would end 31 January (due 28 January); it is removed on 10 January.
    state, actions, _ = run(
        config,
        profile_updated(at="2026-01-01T00:00:00Z"),
        profile_updated(stop=True, at="2026-01-10T00:00:00Z"),
    )
    assert [a["type"] for a in actions] == ["status.apply", "status.remove"]
    assert run_due(state, config, "2026-03-01T00:00:00Z").actions == ()


BIRTHDAY = """
programme: {timezone: Australia/Sydney}
reminders:
  - id: birthday-week
    of: profile.birthday
    before: 7d
    at: "09:00"
    actions: [{type: points.award, kind: reward, points: 1}]
"""


@pytest.mark.parametrize(
    ("birthday", "due"),
    [
        ("1990-04-10", "2026-04-02T22:00:00Z"),  # 3 April 09:00 in daylight saving time (UTC+11)
        (
            "1990-04-14",
            "2026-04-06T23:00:00Z",
        ),  # 7 April 09:00 in standard time (UTC+10): an hour later in UTC
    ],
)
def test_a_birthday_reminder_is_at_local_time_across_a_daylight_saving_change(cfg, birthday, due):
    config = cfg(BIRTHDAY)
    state, _, _ = run(config, profile_updated(birthday=birthday, at="2026-03-01T00:00:00Z"))
    assert next_due(state, config) == due
    (award,) = run_due(state, config, "2026-05-01T00:00:00Z").actions
    assert award.at == due and award.event_id == f"birthday-week@2026-{birthday[5:]}@{due}"


def test_the_due_time_memo_works_out_again_only_the_reminder_whose_items_changed(cfg, monkeypatch):
    # `due.earliest_reminder` keeps each reminder's next due time with what it
    # was worked out from: a snapshot sending the same birthday again changes
    # nothing, a status applied changes only the status reminder's, a new
    # birthday only the birthday reminder's.
    import reactor.due

    config = cfg(
        BIRTHDAY
        + """  - {id: trial-ending, of: status.expires_at, before: 3d, actions: [{type: tag.add, tag: ending}]}
statuses:
  - {handle: trial, name: Trial, rank: 1, default_duration: 30d}
reactions:
  - id: start
    on: [profile.updated]
    when: {"==": [{"var": "attributes.trial"}, "yes"]}
    actions: [{type: status.apply, status: trial}]
"""
    )
    state, _, _ = run(config, profile_updated(birthday="1990-04-14", at="2026-03-01T00:00:00Z"))
    assert next_due(state, config) == "2026-04-06T23:00:00Z"  # 7 April 09:00 Sydney (UTC+10)
    worked_out: list[str] = []
    original = reactor.due.first_due
    monkeypatch.setattr(reactor.due, "first_due", lambda r, *a: worked_out.append(r.id) or original(r, *a))
    state, _, _ = run(config, profile_updated(birthday="1990-04-14", at="2026-03-02T00:00:00Z"), state=state)
    assert worked_out == [] and next_due(state, config) == "2026-04-06T23:00:00Z"
    # The trial runs 30 days from 3 March 00:00 UTC, to 2 April; 3 days before: 30 March.
    state, actions, _ = run(
        config,
        profile_updated(birthday="1990-04-14", attributes={"trial": "yes"}, at="2026-03-03T00:00:00Z"),
        state=state,
    )
    assert [a["type"] for a in actions] == ["status.apply"]
    assert worked_out == ["trial-ending"] and next_due(state, config) == "2026-03-30T00:00:00Z"
    # 10 April 1990: 3 April 09:00 Sydney, still in daylight saving time (UTC+11).
    state, _, _ = run(config, profile_updated(birthday="1990-04-10", at="2026-03-04T00:00:00Z"), state=state)
    assert worked_out == ["trial-ending", "birthday-week"]
    # A reminder that fires works out only its own next due time again.
    worked_out.clear()
    fired = run_due(state, config, "2026-03-31T00:00:00Z")
    assert [a.type for a in fired.actions] == ["tag.add"] and worked_out == ["trial-ending"]
    assert next_due(fired.state, config) == "2026-04-02T00:00:00Z"  # the trial's end
    due = run_due(state, config, "2026-04-05T00:00:00Z")
    assert [(a.type, a.at) for a in due.actions] == [
        ("tag.add", "2026-03-30T00:00:00Z"),
        ("status.remove", "2026-04-02T00:00:00Z"),  # the trial's end
        ("points.award", "2026-04-02T22:00:00Z"),
    ]


def test_a_snapshot_repeating_its_statuses_keeps_the_status_reminders_due_time(cfg, monkeypatch):
    # A snapshot that lists statuses sets them (and the benefits they grant);
    # the same list again leaves the state's statuses the very same object, so
    # the memo does not work the status reminder out again on every update.
    import reactor.due

    config = cfg("""
    statuses:
      - {handle: vip, name: VIP, rank: 1}
    reminders:
      - {id: vip-ending, of: status.expires_at, before: 3d, actions: [{type: tag.add, tag: ending}]}
    """)
    vip = [{"handle": "vip", "expires_at": "2026-06-01T00:00:00Z"}]
    state, _, _ = run(config, profile_updated(statuses=vip, at="2026-03-01T00:00:00Z"))
    assert next_due(state, config) == "2026-05-29T00:00:00Z"
    worked_out: list[str] = []
    original = reactor.due.first_due
    monkeypatch.setattr(reactor.due, "first_due", lambda r, *a: worked_out.append(r.id) or original(r, *a))
    after, _, _ = run(config, profile_updated(statuses=vip, at="2026-03-02T00:00:00Z"), state=state)
    assert after.statuses is state.statuses and worked_out == []
    later = [{"handle": "vip", "expires_at": "2026-07-01T00:00:00Z"}]
    after, _, _ = run(config, profile_updated(statuses=later, at="2026-03-03T00:00:00Z"), state=after)
    assert worked_out == ["vip-ending"] and next_due(after, config) == "2026-06-28T00:00:00Z"


AFTER_BIRTHDAY = """
reminders:
  - {id: late-gift, of: profile.birthday, after: 3d, actions: [{type: tag.add, tag: late-gift}]}
"""


def test_an_after_birthday_reminder_is_still_ahead_between_the_birthday_and_its_due_time(cfg):
    # Birthday 1 January; 3 days after: 4 January 00:00 (UTC, no programme time
    # zone). An event on 2 January (past the birthday, before its reminder)
    # once moved the reminder to 4 January 2027: the occurrence considered was
    # the next birthday on or after today. It is the one whose due date is
    # today or later.
    config = cfg(AFTER_BIRTHDAY)
    state, _, _ = run(config, profile_updated(birthday="1990-01-01", at="2025-12-30T00:00:00Z"))
    assert next_due(state, config) == "2026-01-04T00:00:00Z"
    state, _, _ = run(
        config, profile_updated(birthday="1990-01-01", email="a@b.c", at="2026-01-02T00:00:00Z"), state=state
    )
    assert next_due(state, config) == "2026-01-04T00:00:00Z"
    (tag,) = run_due(state, config, "2026-01-05T00:00:00Z").actions
    assert tag.at == "2026-01-04T00:00:00Z" and tag.event_id == "late-gift@2026-01-01@2026-01-04T00:00:00Z"
    # A profile first seen between the birthday and its reminder gets it then;
    # one first seen after the reminder's day, next year's.
    fresh, _, _ = run(config, profile_updated(birthday="1990-01-01", at="2026-01-03T12:00:00Z"))
    assert next_due(fresh, config) == "2026-01-04T00:00:00Z"
    late, actions, _ = run(config, profile_updated(birthday="1990-01-01", at="2026-01-05T00:00:00Z"))
    assert actions == [] and next_due(late, config) == "2027-01-04T00:00:00Z"


def test_a_29_february_birthday_counts_as_28_february_in_other_years(cfg):
    config = cfg(BIRTHDAY)
    state, _, _ = run(config, profile_updated(birthday="1992-02-29", at="2026-03-10T00:00:00Z"))
    # Next: 28 February 2027; a week before, 21 February 09:00 Sydney (UTC+11) = 20 February 22:00 UTC.
    assert next_due(state, config) == "2027-02-20T22:00:00Z"
    outcome = run_due(state, config, "2028-03-01T00:00:00Z")
    # And a year later the leap year's own 29 February: 22 February 2028 09:00 = 21 February 22:00 UTC.
    assert [a.event_id for a in outcome.actions] == [
        "birthday-week@2027-02-28@2027-02-20T22:00:00Z",
        "birthday-week@2028-02-29@2028-02-21T22:00:00Z",
    ]


def test_a_birthday_within_the_week_when_the_profile_first_appears_fires_at_once(cfg):
    config = cfg(BIRTHDAY)
    _, actions, _ = run(config, profile_updated(birthday="1980-03-05", at="2026-03-01T00:00:00Z"))
    (award,) = actions
    # Due 26 February (09:00 Sydney = 25 February 22:00 UTC), already past: now, once.
    assert award["at"] == "2026-03-01T00:00:00Z"
    assert award["event_id"] == "birthday-week@2026-03-05@2026-02-25T22:00:00Z"


def test_a_reminder_whose_when_is_false_at_its_due_time_is_not_tried_again(cfg):
    config = cfg(
        BIRTHDAY.replace('at: "09:00"', 'at: "09:00"\n    when: {"var": "attributes.comms.email_opt_in"}')
    )
    state, _, _ = run(
        config,
        profile_updated(
            birthday="1990-06-20", attributes={"comms": {"email_opt_in": False}}, at="2026-05-01T00:00:00Z"
        ),
    )
    passed = run_due(state, config, "2026-06-15T00:00:00Z")  # due 13 June: not opted in then
    assert passed.actions == ()
    _, later, _ = run(
        config,
        profile_updated(
            birthday="1990-06-20", attributes={"comms": {"email_opt_in": True}}, at="2026-06-16T00:00:00Z"
        ),
        state=passed.state,
    )
    assert later == []


def test_tier_review_and_profile_date_reminders(cfg):
    config = cfg("""
    tiers:
      - program: loyalty
        measure: spend_12m
        review_after: 365d
        levels:
          - {handle: member, name: Member, attain: 0}
          - {handle: gold, name: Gold, attain: 100}
    reminders:
      - {id: review-soon, of: tier.review_at, before: 30d, actions: [{type: tag.add, tag: review-soon}]}
      - {id: anniversary, of: profile.joined_on, after: 0d, at: "12:00", actions: [{type: tag.add, tag: anniversary}]}
    """)
    state, _, _ = run(
        config,
        profile_updated(joined_on="2026-06-01", at="2026-01-01T00:00:00Z"),
        transaction(150, at="2026-01-10T00:00:00Z"),  # gold, reviewed 10 January 2027
    )
    outcome = run_due(state, config, "2027-01-01T00:00:00Z")
    assert [(a.fields["tag"], a.at, a.event_id) for a in outcome.actions] == [
        ("anniversary", "2026-06-01T12:00:00Z", "anniversary@2026-06-01@2026-06-01T12:00:00Z"),
        ("review-soon", "2026-12-11T00:00:00Z", "review-soon@loyalty@2026-12-11T00:00:00Z"),
    ]


@pytest.mark.parametrize(
    ("reminder", "fragment"),
    [
        (
            "{id: r, of: reward.expire_at, before: 1d",
            "unknown `of` 'reward.expire_at' (did you mean 'reward.expires_at'?)",
        ),
        ("{id: r, of: reward.expires_at", "exactly one of `before` or `after`"),
        ("{id: r, of: reward.expires_at, before: 1d, after: 2d", "exactly one of `before` or `after`"),
        ("{id: r, of: profile.birthday, before: 1d, at: 9am", 'is not a time of day such as "09:00"'),
        ('{id: r, of: profile.birthday, before: 1d, at: "25:00"', "00:00 to 23:59"),
    ],
)
def test_validate_checks_reminders(cfg, reminder, fragment):
    with pytest.raises(ConfigError) as raised:
        cfg(f"reminders:\n  - {reminder}, actions: [{{type: tag.add, tag: x}}]}}\n")
    assert any(fragment in issue.message for issue in raised.value.issues), raised.value.issues


def test_the_next_due_time_an_event_leaves_on_its_state_is_the_one_worked_out_afresh():
    # `process` works out the state's next due time at the end of an event (the
    # look that tells whether a reminder fires at once) and leaves it on the
    # state for the transport's `next_due`. Over the bundled story (rewards,
    # benefits, statuses, tiers, birthdays, redemptions, a deletion), each one
    # left must be what the same state, read back from its stored form without
    # any memo, works out.
    from reactor.due import next_due_at
    from reactor.engine import process
    from reactor.events import decode_event

    root = Path(__file__).resolve().parents[2]
    config = load_config(root)
    states: dict[str, ProfileState | None] = {}
    left = timed = 0
    for line in (root / "examples" / "events.jsonl").read_bytes().splitlines():
        if not line.strip():
            continue
        event = decode_event(line)
        outcome = process(event, states.get(event.profile_id), config)
        state = outcome.state
        states[event.profile_id] = state
        if state is None or state.next_due_memo is None:
            continue
        left += 1
        fresh = ProfileState.from_json(state.to_json())
        assert fresh.next_due_memo is None and fresh.due_memo is None
        assert state.next_due_memo == (config.version, next_due_at(fresh, config)), event.id
        timed += state.next_due_memo[1] is not None
    assert left > 200 and timed > 100, (left, timed)
