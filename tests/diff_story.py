"""The change the `reactor diff` tests review: a copy of the bundled
configuration (reactions/ and targets/ at the repository root) with

- one reaction's threshold changed: `spend-reward-12m` rewards $20 at $800 of
  12-month spend instead of $1,000 (and says so in its name);
- one reaction added: `big-basket-bonus`, 500 reward points on every
  transaction of $300 or more;
- one reaction removed: `black-friday-shopper`.

The expected figures are worked out by hand from examples/events.jsonl in
tests/core/test_diff.py.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from support import REPO

REMOVED = """\
  - id: black-friday-shopper
    name: Tag Black Friday shoppers
    on: [transaction.created]
    priority: 60
    when: {"in": ["black-friday", {"var": "transaction.tags"}]}
    actions:
      - {type: tag.add, tag: black-friday-2026}
"""

ADDED = """\
  - id: big-basket-bonus
    name: 500 bonus points on a basket of $300 or more
    on: [transaction.created]
    priority: 55
    when: {">=": [{"var": "transaction.total"}, 300]}
    actions:
      - {type: points.award, kind: reward, points: 500}
"""

THRESHOLD_BEFORE = """\
    name: $20 reward when 12-month spend reaches $1,000
    on: [transaction.created]
    priority: 70
    when: {">=": [{"var": "aggregations.spend_12m"}, 1000]}
"""

THRESHOLD_AFTER = """\
    name: $20 reward when 12-month spend reaches $800
    on: [transaction.created]
    priority: 70
    when: {">=": [{"var": "aggregations.spend_12m"}, 800]}
"""


def changed_copy(dest: Path) -> Path:
    """Write the changed copy of the bundled configuration under `dest`."""
    for part in ("reactions", "targets"):
        shutil.copytree(REPO / part, dest / part)
    loyalty = dest / "reactions" / "loyalty.yaml"
    text = loyalty.read_text()
    assert REMOVED in text and THRESHOLD_BEFORE in text, "the bundled loyalty.yaml changed: update this story"
    loyalty.write_text(text.replace(REMOVED, ADDED).replace(THRESHOLD_BEFORE, THRESHOLD_AFTER))
    return dest
