"""What `reactor replay` reads and writes: JSON Lines in, actions out.

Input. A file (or a regular file redirected to stdin) is read whole and its
events are put in `occurred_at` order, stable for equal times (CONTRACT §11),
so a history exported out of order replays as it happened; `reordered`
counts the events that came after an event that occurred later. A pipe
cannot be waited for to its end (`tail -f events.jsonl | reactor replay -`
runs for ever), so its events run as they arrive, in arrival order; the
ones that arrive out of order are counted as `reordered` too.

Output. Actions and dead letters are written in large blocks, not one system
call each: the buffer goes out when it is large, at the end, on Ctrl-C, and
whenever a pipe has nothing more to read for now (and at least every
second), so a live pipe still shows its actions at once.

Progress. On a terminal, a replay that lasts more than a few seconds shows
a progress line on stderr (never when stderr is a pipe or a file).
"""

from __future__ import annotations

import os
import queue
import stat
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

import orjson

from reactor.clock import normalize_instant

__all__ = ["Input", "Output", "Progress", "open_input"]

#: Bytes buffered before they are written out.
BUFFER = 1 << 16
#: The longest a written action waits in the buffer while input keeps coming.
FLUSH_EVERY = 1.0


def _occurred_at(raw: bytes) -> str:
    """The event time to sort a line by: "" (first) when it has none, so
    lines that will be rejected go first, in file order."""
    try:
        document = orjson.loads(raw)
        value = document.get("occurred_at") if isinstance(document, dict) else None
        return normalize_instant(value) if isinstance(value, str) else ""
    except (orjson.JSONDecodeError, ValueError, OverflowError):
        return ""


def _lines(chunks: Iterator[bytes]) -> Iterator[bytes]:
    """Lines (without their end) from a stream of byte chunks."""
    rest = b""
    for chunk in chunks:
        parts = (rest + chunk).split(b"\n")
        rest = parts.pop()
        yield from parts
    if rest:
        yield rest


@dataclass
class Input:
    """The input of one replay. `lines()` gives (line number, bytes) in the
    order to run them, blank lines left out (counted in `blank`)."""

    stream: IO[bytes]
    name: str
    sorted_whole: bool
    blank: int = 0
    reordered: int = 0
    #: Lines to run, when known (a file read whole); None for a pipe.
    total: int | None = None

    def _numbered(self, lines: Iterator[bytes]) -> Iterator[tuple[int, bytes]]:
        for number, line in enumerate(lines, start=1):
            if line.endswith(b"\r"):
                line = line[:-1]
            if line.strip():
                yield number, line
            else:
                self.blank += 1

    def lines(self) -> Iterator[tuple[int, bytes]]:
        if self.sorted_whole:
            return self._sorted()
        return self._arriving()

    def _sorted(self) -> Iterator[tuple[int, bytes]]:
        keyed = []
        latest = ""
        lines = self.stream.read().split(b"\n")
        if lines and not lines[-1]:
            lines.pop()  # the end of the last line, not a blank line
        for number, raw in self._numbered(iter(lines)):
            key = _occurred_at(raw)
            if key and key < latest:
                self.reordered += 1
            latest = max(latest, key)
            keyed.append((key, number, raw))
        if self.reordered:
            keyed.sort(key=lambda item: item[0])  # stable: equal times keep the file's order
        self.total = len(keyed)
        return ((number, raw) for _, number, raw in keyed)

    def _arriving(self) -> Iterator[tuple[int, bytes]]:
        latest = ""
        for number, raw in self._numbered(_lines(_chunks(self.stream))):
            key = _occurred_at(raw)
            if key and key < latest:
                self.reordered += 1
            latest = max(latest, key)
            yield number, raw


def _chunks(stream: IO[bytes]) -> Iterator[bytes]:
    # A pipe is read on a thread of its own (`live`), with os.read on its file
    # descriptor: a thread blocked inside a buffered reader holds its lock, and
    # the interpreter aborts at exit (after Ctrl-C) when it cannot take it.
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):
        read = getattr(stream, "read1", stream.read)
        while chunk := read(BUFFER):
            yield chunk
        return
    while chunk := os.read(fd, BUFFER):
        yield chunk


def open_input(name: str, stdin: IO[bytes] | None = None) -> Input:
    """The input named `name` (`-`: stdin). Raises OSError if it cannot be read."""
    if name == "-":
        stream = stdin or sys.stdin.buffer
        try:
            regular = stat.S_ISREG(os.fstat(stream.fileno()).st_mode)
        except (OSError, ValueError, AttributeError):
            regular = False
        return Input(stream, name, sorted_whole=regular)
    return Input(open(name, "rb"), name, sorted_whole=True)


class Output:
    """Actions and dead letters out, in blocks (see the module docstring)."""

    def __init__(self, out: IO[bytes], err: IO[bytes]) -> None:
        self.out, self.err = out, err
        self._out: list[bytes] = []
        self._err: list[bytes] = []
        self._size = 0
        self._flushed = time.monotonic()

    def action(self, line: bytes) -> None:
        self._out.append(line)
        self._size += len(line)
        if self._size >= BUFFER:
            self.flush()

    def reject(self, line: bytes) -> None:
        self._err.append(line)
        self._size += len(line)
        if self._size >= BUFFER:
            self.flush()

    def due(self) -> bool:
        """Whether output has waited a second (for a pipe that keeps coming)."""
        return bool(self._out or self._err) and time.monotonic() - self._flushed >= FLUSH_EVERY

    def flush(self) -> None:
        if self._out:
            self.out.write(b"".join(self._out))
            self._out.clear()
        if self._err:
            self.err.write(b"".join(self._err))
            self._err.clear()
        self.out.flush()
        self.err.flush()
        self._size = 0
        self._flushed = time.monotonic()


def live(lines: Iterator[tuple[int, bytes]], output: Output) -> Iterator[tuple[int, bytes]]:
    """`lines` read from a pipe on a thread of their own, so that output is
    flushed whenever nothing more has arrived for now (and at least every
    second), never held back waiting for input."""
    inbox: queue.Queue[tuple[int, bytes] | None] = queue.Queue(maxsize=10_000)

    def read() -> None:
        try:
            for item in lines:
                inbox.put(item)
        finally:
            inbox.put(None)

    threading.Thread(target=read, name="replay-input", daemon=True).start()
    while True:
        try:
            item = inbox.get_nowait()
        except queue.Empty:
            output.flush()  # nothing to do until more comes: show what was done
            item = inbox.get()
        if item is None:
            return
        if output.due():
            output.flush()
        yield item


class Progress:
    """A progress line on stderr, for a terminal only, once a replay has run
    for `after` seconds; rewritten at most every half second."""

    def __init__(self, err: IO[bytes], total: int | None, after: float = 3.0) -> None:
        self.err = err
        self.total = total
        self.enabled = _is_terminal(err)
        self.started = time.monotonic()
        self.after = after
        self._next = self.started + after
        self._shown = False

    def update(self, done: int, clock: str | None) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now < self._next:
            return
        self._next = now + 0.5
        rate = done / max(now - self.started, 1e-9)
        of = f" of {self.total:,} ({done * 100 // self.total} %)" if self.total else ""
        text = f"\rreplay: {done:,} events{of}, {rate:,.0f}/s, at {clock or '-'} "
        self.err.write(text.encode() + b"\x1b[K")
        self.err.flush()
        self._shown = True

    def clear(self) -> None:
        if self._shown:
            self.err.write(b"\r\x1b[K")
            self.err.flush()
            self._shown = False


def _is_terminal(stream: IO[bytes]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
