"""The files of a configuration root, found and read within bounds.

`config.load_config` reads its YAML and templates only through here, so that
no configuration, however large or hostile, can make loading run away:

- files are read only from inside the root: a symbolic link to a file is
  followed only if it stays inside, a link to a folder never (it is named),
  and anything that is not a regular file (a FIFO would block the reader) is
  refused by name;
- a file is at most `CONFIG_FILE_BYTES_MAX` bytes, all of them together at
  most `CONFIG_TOTAL_BYTES_MAX`, and there are at most `CONFIG_FILES_MAX`;
- before ruamel.yaml sees a file, its lines are checked against
  `YAML_LINE_MAX` and its merge keys against `YAML_MERGES_MAX`: past those,
  ruamel's own work grows with the square of the input;
- YAML aliases are allowed (ops share blocks with anchors), but the document
  is measured with every alias expanded, without expanding it: each node's
  expanded size is counted once and reused, so a "billion laughs" file costs
  no more than its own size to refuse. The root holds at most
  `CONFIG_NODES_MAX` expanded nodes, nested at most `YAML_DEPTH_MAX` deep, and
  no alias may contain itself.

Problems are reported through the caller's `issue(file, line, col, message)`.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.composer import Composer, ComposerError, MaxDepthExceededError
from ruamel.yaml.error import MarkedYAMLError
from ruamel.yaml.events import AliasEvent

from reactor.limits import (
    CONFIG_FILE_BYTES_MAX,
    CONFIG_FILES_MAX,
    CONFIG_NODES_MAX,
    CONFIG_TOTAL_BYTES_MAX,
    YAML_DEPTH_MAX,
    YAML_LINE_MAX,
    YAML_MERGES_MAX,
)

__all__ = ["INVALID", "Budget", "Issue", "find_yaml_files", "parse_yaml", "read_bounded", "resolve_inside"]

Issue = Callable[[str, int, int, str], None]
_SUFFIXES = (".yaml", ".yml")
#: What `parse_yaml` returns for a document it reported a problem with.
INVALID: Any = object()


@dataclass
class Budget:
    """What the files read so far used of the root's bounds. Once one of them
    is passed (`spent`), the root cannot load: the files after it are not read."""

    bytes: int = 0
    nodes: int = 0
    spent: bool = False


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def resolve_inside(path: Path, folder: Path) -> Path | str:
    """`path` with every symbolic link resolved, if it stays inside `folder`
    (itself resolved); else why not, as a message."""
    try:
        real = os.path.realpath(path)
        base = os.path.realpath(folder)
    except (OSError, ValueError) as exc:
        return f"cannot be resolved ({exc})"
    if _inside(real, base):
        return Path(real)
    lexical = os.path.normpath(os.path.join(os.path.abspath(folder), os.path.relpath(path, folder)))
    if _inside(lexical, os.path.abspath(folder)):
        return f"is a symbolic link to a file outside {folder.name}/: refused"
    return f"is outside {folder.name}/: refused"


def find_yaml_files(root: Path, folders: tuple[str, ...], issue: Issue) -> Iterator[Path]:
    """Every `*.yaml`/`*.yml` regular file under `root/<folder>` for each folder,
    sorted by path within each folder (so the configuration's version hash
    does not depend on the file system's order). A symbolic link to a file is
    followed only if it stays inside `root`; one to a folder is not followed."""
    base = os.path.realpath(root)
    found = False
    count = 0
    for name in folders:
        folder = root / name
        if not folder.is_dir():
            continue
        found = True
        if not _inside(os.path.realpath(folder), base):
            issue(name, 1, 1, f"{name}/ is a symbolic link to a folder outside the configuration root")
            continue
        paths: list[Path] = []
        _walk(root, folder, base, paths, issue)
        for path in sorted(paths):
            count += 1
            if count > CONFIG_FILES_MAX:
                issue(name, 1, 1, f"more than {CONFIG_FILES_MAX:,} YAML files in the configuration root")
                return
            yield path
    if not found:
        issue(str(root), 1, 1, "no reactions/ or targets/ folder in this configuration root")


def _walk(root: Path, folder: Path, base: str, out: list[Path], issue: Issue) -> None:
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError as exc:
        issue(folder.relative_to(root).as_posix(), 1, 1, f"cannot read this folder: {exc.strerror}")
        return
    for entry in entries:
        path = folder / entry.name
        rel = path.relative_to(root).as_posix()
        is_yaml = entry.name.endswith(_SUFFIXES)
        if entry.is_symlink():
            real = os.path.realpath(path)
            if os.path.isdir(real):
                # Never followed: a link to a folder could read files twice, or
                # walk the root from inside itself.
                where = "inside" if _inside(real, base) else "outside"
                issue(rel, 1, 1, f"a symbolic link to a folder {where} the configuration root: not followed")
                continue
            if not _inside(real, base):
                if is_yaml:
                    issue(rel, 1, 1, "a symbolic link to a file outside the configuration root: refused")
                continue
        try:
            info = os.stat(path)
        except OSError as exc:
            if is_yaml:
                issue(rel, 1, 1, f"cannot read: {exc.strerror}")
            continue
        if stat.S_ISDIR(info.st_mode):
            _walk(root, path, base, out, issue)
        elif is_yaml:
            if stat.S_ISREG(info.st_mode):
                out.append(path)
            else:
                issue(rel, 1, 1, "not a regular file: refused")


def read_bounded(path: Path, rel: str, budget: Budget, issue: Issue) -> bytes | None:
    """The bytes of one configuration file, or None (reported) if it is too large,
    makes the root too large, or cannot be read."""
    try:
        with open(path, "rb") as stream:
            data = stream.read(CONFIG_FILE_BYTES_MAX + 1)
    except OSError as exc:
        issue(rel, 1, 1, f"cannot read: {exc.strerror}")
        return None
    if len(data) > CONFIG_FILE_BYTES_MAX:
        issue(
            rel,
            1,
            1,
            f"the file is larger than {CONFIG_FILE_BYTES_MAX:,} bytes ({_size(CONFIG_FILE_BYTES_MAX)})",
        )
        return None
    budget.bytes += len(data)
    if budget.bytes > CONFIG_TOTAL_BYTES_MAX:
        issue(
            rel,
            1,
            1,
            f"the configuration files come to more than {CONFIG_TOTAL_BYTES_MAX:,} bytes "
            f"({_size(CONFIG_TOTAL_BYTES_MAX)}) with this one; the files after it are not read",
        )
        budget.spent = True
        return None
    return data


class _Composer(Composer):
    """ruamel's composer, refusing an alias inside its own anchor (`&a [*a]`),
    which ruamel would otherwise construct as a silently different value."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.parser.check_event(AliasEvent):
            event = self.parser.peek_event()
            if event.anchor in self.__dict__.setdefault("_open", set()):
                raise ComposerError(
                    None, None, f"the alias *{event.anchor} is inside its own anchor", event.start_mark
                )
        return super().compose_node(parent, index)

    def compose_sequence_node(self, anchor: Any) -> Any:
        return self._composing(anchor, super().compose_sequence_node)

    def compose_mapping_node(self, anchor: Any) -> Any:
        return self._composing(anchor, super().compose_mapping_node)

    def _composing(self, anchor: Any, compose: Callable[[Any], Any]) -> Any:
        opened: set[Any] = self.__dict__.setdefault("_open", set())
        if anchor is None or anchor in opened:
            return compose(anchor)
        opened.add(anchor)
        try:
            return compose(anchor)
        finally:
            opened.discard(anchor)


_PLAIN = (
    # (what ruamel says, in part; what it means to someone editing the file)
    (
        "mapping values are not allowed here",
        "a `:` where a value should be: quote a value that holds "
        '": ", or start the nested keys on a line of their own',
    ),
    (
        "expected <block end>",
        "this line is not indented like the lines around it (a key or list item at the wrong depth)",
    ),
    ("expected ',' or ']'", "a `[` list that is never closed with `]`"),
    ("expected ',' or '}'", "a `{` mapping that is never closed with `}`"),
    ("that cannot start any token", "a tab or a character YAML does not allow here: indent with spaces"),
    ("could not find expected ':'", "a key with no `:` after it (or a line that runs on from the one above)"),
    (
        "expected <document start>",
        "text after the end of the document (a line indented less than the first?)",
    ),
)


def plain_yaml_problem(exc: MarkedYAMLError) -> str:
    """ruamel.yaml's complaint in the words of the file's author."""
    problem = str(exc.problem or exc.context or "invalid YAML")
    context = str(exc.context or "")
    if "duplicate key" in problem:
        key = problem.split('"')[1] if problem.count('"') >= 2 else "?"
        return f"`{key}` is set twice in this mapping"
    if "undefined alias" in problem:
        name = problem.split("'")[1] if problem.count("'") >= 2 else "?"
        return f"`*{name}` refers to an anchor `&{name}` defined nowhere above it"
    if "end of stream" in problem and "quoted scalar" in context:
        return "a quote that is never closed"
    for said, meant in _PLAIN:
        if said in problem:
            return meant
    return problem


def parse_yaml(rel: str, text: bytes, budget: Budget, issue: Issue) -> Any:
    """The YAML document (ruamel's round-trip types, with positions), or
    `INVALID` after reporting why it cannot be used."""
    if _quadratic(rel, text, issue):
        return INVALID
    yaml = YAML(typ="rt")
    yaml.Composer = _Composer
    yaml.max_depth = YAML_DEPTH_MAX + 1  # the document itself is one level
    try:
        document = yaml.load(text)
    except MaxDepthExceededError as exc:
        mark = exc.problem_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        issue(rel, line, col, f"YAML: nested deeper than {YAML_DEPTH_MAX} levels")
        return INVALID
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        unclosed = "end of stream" in str(exc.problem) or "expected ',' or" in str(exc.problem)
        if unclosed and exc.context_mark is not None:
            mark = exc.context_mark  # where the list, mapping or quote that never closes began
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        issue(rel, line, col, f"YAML: {plain_yaml_problem(exc)}")
        return INVALID
    except RecursionError:
        issue(rel, 1, 1, f"YAML: nested too deeply (at most {YAML_DEPTH_MAX} levels)")
        return INVALID
    except Exception as exc:  # undecodable bytes, odd tags: still an issue, never a crash
        issue(rel, 1, 1, f"YAML: {exc}")
        return INVALID
    measure = _Measure()
    try:
        size = measure.size(document, 1, (1, 1))
    except _Refused as refused:
        issue(rel, refused.line, refused.col, refused.message)
        return INVALID
    left = CONFIG_NODES_MAX - budget.nodes
    if size > left:
        line, col = measure.where_over(document, left, (1, 1))
        aliases = " with its aliases expanded" if size > measure.distinct else ""
        issue(
            rel,
            line,
            col,
            f"YAML: this document comes to {_count(size)} nodes{aliases}; a configuration root "
            f"holds at most {CONFIG_NODES_MAX:,}",
        )
        return INVALID
    budget.nodes += size
    return document


def _quadratic(rel: str, text: bytes, issue: Issue) -> bool:
    """Whether `text` holds what ruamel.yaml takes quadratic time over (reported)."""
    for number, line in enumerate(text.split(b"\n"), start=1):
        if len(line) > YAML_LINE_MAX:
            issue(rel, number, 1, f"a line of {len(line):,} bytes; at most {YAML_LINE_MAX:,} in a YAML file")
            return True
    # A plain `<<` is the only way to write a merge key: counting the text counts at least all of them.
    merges = text.count(b"<<")
    if merges > YAML_MERGES_MAX:
        issue(rel, 1, 1, f"{merges:,} merge keys (<<); at most {YAML_MERGES_MAX} in a YAML file")
        return True
    return False


def _size(count: int) -> str:
    return f"{count // 1_048_576} MiB" if count % 1_048_576 == 0 else f"{count // 1024} KiB"


def _count(size: int) -> str:
    return f"{size:,}" if size < 10**15 else f"about 10^{len(str(size)) - 1}"


class _Refused(Exception):
    def __init__(self, line: int, col: int, message: str) -> None:
        super().__init__(message)
        self.line, self.col, self.message = line, col, message


def _children(node: Any) -> Iterator[tuple[Any, tuple[int, int]]]:
    """(child, 1-based position) of a mapping's values or a list's items."""
    here = _where(node)
    if isinstance(node, CommentedMap):
        for key in node:
            try:
                line, col = node.lc.value(key)
                at = (line + 1, col + 1)
            except (KeyError, TypeError, AttributeError):  # a key merged in with `<<`
                at = here
            yield node[key], at
    else:
        for index, item in enumerate(node):
            try:
                line, col = node.lc.item(index)
                at = (line + 1, col + 1)
            except (KeyError, TypeError, AttributeError):
                at = here
            yield item, at


def _where(node: Any) -> tuple[int, int]:
    lc = getattr(node, "lc", None)
    return (lc.line + 1, lc.col + 1) if lc is not None and lc.line is not None else (1, 1)


class _Measure:
    """Expanded sizes of YAML nodes, each container measured once (by identity:
    ruamel gives every use of an anchor the same object)."""

    def __init__(self) -> None:
        self.known: dict[int, tuple[int, int]] = {}  # id -> (expanded size, height)
        self.open: set[int] = set()
        self.distinct = 0

    def size(self, node: Any, depth: int, at: tuple[int, int]) -> int:
        if not isinstance(node, CommentedMap | CommentedSeq):
            self.distinct += 1
            return 1
        key = id(node)
        known = self.known.get(key)
        if known is not None:
            if depth + known[1] > YAML_DEPTH_MAX:
                raise _Refused(*at, f"YAML: nested deeper than {YAML_DEPTH_MAX} levels (through an alias)")
            return known[0]
        if key in self.open:
            raise _Refused(*at, "YAML: an alias that contains itself")
        if depth > YAML_DEPTH_MAX:
            raise _Refused(*at, f"YAML: nested deeper than {YAML_DEPTH_MAX} levels")
        self.open.add(key)
        self.distinct += 1
        total, height = 1, 0
        keys = 1 if isinstance(node, CommentedMap) else 0
        for child, where in _children(node):
            total += self.size(child, depth + 1, where) + keys
            self.distinct += keys
            child_known = self.known.get(id(child))
            height = max(height, 1 + (child_known[1] if child_known else 0))
        self.open.discard(key)
        self.known[key] = (total, height)
        return total

    def where_over(self, node: Any, left: int, at: tuple[int, int]) -> tuple[int, int]:
        """The position of the innermost node whose expanded size alone is over
        `left`, or else of `node`: where a reader should look first."""
        while True:
            for child, where in _children(node) if isinstance(node, CommentedMap | CommentedSeq) else ():
                known = self.known.get(id(child))
                if known is not None and known[0] > left:
                    node, at = child, where
                    break
            else:
                return at
