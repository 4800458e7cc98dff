"""The recommendation cache interface and its local backend (SQLite, readable while being written).

Publishing is atomic: rows are written under a new version, then one pointer flips to it, then
older versions are deleted. Readers follow the pointer, so they see the old version or the new one,
never a mix; a publish that fails half-way leaves the pointer (and readers) where they were and removes
what it wrote. Publishing a version that is already current writes nothing.

Two publishes may overlap (a manual run during an automated one). Each holds a *lease* on what it
writes, renewed as it writes and expiring ``lease_seconds`` after its last renewal; clean-up deletes only
versions that neither the pointer nor an unexpired lease names, so nobody deletes rows another publish
is writing. The pointer flips only from the version the publisher read when it started: the publish
that finishes second fails with ``PublishConflict`` (and removes its own rows) instead of replacing a
list it never saw. A killed publisher's rows go at the first publish after its lease expired.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

LEASE_SECONDS = 600.0  # a publish renews its lease as it writes; a stall longer than this loses it


class CacheUnavailable(RuntimeError):
    """The cache cannot be read (missing, unreachable, corrupt)."""


class PublishConflict(RuntimeError):
    """Another publish moved the pointer, or holds or took the lease, while this one wrote: nothing of
    this publish is served and what it wrote is removed. Publishes of one cache should be serialized
    (the Dagster pool ``cache_publish``); this error is the cache's own guard when they are not."""


@dataclass(frozen=True)
class Recommendation:
    user_id: str
    items: list
    scores: list[float]


def checked(rec: Recommendation) -> Recommendation:
    """``rec``, or ValueError if a score is not finite (JSON and DynamoDB cannot hold one; the API
    would answer 500): raised before the flip, so readers stay on the current version."""
    if not all(math.isfinite(float(s)) for s in rec.scores):
        raise ValueError(f"user {rec.user_id!r}: non-finite score in {list(rec.scores)}; nothing published")
    return rec


@dataclass(frozen=True)
class PublishReport:
    version: str
    rows: int
    seconds: float
    already_current: bool = False
    removed_versions: tuple[str, ...] = ()


class RecommendationCache:
    """What the pipeline and the API need of a cache; SQLite and DynamoDB implement it."""

    local_reads = False  # True when a read is a local file access (microseconds), not a network call

    def publish(self, version: str, rows: Iterable[Recommendation], fallback: list, model_version: str) -> PublishReport:
        raise NotImplementedError

    def get(self, user_id: str) -> dict | None:
        """The current version's record for ``user_id`` (items, scores, model_version, created_at)."""
        raise NotImplementedError

    def fallback(self) -> dict:
        """The current version's list for unknown users (items, model_version, created_at)."""
        raise NotImplementedError

    def current_version(self) -> str | None:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError


_SCHEMA = """
create table if not exists versions (
    version text primary key, model_version text not null, fallback text not null,
    created_at real not null, rows integer not null
);
create table if not exists recommendations (
    version text not null, user_id text not null, items text not null, scores text not null,
    primary key (version, user_id)
);
create table if not exists pointer (name text primary key, version text not null);
create table if not exists leases (version text primary key, owner text not null, expires_at real not null);
"""


def _pointer_version(con: sqlite3.Connection) -> str | None:
    row = con.execute("select version from pointer where name = 'current'").fetchone()
    return row[0] if row else None


@contextmanager
def _transaction(con: sqlite3.Connection) -> Iterator[None]:
    """One write transaction (``begin immediate``: the write lock is taken first, so a read inside it
    cannot be outdated by another writer before the transaction's own writes)."""
    con.execute("begin immediate")
    try:
        yield
    except BaseException:
        con.execute("rollback")
        raise
    con.execute("commit")


_CURRENT = ("select v.version, v.model_version, v.fallback, v.created_at from pointer p "
            "join versions v on v.version = p.version where p.name = 'current'")


@dataclass
class SQLiteCache(RecommendationCache):
    """A single SQLite file in WAL mode: publishers write one at a time (SQLite's write lock), any number
    of readers (the API) read throughout. ``path``: the file holding every version, the pointer and the
    leases of publishes in progress; ``lease_seconds``: how long a publish that stopped renewing keeps
    its rows from clean-up (see the module docstring)."""

    path: str
    batch_size: int = 10_000
    lease_seconds: float = LEASE_SECONDS
    local_reads = True
    _readers: threading.local = field(default_factory=threading.local, repr=False, compare=False)

    def __post_init__(self):
        if not self.lease_seconds > 0:
            raise ValueError(f"lease_seconds must be positive, got {self.lease_seconds}")

    def _reader(self) -> sqlite3.Connection:
        """This thread's reading connection, kept open between requests (opening one per request
        cost more than the query). Reopened when the file was replaced; CacheUnavailable when it is gone."""
        try:
            inode = os.stat(self.path).st_ino
        except OSError as exc:
            raise CacheUnavailable(f"recommendation cache {self.path} does not exist (nothing published yet?)") from exc
        held = getattr(self._readers, "con", None)
        if held is None or self._readers.inode != inode:
            if held is not None:
                held.close()
            self._readers.con, self._readers.inode = self._connect(), inode
        return self._readers.con

    def _connect(self, create: bool = False) -> sqlite3.Connection:
        if not create and not Path(self.path).exists():
            raise CacheUnavailable(f"recommendation cache {self.path} does not exist (nothing published yet?)")
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        try:
            con = sqlite3.connect(self.path, timeout=10, isolation_level=None)
            con.execute("pragma journal_mode=wal")
            if create:
                con.executescript(_SCHEMA)
            return con
        except sqlite3.Error as exc:
            raise CacheUnavailable(f"recommendation cache {self.path}: {exc}") from exc

    def current_version(self) -> str | None:
        row = self._read_one("select version from pointer where name = 'current'")
        return row[0] if row else None

    def publish(self, version: str, rows: Iterable[Recommendation], fallback: list, model_version: str) -> PublishReport:
        start = time.perf_counter()
        owner = uuid.uuid4().hex
        con = self._connect(create=True)
        try:
            with _transaction(con):
                read = _pointer_version(con)
                if read != version:
                    held = con.execute("select expires_at from leases where version = ?", (version,)).fetchone()
                    if held and held[0] > time.time():
                        raise PublishConflict(
                            f"recommendation cache {self.path}: version {version!r} is being published by another"
                            f" process (its lease runs {held[0] - time.time():.0f}s more); nothing written")
                    # the lease is ours: rows left under this version by a crashed attempt go first
                    con.execute("insert or replace into leases values (?, ?, ?)",
                                (version, owner, time.time() + self.lease_seconds))
                    con.execute("delete from recommendations where version = ?", (version,))
                    con.execute("delete from versions where version = ?", (version,))
            if read == version:
                removed = self._collect(con)
                return PublishReport(version, 0, time.perf_counter() - start, already_current=True,
                                     removed_versions=removed)
            try:
                count = self._write(con, version, owner, rows)
                with _transaction(con):
                    self._renew(con, version, owner)
                    now = _pointer_version(con)
                    if now != read:
                        raise PublishConflict(
                            f"recommendation cache {self.path}: another publish moved the pointer from {read!r} to"
                            f" {now!r} while this one wrote {version!r}; {version!r} is not published and its rows"
                            " are removed")
                    con.execute("insert into versions values (?, ?, ?, ?, ?)",
                                (version, model_version, json.dumps(fallback), time.time(), count))
                    con.execute("insert or replace into pointer values ('current', ?)", (version,))
                    con.execute("delete from leases where version = ? and owner = ?", (version, owner))
            except BaseException:
                self._abandon(con, version, owner)
                raise
            # after the flip readers are on the new version: drop every version no pointer or lease names
            removed = self._collect(con)
            return PublishReport(version, count, time.perf_counter() - start, removed_versions=removed)
        finally:
            con.close()

    def _write(self, con: sqlite3.Connection, version: str, owner: str, rows: Iterable[Recommendation]) -> int:
        """Every row under ``version``, in batches, renewing the lease with each one (a slow row source
        flushes early so the lease never runs out while rows still come)."""
        count, batch, renewed = 0, [], time.monotonic()
        for rec in map(checked, rows):
            batch.append((version, str(rec.user_id), json.dumps(rec.items), json.dumps(rec.scores)))
            if len(batch) >= self.batch_size or time.monotonic() - renewed > self.lease_seconds / 3:
                count += self._insert(con, batch, version, owner)
                batch, renewed = [], time.monotonic()
        return count + (self._insert(con, batch, version, owner) if batch else 0)

    def _insert(self, con: sqlite3.Connection, batch: list[tuple], version: str, owner: str) -> int:
        with _transaction(con):
            self._renew(con, version, owner)
            con.executemany("insert into recommendations values (?, ?, ?, ?)", batch)
        return len(batch)

    def _renew(self, con: sqlite3.Connection, version: str, owner: str) -> None:
        """Extends this publish's lease, or PublishConflict when it expired (clean-up may have removed
        the rows already written, so this publish must not flip to them)."""
        now = time.time()
        renewed = con.execute("update leases set expires_at = ? where version = ? and owner = ? and expires_at > ?",
                              (now + self.lease_seconds, version, owner, now)).rowcount
        if renewed != 1:
            raise PublishConflict(
                f"recommendation cache {self.path}: the lease of this publish of {version!r} expired (it stalled"
                f" longer than lease_seconds={self.lease_seconds}); its rows may be removed, nothing is published")

    def _abandon(self, con: sqlite3.Connection, version: str, owner: str) -> None:
        """A failed publish removes what it wrote, if its lease is still its own (otherwise clean-up or
        another publish of the same version owns those rows now)."""
        try:
            with _transaction(con):
                if con.execute("delete from leases where version = ? and owner = ?", (version, owner)).rowcount:
                    if _pointer_version(con) != version:
                        con.execute("delete from recommendations where version = ?", (version,))
        except sqlite3.Error:
            pass  # the publish's own error matters more; clean-up after lease expiry removes the rows

    def _collect(self, con: sqlite3.Connection) -> tuple[str, ...]:
        """Deletes every version that neither the pointer nor an unexpired lease names (the previous live
        one, failed or killed publishes); one write transaction, so no lease can be taken half-way."""
        with _transaction(con):
            con.execute("delete from leases where expires_at <= ?", (time.time(),))
            stale = [r[0] for r in con.execute(
                "select version from versions union select distinct version from recommendations"
                " except select version from pointer except select version from leases")]
            for version in stale:
                con.execute("delete from recommendations where version = ?", (version,))
                con.execute("delete from versions where version = ?", (version,))
        return tuple(stale)

    def _read_one(self, sql: str, params: tuple = ()):
        """One row of one statement on this thread's reader (one statement: one snapshot, so the
        pointer and what it points to are read together)."""
        con = self._reader()
        try:
            return con.execute(sql, params).fetchone()
        except sqlite3.Error as exc:
            self._readers.con = None
            con.close()
            raise CacheUnavailable(f"recommendation cache {self.path}: {exc}") from exc

    def get(self, user_id: str) -> dict | None:
        row = self._read_one(
            "select r.items, r.scores, v.model_version, v.created_at from pointer p "
            "join versions v on v.version = p.version "
            "join recommendations r on r.version = p.version and r.user_id = ? where p.name = 'current'",
            (user_id,))
        if row is None:
            return None
        return {"items": json.loads(row[0]), "scores": json.loads(row[1]), "model_version": row[2], "created_at": row[3]}

    def fallback(self) -> dict:
        row = self._read_one(_CURRENT)
        if row is None:
            raise CacheUnavailable(f"recommendation cache {self.path} has no published version")
        return {"items": json.loads(row[2]), "scores": None, "model_version": row[1], "created_at": row[3]}

    def describe(self) -> str:
        return f"sqlite:{self.path}"
