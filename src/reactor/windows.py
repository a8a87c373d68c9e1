"""Records kept over a time window, at a cost per event that does not grow with history.

A profile keeps some records for a while: its purchases for 365 days (the
12-month aggregations, the transaction keys for dedupe, what each purchase
earned for refunds), the tier points it was awarded for 365 days, the ids of
its recent events for the dedupe window. Events append records at the end
(nearly always in time order) and the clock expires them from the front.

`Log` holds such records so that both ends cost O(1) amortised, while
`process` stays pure: a state derived from another (`view`) shares the same
Python list, and each view knows the slice `[start, end)` that is its own.
Appending through a view whose `end` is the end of the shared list appends
in place: older views do not see it, because their `end` is smaller. A view
that is not at the end (a second branch from the same state: `explain`, a
test) copies its slice first. Expiring moves `start`; the dead front is
dropped (by copying the live part) once it is the larger half, so memory
stays proportional to what is live, and the copying is amortised O(1).

A log may keep running sums of its live records (`measure` gives each
record's contribution: spend and shops for purchases, points for tier points),
added on append and taken off on expiry, so a 12-month figure is O(1) to read.

Records may carry a key (a transaction key, an event id): the shared index
maps it to its absolute position in the shared list, so membership is O(1)
for every view (a position outside the view's slice is not a member).
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Callable, Iterator, Sequence
from typing import Any

__all__ = ["EMPTY_HEAD", "Log", "collapse", "spread"]


def _time(record: Any) -> str:
    return str(record[0])


#: A dead front shorter than this is never compacted (copying a few records
#: costs more than keeping them).
_MIN_COMPACT = 32

#: `Log.head` of an empty log: later than any record's time (whole seconds of
#: a year before 10000), so `head <= cutoff` is false.
EMPTY_HEAD = 1 << 62


def collapse(values: list[Any]) -> Any:
    """A stored column: the list, or its one value when every record has it."""
    first = values[0]
    same = not isinstance(first, list | dict) and all(v == first for v in values)
    return first if same else values


def spread(column: Any, count: int) -> list[Any]:
    """The inverse of `collapse`, for `count` records."""
    return column if isinstance(column, list) else [column] * count


class Log:
    """Records in time order; record[0] is the record's time (a canonical
    instant), `key_of(record)` its key when the log is keyed."""

    __slots__ = ("_end", "_index", "_items", "_start", "head", "key_of", "measure", "sums")

    def __init__(
        self,
        records: Sequence[Any] = (),
        key_of: Callable[[Any], str] | None = None,
        measure: Callable[[Any], tuple[int, int]] | None = None,
    ) -> None:
        self._items: list[Any] = sorted(records, key=_time)
        self._start = 0
        self._end = len(self._items)
        #: The time of the oldest live record (`EMPTY_HEAD` when none):
        #: `expire(cutoff)` drops a record iff `head <= cutoff`, which the
        #: clock reads on every event (an attribute, not a call).
        self.head: Any = self._items[0][0] if self._items else EMPTY_HEAD
        self.key_of = key_of
        self.measure = measure
        #: The running sums of `measure` over the live records.
        self.sums: tuple[int, int] = (0, 0)
        self._index: dict[str, int] | None = None
        if key_of is not None:
            self._index = {key_of(r): i for i, r in enumerate(self._items)}
        if measure is not None:
            a = b = 0
            for record in self._items:
                x, y = measure(record)
                a, b = a + x, b + y
            self.sums = (a, b)

    # --- reading -------------------------------------------------------------

    def __len__(self) -> int:
        return self._end - self._start

    def __bool__(self) -> bool:
        return self._end > self._start

    def __iter__(self) -> Iterator[Any]:
        items = self._items
        for i in range(self._start, self._end):
            yield items[i]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Log):
            return NotImplemented
        return self.records() == other.records()

    def __repr__(self) -> str:
        return f"Log({self.records()!r})"

    def columns(self) -> dict[str, Any]:
        """The live records in a compact stored form: one list per field
        (`"0"`, `"1"`, …); times (field 0, whole seconds in order) as the
        first one and then differences; a field with one value for every
        record as that value alone."""
        records = self.records()
        if not records:
            return {}
        out: dict[str, Any] = {}
        times = [r[0] for r in records]
        out["0"] = [times[0], *(b - a for a, b in itertools.pairwise(times))]
        for field in range(1, len(records[0])):
            out[str(field)] = collapse([r[field] for r in records])
        return out

    @classmethod
    def from_columns(
        cls,
        data: dict[str, Any],
        key_of: Callable[[Any], str] | None = None,
        measure: Callable[[Any], tuple[int, int]] | None = None,
        record: Callable[[Any], Any] = list,
    ) -> Log:
        """The log `columns` stored, each record made by `record` from a
        tuple (`tuple` for records never changed in place)."""
        if not data:
            return cls((), key_of, measure)
        times = list(itertools.accumulate(data["0"]))
        fields = [times]
        for field in range(1, len(data)):
            fields.append(spread(data[str(field)], len(times)))
        return cls([record(r) for r in zip(*fields, strict=True)], key_of, measure)

    def records(self) -> list[Any]:
        """The live records, oldest first (a new list)."""
        return self._items[self._start : self._end]

    def first(self) -> Any:
        return self._items[self._start] if self._end > self._start else None

    def __contains__(self, key: object) -> bool:
        index = self._index
        if index is None or not isinstance(key, str):
            return False
        at = index.get(key)
        return at is not None and self._start <= at < self._end

    def get(self, key: str) -> Any:
        """The live record with this key, or None."""
        index = self._index
        at = index.get(key) if index is not None else None
        if at is None or not self._start <= at < self._end:
            return None
        return self._items[at]

    # --- copy-on-write -------------------------------------------------------

    def view(self) -> Log:
        """A view of the same records, to change without changing this one."""
        other = _new_log(Log)
        other._items, other._start, other._end = self._items, self._start, self._end
        other.key_of, other._index = self.key_of, self._index
        other.measure, other.sums, other.head = self.measure, self.sums, self.head
        return other

    def _own(self) -> None:
        """Give this view a list (and index) of its own: its live slice."""
        self._items = self._items[self._start : self._end]
        self._start, self._end = 0, len(self._items)
        if self.key_of is not None:
            key_of = self.key_of
            self._index = {key_of(r): i for i, r in enumerate(self._items)}

    # --- changing ------------------------------------------------------------

    def append(self, record: Any, key: str | None = None, measured: tuple[int, int] | None = None) -> None:
        """Add a record; in time order it is O(1), else it is put in its place.
        `key` and `measured` are `key_of(record)` and `measure(record)` when
        the caller has them already (a record appended on every event)."""
        items, end = self._items, self._end
        if end != len(items):
            self._own()  # another view appended after our end: branch off
            items, end = self._items, self._end
        measure = self.measure
        if measure is not None:
            x, y = measured or measure(record)
            a, b = self.sums
            self.sums = (a + x, b + y)
        if end > self._start and record[0] < items[end - 1][0]:
            self._insert(record)
            return
        index = self._index
        if index is not None:
            if key is None:
                assert self.key_of is not None
                key = self.key_of(record)
            if key in index:
                # A key this log held before (expired here, maybe live in an
                # older view): the shared index must keep its old position.
                self._own()
                items, index, end = self._items, self._index, self._end
                assert index is not None
            index[key] = end
        if end == self._start:
            self.head = record[0]
        items.append(record)
        self._end = end + 1

    def appended(self, record: Any, key: str | None = None, measured: tuple[int, int] | None = None) -> Log:
        """A view with `record` appended (this one unchanged): `view` then
        `append`, in one call and, for a record in time order at the end of
        the shared list with a new key (nearly always: one is appended so on
        every event), without `append`'s branches."""
        items, start, end, index = self._items, self._start, self._end, self._index
        at = record[0]
        if index is not None and key is None:
            assert self.key_of is not None
            key = self.key_of(record)
        if (
            end != len(items)  # another view appended after our end
            or (end > start and at < items[end - 1][0])  # a late record
            or (index is not None and key in index)  # a key held before: older views must stay right
        ):
            other = self.view()
            other.append(record, key, measured)
            return other
        if index is not None:
            assert key is not None
            index[key] = end
        other = _new_log(Log)
        other._items, other._start, other._end, other._index = items, start, end + 1, index
        other.key_of, other.measure, other.head = self.key_of, self.measure, at if end == start else self.head
        measure = self.measure
        if measure is None:
            other.sums = self.sums
        else:
            x, y = measured or measure(record)
            a, b = self.sums
            other.sums = (a + x, b + y)
        items.append(record)
        return other

    def _insert(self, record: Any) -> None:
        # Out of time order (a late purchase): rare, so O(n) is fine.
        self._own()
        items = self._items
        at = bisect.bisect_right([r[0] for r in items], record[0])
        items.insert(at, record)
        self._end += 1
        self.head = items[0][0]
        if self.key_of is not None:
            key_of = self.key_of
            self._index = {key_of(r): i for i, r in enumerate(items)}

    def expired(self, cutoff: Any) -> Log:
        """A view without the records at or before `cutoff` (this one unchanged)."""
        other = self.view()
        other.expire(cutoff)
        return other

    def expire(self, cutoff: Any) -> list[Any]:
        """Drop the records whose time is at or before `cutoff` and return
        them (so the caller can take them out of its running sums)."""
        items, start, end = self._items, self._start, self._end
        first = start
        while start < end and items[start][0] <= cutoff:
            start += 1
        if start == first:
            return []
        self._start = start
        self.head = items[start][0] if start < end else EMPTY_HEAD
        dropped = items[first:start]
        measure = self.measure
        if measure is not None:
            a, b = self.sums
            for record in dropped:
                x, y = measure(record)
                a, b = a - x, b - y
            self.sums = (a, b)
        if start >= _MIN_COMPACT and start * 2 >= len(items):
            self._own()
        return dropped


#: A bare `Log` to fill in (`Log.__new__`: the compiled build refuses `object.__new__`).
_new_log = Log.__new__
