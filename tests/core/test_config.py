"""Loading configuration: every problem reported as path:line:col: message.

Line and column numbers are counted by hand in the YAML written here (1-based;
the column is where the key or value starts).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from reactor.config import load_config
from reactor.errors import ConfigError
from support import REPO, write_config

CATALOG = """
statuses:
  - {handle: vip, name: VIP, rank: 2}
benefits:
  - {handle: gift, name: Gift, kind: free_product, valid_for: 30d}
targets:
  - {id: hook, url: "http://127.0.0.1:9/", body: '{}'}
"""


def issues(tmp_path: Path, files: dict[str, str]) -> list[str]:
    root = write_config(tmp_path / "cfg", {"reactions/catalog.yaml": CATALOG, **files})
    with pytest.raises(ConfigError) as caught:
        load_config(root)
    return [str(i) for i in caught.value.issues]


def test_the_bundled_sample_configuration_loads():
    config = load_config(REPO)
    assert {
        "influencer-upgrade",
        "points-on-transaction",
        "spend-reward-12m",
        "vip-by-spend",
        "staff-onboard",
        "staff-offboard",
        "media-status",
    } <= set(config.reactions)
    assert set(config.automations) == {"win-back"}
    assert set(config.statuses) == {"influencer", "vip", "staff", "ex-staff", "media"}
    assert config.exclusive_groups == {"employment"}


def test_reactions_are_indexed_by_event_type_in_priority_order(tmp_path):
    root = write_config(
        tmp_path / "cfg",
        {
            "reactions/catalog.yaml": CATALOG,
            "reactions/r.yaml": """
        reactions:
          - {id: b, on: [profile.updated], priority: 5, actions: [{type: tag.add, tag: x}]}
          - {id: a, on: [profile.updated, transaction.created], priority: 5, actions: [{type: tag.add, tag: x}]}
          - {id: c, on: [profile.updated], priority: 1, actions: [{type: tag.add, tag: x}]}
          - {id: off, on: [profile.updated], enabled: false, actions: [{type: tag.add, tag: x}]}
    """,
        },
    )
    config = load_config(root)
    assert [r.id for r in config.reactions_for("profile.updated")] == ["c", "a", "b"]
    assert [r.id for r in config.reactions_for("transaction.created")] == ["a"]


def test_unknown_keys_with_a_suggestion(tmp_path):
    found = issues(
        tmp_path,
        {
            "reactions/r.yaml": """
        reactions:
          - id: r1
            on: [profile.updated]
            priorty: 3
            actions:
              - {type: tag.add, tag: x, colour: red}
    """
        },
    )
    assert found == [
        "reactions/r.yaml:4:5: reaction: unknown key `priorty` (did you mean `priority`?)",
        "reactions/r.yaml:6:33: reaction: unknown key `colour`",
    ]


def test_unknown_top_level_key_and_wrong_shapes(tmp_path):
    found = issues(
        tmp_path,
        {
            "reactions/r.yaml": """
        reaction:
          - {id: r1}
        statuses: {handle: x}
    """
        },
    )
    assert found == [
        "reactions/r.yaml:1:1: unknown top-level key `reaction` (did you mean `reactions`?)",
        "reactions/r.yaml:3:11: `statuses` must be a list",
    ]


def test_missing_keys_wrong_types_and_bad_durations(tmp_path):
    found = issues(
        tmp_path,
        {
            "reactions/r.yaml": """
        reactions:
          - id: r1
            on: [profile.updated]
            limit: {per_profile: 0, window: 3 weeks}
            actions: [{type: reward.create, amount: 5, currency: AUD}]
          - id: r2
            on: [order.created]
            actions: [{type: status.aply, status: vip}]
    """
        },
    )
    assert found == [
        "reactions/r.yaml:4:26: reaction: `per_profile`: Input should be greater than or equal to 1",
        "reactions/r.yaml:4:37: reaction: `window`: '3 weeks' is not a duration: write a whole number and d, h or m (30d, 12h, 15m)",
        "reactions/r.yaml:5:15: reaction: missing required key `valid_for`",
        "reactions/r.yaml:7:10: reaction: `on`: 'order.created' is not one of profile.updated, transaction.created, "
        "tier.changed, status.applied, status.removed, achievement.level, reward.expired, reward.redeemed, "
        "points.redeemed, benefit.claimed",
        "reactions/r.yaml:8:22: reaction: unknown step type 'status.aply' (did you mean `status.apply`?): expected one of "
        "filter, status.apply, status.remove, tag.add, tag.remove, benefit.create, reward.create, points.award, "
        "points.reverse, achievement.progress, target.send",
    ]


def test_unknown_references_name_the_closest_match(tmp_path):
    found = issues(
        tmp_path,
        {
            "reactions/r.yaml": """
        statuses:
          - {handle: staff, name: Staff, rank: 1, grants: [staff-discont]}
        reactions:
          - id: r1
            on: [transaction.created]
            actions:
              - {type: status.apply, status: vipp}
              - {type: benefit.create, benefit: gfit}
              - {type: target.send, target: nowhere}
    """
        },
    )
    assert found == [
        "reactions/r.yaml:2:52: unknown benefit 'staff-discont'",
        "reactions/r.yaml:7:38: unknown status 'vipp' (did you mean 'vip'?)",
        "reactions/r.yaml:8:41: unknown benefit 'gfit' (did you mean 'gift'?)",
        "reactions/r.yaml:9:37: unknown target 'nowhere'",
    ]


def test_ids_are_unique_across_the_root(tmp_path):
    found = issues(
        tmp_path,
        {
            "reactions/a.yaml": """
            reactions:
              - {id: welcome, on: [profile.updated], actions: [{type: tag.add, tag: x}]}
        """,
            "targets/b.yaml": """
            targets:
              - {id: welcome, url: "http://x/", body: '{}'}
        """,
        },
    )
    assert found == ["targets/b.yaml:2:10: duplicate id 'welcome': already used in reactions/a.yaml:2"]


def test_a_rule_that_does_not_compile_points_at_the_bad_operator(tmp_path):
    found = issues(
        tmp_path,
        {
            "reactions/r.yaml": """
        reactions:
          - id: r1
            on: [profile.updated]
            when:
              and:
                - {">=": [{"var": "a"}, 1]}
                - {"contains": ["x", {"var": "b"}]}
            actions:
              - {type: points.award, kind: tier, points: {"now": []}}
    """
        },
    )
    assert found == [
        "reactions/r.yaml:7:11: rule: unknown operator `contains`",
        'reactions/r.yaml:9:50: rule: `now` reads the wall clock; use {"var": "now"}, the event time, so replay and live agree',
    ]


def test_schedules_cron_time_zones_and_exactly_one_kind(tmp_path):
    found = issues(
        tmp_path,
        {
            "reactions/a.yaml": """
        automations:
          - {id: a1, schedule: "0 9 * * MUN", actions: [{type: tag.add, tag: x}]}
          - {id: a2, schedule: "0 9 * * MON", timezone: Mars/Olympus, actions: [{type: tag.add, tag: x}]}
          - {id: a3, every: 6h, at: "2026-12-01T00:00:00Z", actions: [{type: tag.add, tag: x}]}
          - {id: a4, actions: [{type: tag.add, tag: x}]}
          - {id: a5, every: 6h, actions: [{type: reward.create, amount: 5, valid_for: 30d}]}
    """
        },
    )
    assert found == [
        "reactions/a.yaml:2:24: invalid cron expression '0 9 * * MUN'",
        "reactions/a.yaml:3:49: unknown time zone 'Mars/Olympus' (e.g. Australia/Sydney)",
        "reactions/a.yaml:4:25: an automation needs exactly one of `schedule` (cron), `every` or `at`",
        "reactions/a.yaml:5:5: an automation needs exactly one of `schedule` (cron), `every` or `at`",
        "reactions/a.yaml:6:35: reward.create needs `currency:` here: only a reaction on transaction.created "
        "alone can take the transaction's currency",
    ]


def test_template_problems_name_the_template_file_and_line(tmp_path):
    found = issues(
        tmp_path,
        {
            "targets/t.yaml": """
            targets:
              - {id: t1, url: "http://x/", template: templates/broken.json.j2}
              - {id: t2, url: "http://x/", template: templates/missing.json.j2}
              - {id: t3, url: "http://x/"}
              - id: t4
                url: "http://x/"
                body: |
                  {
                    "a": {{ first_name | nosuchfilter }}
                  }
        """,
            "targets/templates/broken.json.j2": '{\n  "a": {{ first_name }},\n  "b": {% if %}\n}\n',
        },
    )
    assert found == [
        "targets/t.yaml:3:42: template file not found: targets/templates/missing.json.j2",
        "targets/t.yaml:4:5: a target needs exactly one of `template` (a file) or `body`",
        "targets/t.yaml:9:1: template: No filter named 'nosuchfilter'.",
        "targets/templates/broken.json.j2:3:1: template: Expected an expression, got 'end of statement block'",
    ]


def test_statuses_of_a_group_must_agree_on_exclusive(tmp_path):
    found = issues(
        tmp_path,
        {
            "reactions/s.yaml": """
        statuses:
          - {handle: a, name: A, rank: 3, group: g, exclusive: true}
          - {handle: b, name: B, rank: 4, group: g}
    """
        },
    )
    assert found == [
        "reactions/s.yaml:3:5: group 'g' is exclusive for status 'a': every status of a group must agree"
    ]


def test_yaml_syntax_errors_and_duplicate_keys(tmp_path):
    found = issues(
        tmp_path,
        {
            "reactions/a.yaml": "reactions:\n  - {id: r1, on: [profile.updated\n",
            "reactions/b.yaml": "reactions: []\nreactions: []\n",
        },
    )
    assert len(found) == 2
    # the error points at the `[` that was never closed, not at the end of the file
    assert found[0] == "reactions/a.yaml:2:18: YAML: a `[` list that is never closed with `]`"
    assert found[1] == "reactions/b.yaml:2:1: YAML: `reactions` is set twice in this mapping"


def test_no_config_folders(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path)
    assert str(caught.value).endswith("no reactions/ or targets/ folder in this configuration root")


def test_version_hashes_every_file_and_template(tmp_path):
    files = {
        "reactions/catalog.yaml": CATALOG,
        "targets/t.yaml": "targets:\n  - {id: t, url: 'http://x/', template: templates/a.j2}\n",
        "targets/templates/a.j2": "{}",
    }
    first = load_config(write_config(tmp_path / "one", files)).version
    same = load_config(write_config(tmp_path / "two", files)).version
    changed = load_config(write_config(tmp_path / "three", {**files, "targets/templates/a.j2": "[]"})).version
    assert first == same != changed
