"""`reactor validate` on a configuration with ten different mistakes at once
(CONTRACT §11): every problem of every file in one run, each with its place and
a "did you mean" where there is one. Positions counted by hand."""

from __future__ import annotations

import subprocess
import sys

from support import REPO, write_config

RULES = """\
statuses:
  - {handle: vip, name: VIP, rank: 2}
reactions:
  - id: welcome
    on: [profile.updated]
    whem: {"==": [{"var": "email"}, "x"]}
    actions: [{type: tag.ad, tag: hi}]
  - id: big
    on: [transaction.created]
    prority: 5
    when: {">=": [{"var": "aggregations.spend12m"}, 100]}
    actions: [{type: status.apply, status: VIP}]
  - id: oops
    on: [transaction.created]
    acitons: [{type: tag.add, tag: x}]
  - id: inner
    on: [transaction.created]
    when: {"some": [{"var": "transaction.items"}, {">": [{"var": "now"}, "2026"]}]}
    actions: [{type: points.award, kind: rewards, points: 1}]
automatons: []
"""
BROKEN = """\
reactions:
  - {id: broken, on: [profile.updated, actions: []}
"""
TARGETS = """\
targets:
  - id: hook
    url: "http://127.0.0.1:9/"
    body: '{"a": {{ transaction.totl | tojson }}}'
"""


def test_ten_mistakes_in_one_run(tmp_path):
    root = write_config(
        tmp_path / "cfg",
        {"reactions/r.yaml": RULES, "reactions/broken.yaml": BROKEN, "targets/t.yaml": TARGETS},
    )
    done = subprocess.run(
        [sys.executable, "-m", "reactor", "validate", "--config", str(root)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        # The `[` that never closes: line 2, column 22 (after "  - {id: broken, on: ").
        "reactions/broken.yaml:2:22: YAML: a `[` list that is never closed with `]`",
        "reactions/r.yaml:6:5: reaction: unknown key `whem` (did you mean `when`?)",
        "reactions/r.yaml:7:22: reaction: unknown step type 'tag.ad' (did you mean `tag.add`?): expected one of "
        "filter, status.apply, status.remove, tag.add, tag.remove, benefit.create, reward.create, points.award, "
        "points.reverse, achievement.progress, target.send",
        "reactions/r.yaml:10:5: reaction: unknown key `prority` (did you mean `priority`?)",
        "reactions/r.yaml:11:27: rule: `aggregations.spend12m` is not in `aggregations` "
        "(did you mean `aggregations.spend_12m`?)",
        "reactions/r.yaml:12:44: unknown status 'VIP' (did you mean 'vip'?)",  # a case slip
        "reactions/r.yaml:15:5: reaction: unknown key `acitons` (did you mean `actions`?)",
        "reactions/r.yaml:18:66: rule: `now` inside an iterator reads the current item, not the context "
        '(JsonLogic); to read the context write {"val":[[1],"now"]}',
        "reactions/r.yaml:19:42: unknown point kind 'rewards' (did you mean 'reward'?)",
        "reactions/r.yaml:20:1: unknown top-level key `automatons` (did you mean `automations`?)",
        "targets/t.yaml:4:11: template: `transaction.totl` is not in `transaction` (did you mean `transaction.total`?)",
        f"reactor: 11 configuration problem(s) in {root}",
    ]
