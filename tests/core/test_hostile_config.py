"""Configuration limits: one test per bound, each with its exact message.

Every position is counted by hand in the YAML written here (1-based; lines are
the list positions in `lines(...)`; the column is where the value starts, as
`reactor validate` reports it). See `reactor.limits` and the README's "Limits".
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from reactor import config_files
from reactor.config import load_config
from reactor.errors import ConfigError
from support import write_config

CATALOG = """
statuses:
  - {handle: vip, name: VIP, rank: 2}
benefits:
  - {handle: gift, name: Gift, kind: free_product, valid_for: 30d}
targets:
  - {id: hook, url: "http://127.0.0.1:9/", body: '{}'}
"""


def lines(*rows: str) -> str:
    """YAML written one row per line: line N is rows[N - 1]."""
    return "\n".join(rows) + "\n"


def root(tmp_path: Path, files: dict[str, str]) -> Path:
    folder = tmp_path / "cfg"
    write_config(folder, {"reactions/catalog.yaml": CATALOG})
    for rel, text in files.items():  # as written: no dedent, so columns are what they look like
        path = folder / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return folder


def issues(tmp_path: Path, files: dict[str, str]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(root(tmp_path, files))
    return [str(i) for i in caught.value.issues]


def loads(tmp_path: Path, files: dict[str, str]) -> None:
    load_config(root(tmp_path, files))


# --- durations: at most 100 years (36,525 days) -----------------------------------


REACTION_DURATIONS = lines(
    "reactions:",
    "  - id: r",
    "    on: [profile.updated]",
    "    limit:",
    "      per_profile: 1",
    "      window: {window}",  # value at column 15
    "    actions:",
    "      - type: status.apply",
    "        status: vip",
    "        duration: {duration}",  # column 19
    "      - type: reward.create",
    "        amount: 5",
    "        currency: AUD",
    "        valid_for: {valid_for}",  # column 20
)
CATALOG_DURATIONS = lines(
    "statuses:",
    "  - handle: long",
    "    name: Long",
    "    rank: 5",
    "    default_duration: {default}",  # column 23
    "benefits:",
    "  - handle: forever",
    "    name: Forever",
    "    kind: free_product",
    "    valid_for: {valid}",  # column 16
    "automations:",
    "  - id: a",
    "    every: {every}",  # column 12
    "    actions: [{{type: tag.add, tag: x}}]",
)


def test_durations_of_exactly_100_years_load(tmp_path):
    loads(
        tmp_path,
        {
            "reactions/r.yaml": REACTION_DURATIONS.format(
                window="36525d", duration="876600h", valid_for="52596000m"
            ),
            "reactions/s.yaml": CATALOG_DURATIONS.format(
                default="36525d", valid="876600h", every="52596000m"
            ),
        },
    )


def test_every_duration_past_100_years_is_refused_where_it_is_written(tmp_path):
    found = issues(
        tmp_path,
        {
            "reactions/r.yaml": REACTION_DURATIONS.format(
                window="36526d", duration="876601h", valid_for="52596001m"
            ),
            "reactions/s.yaml": CATALOG_DURATIONS.format(
                default="9999999999d", valid="99999999999999999999999999d", every="36526d"
            ),
        },
    )
    assert found == [
        "reactions/r.yaml:6:15: reaction: `window`: '36526d' is longer than 100 years (36525d)",
        "reactions/r.yaml:10:19: reaction: `duration`: '876601h' is longer than 100 years (36525d)",
        "reactions/r.yaml:14:20: reaction: `valid_for`: '52596001m' is longer than 100 years (36525d)",
        "reactions/s.yaml:5:23: status: `default_duration`: '9999999999d' is longer than 100 years (36525d)",
        "reactions/s.yaml:10:16: benefit: `valid_for`: '99999999999999999999999999d' is longer than 100 years "
        "(36525d)",
        "reactions/s.yaml:13:12: automation: `every`: '36526d' is longer than 100 years (36525d)",
    ]


# --- numbers: integers within ±2^53, floats finite, multipliers and extra days bounded --


def test_modifiers_ranks_and_meta_numbers_have_bounds(tmp_path):
    found = issues(
        tmp_path,
        {
            "reactions/s.yaml": lines(
                "statuses:",
                "  - handle: big",
                "    name: Big",
                "    rank: 9007199254740993",  # column 11
                "    modifiers:",
                "      tier_points_multiplier: 1000.5",  # column 31
                "      reward_points_multiplier: .inf",  # column 33
                "      reward_extra_days: 36526",  # column 26
                "      benefit_extra_days: -1",  # column 27
                "    meta:",
                "      badge: .nan",  # the meta mapping starts at line 11, column 7
                "benefits:",
                "  - {handle: b, name: B, kind: k, value: .nan}",  # value at column 42
            )
        },
    )
    assert found == [
        "reactions/s.yaml:4:11: status: `rank`: Input should be less than or equal to 9007199254740992",
        "reactions/s.yaml:6:31: status: `tier_points_multiplier`: Input should be less than or equal to 1000",
        "reactions/s.yaml:7:33: status: `reward_points_multiplier`: Input should be a finite number",
        "reactions/s.yaml:8:26: status: `reward_extra_days`: Input should be less than or equal to 36525",
        "reactions/s.yaml:9:27: status: `benefit_extra_days`: Input should be greater than or equal to 0",
        "reactions/s.yaml:11:7: status: `meta`: at /badge: .nan is not a finite number",
        "reactions/s.yaml:13:42: benefit: `value`: Input should be a finite number",
    ]


def test_the_largest_modifiers_load(tmp_path):
    loads(
        tmp_path,
        {
            "reactions/s.yaml": lines(
                "statuses:",
                "  - handle: big",
                "    name: Big",
                "    rank: 9007199254740992",
                "    modifiers: {tier_points_multiplier: 1000, reward_extra_days: 36525, benefit_extra_days: 36525}",
            )
        },
    )


def test_points_and_amounts_written_as_numbers_have_bounds(tmp_path):
    found = issues(
        tmp_path,
        {
            "reactions/r.yaml": lines(
                "reactions:",
                "  - id: r",
                "    on: [transaction.created]",
                "    priority: 9007199254740993",  # column 15
                "    actions:",
                "      - type: points.award",
                "        kind: tier",
                "        points: .nan",  # line 8, column 17
                "      - type: points.award",
                "        kind: reward",
                "        points: 9007199254740993",  # line 11
                "      - type: reward.create",
                "        amount: .inf",  # line 13, column 17
                "        valid_for: 30d",
                "      - type: reward.create",
                "        amount: 1000000000000.01",  # line 16
                "        valid_for: 30d",
                "      - type: reward.create",
                "        amount: -.inf",  # line 19
                "        valid_for: 30d",
            )
        },
    )
    assert found == [
        "reactions/r.yaml:4:15: reaction: `priority`: Input should be less than or equal to 9007199254740992",
    ]
    found = issues(
        tmp_path / "again",
        {
            "reactions/r.yaml": lines(
                "reactions:",
                "  - id: r",
                "    on: [transaction.created]",
                "    priority: -9007199254740992",
                "    actions:",
                "      - type: points.award",
                "        kind: tier",
                "        points: .nan",
                "      - type: points.award",
                "        kind: reward",
                "        points: 9007199254740993",
                "      - type: reward.create",
                "        amount: .inf",
                "        valid_for: 30d",
                "      - type: reward.create",
                "        amount: 1000000000000.01",
                "        valid_for: 30d",
                "      - type: reward.create",
                "        amount: -.inf",
                "        valid_for: 30d",
            )
        },
    )
    assert found == [
        "reactions/r.yaml:8:17: `points` must be a finite number within ±2^53, not .nan",
        "reactions/r.yaml:11:17: `points` must be a finite number within ±2^53, not 9007199254740993",
        "reactions/r.yaml:13:17: `amount` must be a finite number within ±10^12, not .inf",
        "reactions/r.yaml:16:17: `amount` must be a finite number within ±10^12, not 1000000000000.01",
        "reactions/r.yaml:19:17: `amount` must be a finite number within ±10^12, not -.inf",
    ]


def test_the_largest_points_and_amounts_load(tmp_path):
    loads(
        tmp_path,
        {
            "reactions/r.yaml": lines(
                "reactions:",
                "  - id: r",
                "    on: [transaction.created]",
                "    actions:",
                "      - {type: points.award, kind: tier, points: 9007199254740992}",
                "      - {type: points.award, kind: tier, points: -9007199254740992}",
                "      - {type: reward.create, amount: 1e12, valid_for: 30d}",
                "      - {type: reward.create, amount: -1e12, valid_for: 30d}",
            )
        },
    )


# --- rules: at most 10,000 values, strings of 10,000 characters, numbers as above ----


def test_a_rule_of_10000_values_loads_and_one_more_is_refused(tmp_path):
    # {"in": [{"var": "email"}, [...]]}: the object, its list, the var object, "email",
    # the literal list: 5 values, plus the items.
    when = '    when: {{"in": [{{"var": "email"}}, {items}]}}'
    rule = lines(
        "reactions:",
        "  - id: r",
        "    on: [profile.updated]",
        when,
        "    actions: [{{type: tag.add, tag: x}}]",
    )
    # The 9,995-item list is one line of 99,950 bytes: past the YAML line bound, so
    # the list is written over several lines (a flow list may be).
    items = "[\n" + ",\n".join(['      "a@x.io"'] * 9_995) + "]"
    loads(tmp_path, {"reactions/r.yaml": rule.format(items=items)})
    items = "[\n" + ",\n".join(['      "a@x.io"'] * 9_996) + "]"
    found = issues(tmp_path / "over", {"reactions/r.yaml": rule.format(items=items)})
    assert found == ["reactions/r.yaml:4:11: rule: the rule has more than 10,000 values; at most 10,000"]


def test_a_string_in_a_rule_is_at_most_10000_characters(tmp_path):
    rule = lines(
        "reactions:",
        "  - id: r",
        "    on: [profile.updated]",
        '    when: {{"==": [{{"var": "email"}}, "{text}"]}}',  # the string at column 37
        "    actions: [{{type: tag.add, tag: x}}]",
    )
    loads(tmp_path, {"reactions/r.yaml": rule.format(text="x" * 10_000)})
    found = issues(tmp_path / "over", {"reactions/r.yaml": rule.format(text="x" * 10_001)})
    assert found == ["reactions/r.yaml:4:37: rule: a string of 10,001 characters; at most 10,000 in a rule"]


def test_numbers_in_a_rule_are_finite_and_integers_within_2_53(tmp_path):
    found = issues(
        tmp_path,
        {
            "reactions/r.yaml": lines(
                "reactions:",
                "  - id: r",
                "    on: [transaction.created]",
                '    when: {">": [{"var": "x"}, .inf]}',  # .inf at column 32
                "    actions:",
                '      - {type: filter, when: {"==": [{"var": "x"}, 9007199254740993]}}',  # column 52
                '      - {type: points.award, kind: tier, points: {"*": [{"var": "x"}, .nan]}}',  # column 71
            )
        },
    )
    assert found == [
        "reactions/r.yaml:4:32: rule: .inf is not a finite number",
        "reactions/r.yaml:6:52: rule: the integer 9007199254740993 is outside ±2^53 (9007199254740992)",
        "reactions/r.yaml:7:71: rule: .nan is not a finite number",
    ]


# --- YAML: aliases expanded, nesting, recursion, line length, merge keys ---------------


LAUGHS = lines(
    "a: &a [x, x, x, x, x, x, x, x, x, x]",
    "b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]",
    "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]",
    "d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]",
    "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]",
    "f: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e, *e]",
    "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f, *f]",
    "h: &h [*g, *g, *g, *g, *g, *g, *g, *g, *g, *g]",
    "i: &i [*h, *h, *h, *h, *h, *h, *h, *h, *h, *h]",
)


def test_a_billion_laughs_is_measured_without_being_expanded_and_refused(tmp_path):
    # The list of level k (a = 1) holds 10 of level k-1: (10^(k+1) - 1) / 9 nodes,
    # 11 for a up to 1,111,111,111 for i. With the 9 keys and the mapping: 1,234,567,909.
    # The innermost list that alone is over 500,000 is f (1,111,111): line 6, column 4.
    found = issues(tmp_path, {"reactions/laughs.yaml": LAUGHS})
    assert found == [
        "reactions/laughs.yaml:6:4: YAML: this document comes to 1,234,567,909 nodes with its aliases "
        "expanded; a configuration root holds at most 500,000"
    ]


def test_aliases_that_expand_within_the_bound_load(tmp_path):
    loads(
        tmp_path,
        {
            "reactions/r.yaml": lines(
                "reactions:",
                "  - id: r1",
                "    on: [profile.updated]",
                '    when: &rule {"in": ["vip", {"var": "flattened_statuses"}]}',
                "    actions: &steps [{type: tag.add, tag: x}]",
                "  - {id: r2, on: [transaction.created], when: *rule, actions: *steps}",
            )
        },
    )


def test_a_root_past_500000_nodes_without_aliases_is_refused(tmp_path, monkeypatch):
    # The same count as above, with a bound small enough to reach in a test. The
    # catalogue (read first) is 30 nodes: its mapping, and per key 1 + the list
    # (1 + an entry of 1 + 2 per key): 1 + (1 + 8) + (1 + 10) + (1 + 8). That leaves
    # 10 for r.yaml: the mapping, its key and a list of 10 (11 nodes): the list is over.
    monkeypatch.setattr(config_files, "CONFIG_NODES_MAX", 40)
    found = issues(tmp_path, {"reactions/r.yaml": "x: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\n"})
    assert found == [
        "reactions/r.yaml:1:4: YAML: this document comes to 13 nodes; a configuration root holds at most 40"
    ]


def test_an_alias_inside_its_own_anchor_is_refused(tmp_path):
    found = issues(
        tmp_path,
        {
            "reactions/r.yaml": lines(
                "reactions:",
                "  - id: r",
                "    on: [profile.updated]",
                '    when: &w {"!": [*w]}',  # the alias at column 21
                "    actions: [{type: tag.add, tag: x}]",
            )
        },
    )
    assert found == ["reactions/r.yaml:4:21: YAML: the alias *w is inside its own anchor"]


def test_yaml_nests_at_most_64_levels(tmp_path):
    # Levels: the document 1, `statuses` 2, the entry 3, `meta` 4; the k lists under
    # `x` are levels 5 to 4 + k and the scalar 1 in the innermost is 5 + k.
    row = "    meta: {{x: {open}1{close}}}"
    status = lines("statuses:", "  - handle: deep", "    name: Deep", "    rank: 9", row)
    loads(tmp_path, {"reactions/s.yaml": status.format(open="[" * 60, close="]" * 60)})
    found = issues(tmp_path / "over", {"reactions/s.yaml": status.format(open="[" * 61, close="]" * 61)})
    # "    meta: {x: " is 14 characters; 61 brackets fill columns 15 to 75; the 1 is at 76.
    assert found == ["reactions/s.yaml:5:76: YAML: nested deeper than 64 levels"]


def test_a_line_is_at_most_20000_bytes(tmp_path):
    # A comment is enough: ruamel.yaml's comment scanner is quadratic in its length.
    text = lines("reactions: []", "#" + "x" * 19_999, "#" + "x" * 20_000)
    found = issues(tmp_path, {"reactions/r.yaml": text})
    assert found == ["reactions/r.yaml:3:1: a line of 20,001 bytes; at most 20,000 in a YAML file"]


def test_a_file_holds_at_most_100_merge_keys(tmp_path):
    base = lines(
        "reactions:", "  - &defaults {id: r, on: [profile.updated], actions: [{type: tag.add, tag: x}]}"
    )
    entry = "  - {{<<: *defaults, id: r{n}}}"
    loads(tmp_path, {"reactions/r.yaml": base + lines(*(entry.format(n=n) for n in range(100)))})
    found = issues(
        tmp_path / "over", {"reactions/r.yaml": base + lines(*(entry.format(n=n) for n in range(101)))}
    )
    assert found == ["reactions/r.yaml:1:1: 101 merge keys (<<); at most 100 in a YAML file"]


# --- files: sizes, count, entries, symbolic links, kinds of files -----------------------


def padded(size: int, handle: str) -> str:
    """A valid file of exactly `size` bytes: a status whose meta holds a block
    of text (quick for ruamel.yaml to read, unlike comments)."""
    head = lines(
        "statuses:", f"  - handle: {handle}", "    name: P", "    rank: 9", "    meta:", "      note: |"
    )
    room = size - len(head)
    rows = []
    while room > 0:
        width = min(10_000, room - 1)  # the row, 8 spaces of indentation included, and its newline
        rows.append("        " + "x" * max(width - 8, 1))
        room -= len(rows[-1]) + 1
    text = head + lines(*rows)
    assert len(text.encode()) == size, (len(text), size)
    return text


def test_a_file_is_at_most_256_kib(tmp_path):
    loads(tmp_path, {"reactions/a.yaml": padded(262_144, "a")})
    found = issues(tmp_path / "over", {"reactions/a.yaml": padded(262_145, "a")})
    assert found == ["reactions/a.yaml:1:1: the file is larger than 262,144 bytes (256 KiB)"]


def test_the_files_of_a_root_come_to_at_most_512_kib(tmp_path):
    # The catalogue is 189 bytes (its six lines: 10 + 38 + 10 + 67 + 9 + 55); b.yaml and
    # c.yaml 250,000 each: 500,189. d.yaml's 24,100 bytes make 524,289: one over.
    found = issues(
        tmp_path,
        {
            "reactions/b.yaml": padded(250_000, "b"),
            "reactions/c.yaml": padded(250_000, "c"),
            "reactions/d.yaml": padded(24_100, "d"),
        },
    )
    assert len((tmp_path / "cfg" / "reactions" / "catalog.yaml").read_bytes()) == 189
    assert found == [
        "reactions/d.yaml:1:1: the configuration files come to more than 524,288 bytes (512 KiB) with this "
        "one; the files after it are not read"
    ]


def test_a_template_file_is_at_most_256_kib(tmp_path):
    found = issues(
        tmp_path,
        {
            "targets/t.yaml": lines("targets:", "  - {id: t, url: 'http://x/', template: big.json.j2}"),
            "targets/big.json.j2": "{}" + " " * 262_143,
        },
    )
    assert found == ["targets/big.json.j2:1:1: the file is larger than 262,144 bytes (256 KiB)"]


def test_a_root_holds_at_most_1000_yaml_files(tmp_path):
    files = {f"reactions/many/{n:04d}.yaml": "" for n in range(999)}  # with the catalogue: 1,000
    loads(tmp_path, files)
    files["reactions/many/9999.yaml"] = ""
    found = issues(tmp_path / "over", files)
    assert found == ["reactions:1:1: more than 1,000 YAML files in the configuration root"]


def test_a_root_holds_at_most_2000_entries(tmp_path):
    # The catalogue holds 3 entries; 1,997 more make 2,000, and one more is refused at its place.
    entries = ["statuses:"] + [f"  - {{handle: s{n}, name: S, rank: 9}}" for n in range(1_997)]
    loads(tmp_path, {"reactions/s.yaml": lines(*entries)})
    entries.append("  - {handle: last, name: S, rank: 9}")  # line 1,999, column 5
    found = issues(tmp_path / "over", {"reactions/s.yaml": lines(*entries)})
    assert found == [
        "reactions/s.yaml:1999:5: more than 2,000 entries (statuses, benefits, reactions, automations and "
        "targets together) in the configuration root; the entries and files after this one are not read"
    ]


REACTION = lines("reactions:", "  - {id: linked, on: [profile.updated], actions: [{type: tag.add, tag: x}]}")


def test_a_symbolic_link_out_of_the_root_is_refused_by_name(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.yaml").write_text(REACTION)
    (outside / "more").mkdir()
    folder = root(tmp_path, {})
    (folder / "reactions" / "secret.yaml").symlink_to(outside / "secret.yaml")
    (folder / "reactions" / "more").symlink_to(outside / "more", target_is_directory=True)
    with pytest.raises(ConfigError) as caught:
        load_config(folder)
    assert [str(i) for i in caught.value.issues] == [
        "reactions/more:1:1: a symbolic link to a folder outside the configuration root: not followed",
        "reactions/secret.yaml:1:1: a symbolic link to a file outside the configuration root: refused",
    ]


def test_a_config_folder_that_links_out_of_the_root_is_refused(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "r.yaml").write_text(REACTION)
    folder = tmp_path / "cfg"
    folder.mkdir()
    (folder / "targets").mkdir()
    (folder / "reactions").symlink_to(outside, target_is_directory=True)
    with pytest.raises(ConfigError) as caught:
        load_config(folder)
    assert [str(i) for i in caught.value.issues] == [
        "reactions:1:1: reactions/ is a symbolic link to a folder outside the configuration root"
    ]


def test_a_symbolic_link_to_a_file_inside_the_root_is_followed(tmp_path):
    folder = root(tmp_path, {"shared/linked.yaml": REACTION})
    (folder / "reactions" / "linked.yaml").symlink_to(Path("..") / "shared" / "linked.yaml")
    assert "linked" in load_config(folder).reactions


def test_a_symbolic_link_to_a_folder_is_named_and_not_followed(tmp_path):
    # Following one could read a file twice, or walk the root from inside itself.
    folder = root(tmp_path, {"shared/linked.yaml": REACTION})
    (folder / "reactions" / "loop").symlink_to(Path(".."), target_is_directory=True)
    with pytest.raises(ConfigError) as caught:
        load_config(folder)
    assert [str(i) for i in caught.value.issues] == [
        "reactions/loop:1:1: a symbolic link to a folder inside the configuration root: not followed"
    ]


def test_files_that_cannot_be_read_as_yaml_are_named(tmp_path):
    folder = root(tmp_path, {})
    os.mkfifo(folder / "reactions" / "pipe.yaml")  # reading it would block forever
    (folder / "reactions" / "gone.yaml").symlink_to(folder / "nowhere.yaml")
    (folder / "reactions" / "loop.yaml").symlink_to(folder / "reactions" / "loop.yaml")
    with pytest.raises(ConfigError) as caught:
        load_config(folder)
    assert [str(i) for i in caught.value.issues] == [
        "reactions/gone.yaml:1:1: cannot read: No such file or directory",
        "reactions/loop.yaml:1:1: cannot read: Too many levels of symbolic links",
        "reactions/pipe.yaml:1:1: not a regular file: refused",
    ]


def test_a_template_is_read_only_from_inside_targets(tmp_path):
    (tmp_path / "secret.j2").write_text("{}")
    folder = root(
        tmp_path,
        {
            "targets/t.yaml": lines(
                "targets:",
                "  - {id: t1, url: 'http://x/', template: evil.json.j2}",  # template at column 42
                "  - {id: t2, url: 'http://x/', template: ../reactions/catalog.yaml}",
                '  - {id: t3, url: "http://x/", template: "a\\0b.j2"}',
                "  - {id: t4, url: 'http://x/', template: " + "a" * 1025 + "}",
            )
        },
    )
    (folder / "targets" / "evil.json.j2").symlink_to(tmp_path / "secret.j2")
    with pytest.raises(ConfigError) as caught:
        load_config(folder)
    assert [str(i) for i in caught.value.issues] == [
        "targets/t.yaml:2:42: template targets/evil.json.j2 is a symbolic link to a file outside targets/: refused",
        "targets/t.yaml:3:42: template targets/../reactions/catalog.yaml is outside targets/: refused",
        "targets/t.yaml:4:42: target: `template`: holds a control character (U+0000)",
        "targets/t.yaml:5:42: target: `template`: is longer than 1,024 characters",
    ]


# --- target URLs: http or https, a host, a port from 1 to 65535 ------------------------


def _target(url: str) -> dict[str, str]:
    return {"targets/t.yaml": lines("targets:", "  - id: t", f'    url: "{url}"', "    body: '{}'")}


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("file:///etc/passwd", "a target URL must use http or https, not file:"),
        ("gopher://example.com/", "a target URL must use http or https, not gopher:"),
        ("ftp://example.com/x", "a target URL must use http or https, not ftp:"),
        ("javascript:alert(1)", "'javascript:alert(1)' is not an http:// or https:// URL"),
        ("example.com/hooks", "'example.com/hooks' is not an http:// or https:// URL"),
        ("http:///hooks", "'http:///hooks' has no host"),
        ("https://:8080/hooks", "'https://:8080/hooks' has no host"),
        ("https://user:pw@/hooks", "'https://user:pw@/hooks' has no host"),
        ("http://example.com:0/", "port '0' of 'http://example.com:0/' is not a number from 1 to 65535"),
        (
            "http://example.com:65536/",
            "port '65536' of 'http://example.com:65536/' is not a number from 1 to 65535",
        ),
        (
            "http://example.com:70000/",
            "port '70000' of 'http://example.com:70000/' is not a number from 1 to 65535",
        ),
        (
            "http://example.com:http/",
            "port 'http' of 'http://example.com:http/' is not a number from 1 to 65535",
        ),
        ("http://[::1]:99999/", "port '99999' of 'http://[::1]:99999/' is not a number from 1 to 65535"),
        ("http://exa\\0mple.com/", "holds a control character (U+0000)"),
        ("http://example.com/\\x7f", "holds a control character (U+007F)"),
        ("http://example.com/a b", "'http://example.com/a b' holds a space: write it as %20"),
    ],
)
def test_a_target_url_that_cannot_be_sent_to_is_refused(tmp_path, url: str, message: str):
    # `    url: "` is 9 characters: the value starts at column 10 of line 3.
    assert issues(tmp_path, _target(url)) == [f"targets/t.yaml:3:10: target: `url`: {message}"]


@pytest.mark.parametrize(
    "url",
    [
        "https://comms.example.com/hooks/welcome",
        "HTTP://EXAMPLE.COM/",
        "http://127.0.0.1:8080/x?a=1#f",
        "http://[::1]:65535/",
        "https://user:pw@example.com/",
        "http://example.com:/",  # an empty port is the default one
        "${COMMS_BASE_URL}/hooks/win-back",  # the environment gives the rest, checked when sent
        "https://${COMMS_HOST}:${COMMS_PORT}/hooks",
        "${COMMS_SCHEME}://example.com/",
    ],
)
def test_urls_that_can_be_sent_to_load(tmp_path, url: str):
    loads(tmp_path, _target(url))


# --- cron: five fields (or a macro) that match some date -----------------------------


@pytest.mark.parametrize(
    ("cron", "message"),
    [
        ("0 0 30 2 *", "cron '0 0 30 2 *' never fires: no date matches it (such as 30 February)"),
        ("0 0 31 4 *", "cron '0 0 31 4 *' never fires: no date matches it (such as 30 February)"),
        (
            "* * * * * *",
            "cron '* * * * * *' needs 5 fields (minute hour day month weekday), not 6; "
            "seconds and years are not supported",
        ),
        (
            "0 0 1 1 * 0 2020",
            "cron '0 0 1 1 * 0 2020' needs 5 fields (minute hour day month weekday), not 7; "
            "seconds and years are not supported",
        ),
        (
            "@reboot",
            "unknown cron macro '@reboot': use one of @yearly, @annually, @monthly, @weekly, @daily, "
            "@midnight, @hourly or 5 fields",
        ),
        ("61 * * * *", "invalid cron expression '61 * * * *'"),
    ],
)
def test_a_cron_that_cannot_fire_is_refused(tmp_path, cron: str, message: str):
    text = lines(
        "automations:", "  - id: a", f'    schedule: "{cron}"', "    actions: [{type: tag.add, tag: x}]"
    )
    # `    schedule: "` is 14 characters: the value starts at column 15 of line 3.
    assert issues(tmp_path, {"reactions/a.yaml": text}) == [f"reactions/a.yaml:3:15: {message}"]


@pytest.mark.parametrize("cron", ["0 0 29 2 *", "@daily", "0 9 * * MON", "*/15 * * * *", "0 0 L 2 *"])
def test_crons_that_fire_load(tmp_path, cron: str):
    text = lines(
        "automations:", "  - id: a", f'    schedule: "{cron}"', "    actions: [{type: tag.add, tag: x}]"
    )
    loads(tmp_path, {"reactions/a.yaml": text})


# --- control characters in ids, handles, names, paths and headers; times and zones ---


def test_control_characters_are_refused_in_names_ids_handles_and_headers(tmp_path):
    found = issues(
        tmp_path,
        {
            "reactions/r.yaml": lines(
                "statuses:",
                '  - {handle: "st\\x7f", name: "Esc\\e", rank: 9, group: "g\\x01"}',  # columns 14, 30, 55
                "reactions:",
                '  - id: "r\\0"',  # column 9
                '    name: "bell\\a"',  # column 11
                '    description: "tabs\\tand\\nlines are fine, not \\x1b"',  # column 18
                "    on: [profile.updated]",
                '    actions: [{type: tag.add, tag: "x\\u2028y"}]',  # the tag at column 36
                "automations:",
                '  - {id: a, every: 1d, timezone: "UTC\\0", actions: [{type: tag.add, tag: x}]}',  # column 34
            ),
            "targets/t.yaml": lines(
                "targets:",
                "  - id: t",
                "    url: http://x/",
                "    body: '{}'",
                "    headers:",
                '      "X Bad": "1"',  # a bad key: named at the key, column 7
                '      X-Good: "a\\r\\nInjected: 1"',  # column 15
            ),
        },
    )
    assert found == [
        "reactions/r.yaml:2:14: status: `handle`: holds a control character (U+007F)",
        "reactions/r.yaml:2:30: status: `name`: holds a control character (U+001B)",
        "reactions/r.yaml:2:55: status: `group`: holds a control character (U+0001)",
        "reactions/r.yaml:4:9: reaction: `id`: holds a control character (U+0000)",
        "reactions/r.yaml:5:11: reaction: `name`: holds a control character (U+0007)",
        "reactions/r.yaml:6:18: reaction: `description`: holds a control character (U+001B)",
        "reactions/r.yaml:8:36: reaction: `tag`: holds a control character (U+2028)",
        "reactions/r.yaml:10:34: automation: `timezone`: holds a control character (U+0000)",
        "targets/t.yaml:6:7: target: `headers`: 'X Bad' is not an HTTP header name (letters, digits and "
        "!#$%&'*+-.^_`|~)",
        "targets/t.yaml:7:15: target: `X-Good`: holds a control character (U+000D)",
    ]


def test_ids_and_handles_are_at_most_256_characters(tmp_path):
    text = lines(
        "reactions:", f"  - {{id: {'r' * 257}, on: [profile.updated], actions: [{{type: tag.add, tag: x}}]}}"
    )
    assert issues(tmp_path, {"reactions/r.yaml": text}) == [
        "reactions/r.yaml:2:10: reaction: `id`: is longer than 256 characters"
    ]


def test_an_automation_at_outside_1900_to_2200_and_odd_time_zones_are_refused(tmp_path):
    found = issues(
        tmp_path,
        {
            "reactions/a.yaml": lines(
                "automations:",
                '  - {id: a1, at: "0001-01-01T00:00:00Z", actions: [{type: tag.add, tag: x}]}',  # column 18
                '  - {id: a2, at: "2201-01-01T00:00:00+00:00", actions: [{type: tag.add, tag: x}]}',
                '  - {id: a3, every: 1d, timezone: "../../../etc/passwd", actions: [{type: tag.add, tag: x}]}',
                f"  - {{id: a4, every: 1d, timezone: {'x' * 257}, actions: [{{type: tag.add, tag: x}}]}}",
            )
        },
    )
    assert found == [
        "reactions/a.yaml:2:18: automation: `at`: '0001-01-01T00:00:00Z' is outside the years 1900-2200 (UTC) "
        "that reactor accepts",
        "reactions/a.yaml:3:18: automation: `at`: '2201-01-01T00:00:00+00:00' is outside the years 1900-2200 "
        "(UTC) that reactor accepts",
        "reactions/a.yaml:4:35: unknown time zone '../../../etc/passwd' (e.g. Australia/Sydney)",
        "reactions/a.yaml:5:35: automation: `timezone`: is longer than 256 characters",
    ]


def test_a_birthday_reminder_is_at_most_a_year_before_or_after(tmp_path):
    rows = (
        "reminders:",
        "  - id: early",
        "    of: profile.birthday",
        "    before: {before}",  # `    before: ` is 12 characters: column 13
        "    actions: [{{type: tag.add, tag: x}}]",
    )
    loads(tmp_path, {"reactions/r.yaml": lines(*rows).format(before="365d")})
    found = issues(tmp_path / "over", {"reactions/r.yaml": lines(*rows).format(before="366d")})
    assert found == ["reactions/r.yaml:4:13: a birthday comes every year: `before` must be at most 365d"]
