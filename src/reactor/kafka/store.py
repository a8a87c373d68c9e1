"""Profile state per owned partition: a local store in front of the changelog.

The changelog topic (`<app>.profiles`, compacted, partition P for input
partition P) is the truth: one record per changed profile and batch (its
`ProfileState.to_json()`, or a tombstone when the profile is forgotten), plus
one record per partition under `TICK_KEY` (its value kept as it is: the
worker's business) holding how far that partition's time-driven work got. A store holds what the changelog
holds up to `changelog_offset` (the next changelog offset not yet applied):

- `MemoryStore` keeps `ProfileState` objects in a dict, so a profile that
  changes in a batch is serialised once, for the changelog, and never parsed
  back. On (re)assignment it reads the changelog from `changelog_offset`: from
  the start the first time, only the tail when this worker held the partition
  before (another owner may have written in between).
- `RocksStore` keeps the JSON in RocksDB (rocksdict), one database per
  partition under the data directory, with the changelog offset it holds; a
  restart reads only the tail. A database whose last write is older than the
  changelog's `delete.retention.ms` is rebuilt from the start, since compaction
  may have dropped tombstones it never saw.

Stores are written only after the transaction that carries the same states
has committed, so a store never holds what Kafka does not.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Protocol

from reactor.state import ProfileState

__all__ = ["TICK_KEY", "MemoryStore", "PartitionStore", "RocksStore", "open_store"]

#: The changelog key of a partition's tick record (a profile id never starts
#: with NUL in practice; the record is never read as a profile).
TICK_KEY = b"\x00reactor.tick"
_META_OFFSET = b"\x00reactor.changelog_offset"
_META_TICK = b"\x00reactor.tick"
_META_WRITTEN = b"\x00reactor.written_at"


class PartitionStore(Protocol):
    """The profiles of one partition, as of changelog offset `changelog_offset`."""

    partition: int
    changelog_offset: int
    #: The partition's tick record, as the worker wrote it (JSON), or None.
    tick: bytes | None

    def get(self, profile_id: str) -> ProfileState | None: ...

    def profile_ids(self) -> list[str]:
        """Every profile held, sorted (the order automations run in)."""
        ...

    def states(self) -> Iterator[ProfileState]: ...

    def restore(self, key: bytes | None, value: bytes | None, offset: int) -> None:
        """Apply one changelog record read back from Kafka."""
        ...

    def commit(
        self,
        changes: Mapping[str, tuple[ProfileState | None, bytes | None]],
        tick: bytes | None,
        changelog_offset: int,
    ) -> None:
        """Apply what a committed transaction wrote (state and its JSON, or
        None for a tombstone) and the tick record, up to `changelog_offset`."""
        ...

    def close(self) -> None: ...


class MemoryStore:
    def __init__(self, partition: int) -> None:
        self.partition = partition
        self.changelog_offset = 0
        self.tick: bytes | None = None
        self._states: dict[str, ProfileState] = {}

    def __len__(self) -> int:
        return len(self._states)

    def get(self, profile_id: str) -> ProfileState | None:
        return self._states.get(profile_id)

    def profile_ids(self) -> list[str]:
        return sorted(self._states)

    def states(self) -> Iterator[ProfileState]:
        return iter(list(self._states.values()))

    def restore(self, key: bytes | None, value: bytes | None, offset: int) -> None:
        self.changelog_offset = offset + 1
        if key is None:
            return
        if key == TICK_KEY:
            self.tick = value
        elif value is None:
            self._states.pop(key.decode(), None)
        else:
            self._states[key.decode()] = ProfileState.from_json(value)

    def commit(
        self,
        changes: Mapping[str, tuple[ProfileState | None, bytes | None]],
        tick: bytes | None,
        changelog_offset: int,
    ) -> None:
        for profile_id, (state, _) in changes.items():
            if state is None:
                self._states.pop(profile_id, None)
            else:
                self._states[profile_id] = state
        if tick is not None:
            self.tick = tick
        self.changelog_offset = max(self.changelog_offset, changelog_offset)

    def close(self) -> None:
        self._states.clear()


class RocksStore:
    def __init__(self, partition: int, path: Path, delete_retention: float) -> None:
        from rocksdict import Options, Rdict, WriteBatch

        self._write_batch = WriteBatch
        self._options = Options(raw_mode=True)  # bytes in, bytes out: no pickling
        self.partition = partition
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = Rdict(str(path), options=self._options)
        written = self._db.get(_META_WRITTEN)
        if written is not None and time.time() - float(written) > delete_retention:
            # Compaction may have removed tombstones this store never saw.
            self._db.close()
            shutil.rmtree(path, ignore_errors=True)
            self._db = Rdict(str(path), options=self._options)
        offset = self._db.get(_META_OFFSET)
        self.changelog_offset = int(offset) if offset is not None else 0
        self.tick: bytes | None = self._db.get(_META_TICK)

    def get(self, profile_id: str) -> ProfileState | None:
        raw = self._db.get(profile_id.encode())
        return ProfileState.from_json(raw) if raw is not None else None

    def _profile_keys(self) -> Iterator[bytes]:
        for key in self._db.keys():  # noqa: SIM118 - an Rdict, whose iteration is keys too but slower
            if isinstance(key, bytes) and not key.startswith(b"\x00"):
                yield key

    def profile_ids(self) -> list[str]:
        return sorted(key.decode() for key in self._profile_keys())

    def states(self) -> Iterator[ProfileState]:
        for key, value in self._db.items():
            if isinstance(key, bytes) and not key.startswith(b"\x00"):
                yield ProfileState.from_json(value)

    def restore(self, key: bytes | None, value: bytes | None, offset: int) -> None:
        batch = self._write_batch(raw_mode=True)
        if key == TICK_KEY:
            if value is not None:
                batch.put(_META_TICK, value)
                self.tick = value
        elif key is not None and value is None:
            batch.delete(key)
        elif key is not None and value is not None:
            batch.put(key, value)
        self._finish(batch, offset + 1)

    def commit(
        self,
        changes: Mapping[str, tuple[ProfileState | None, bytes | None]],
        tick: bytes | None,
        changelog_offset: int,
    ) -> None:
        batch = self._write_batch(raw_mode=True)
        for profile_id, (_, raw) in changes.items():
            if raw is None:
                batch.delete(profile_id.encode())
            else:
                batch.put(profile_id.encode(), raw)
        if tick is not None:
            batch.put(_META_TICK, tick)
            self.tick = tick
        self._finish(batch, max(self.changelog_offset, changelog_offset))

    def _finish(self, batch: Any, changelog_offset: int) -> None:
        batch.put(_META_OFFSET, str(changelog_offset).encode())
        batch.put(_META_WRITTEN, str(time.time()).encode())
        self._db.write(batch)
        self.changelog_offset = changelog_offset

    def close(self) -> None:
        self._db.close()


def open_store(
    url: str, partition: int, data_dir: Path, app_id: str, delete_retention: float
) -> PartitionStore:
    """The store `REACTOR_STORE` names (`memory://` or `rocksdb://`) for one partition."""
    if url.startswith("rocksdb"):
        return RocksStore(partition, data_dir / app_id / f"partition-{partition}", delete_retention)
    return MemoryStore(partition)
