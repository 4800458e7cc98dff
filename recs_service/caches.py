"""The recommendation cache interface and its local backend (SQLite, readable while being written).

Publishing is atomic: rows are written under a new version, then one pointer flips to it, then
older versions are deleted. Readers follow the pointer, so they see the old version or the new one,
never a mix; a publish that fails half-way leaves the pointer (and readers) where they were.
Publishing a version that is already current does nothing.
"""

from __future__ import annotations

import json
import math
import os
import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path



class CacheUnavailable(RuntimeError):
    """The cache cannot be read (missing, unreachable, corrupt)."""


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
"""
_CURRENT = ("select v.version, v.model_version, v.fallback, v.created_at from pointer p "
            "join versions v on v.version = p.version where p.name = 'current'")


@dataclass
class SQLiteCache(RecommendationCache):
    """A single SQLite file in WAL mode: one writer (the pipeline), any number of readers (the API).
    ``path``: the file holding every version and the pointer."""

    path: str
    batch_size: int = 10_000
    local_reads = True
    _readers: threading.local = field(default_factory=threading.local, repr=False, compare=False)

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
        con = self._connect(create=True)
        try:
            current = con.execute("select version from pointer where name = 'current'").fetchone()
            if current and current[0] == version:
                return PublishReport(version, 0, time.perf_counter() - start, already_current=True)
            con.execute("delete from recommendations where version = ?", (version,))  # a crashed attempt
            con.execute("delete from versions where version = ?", (version,))
            count, batch = 0, []
            for rec in map(checked, rows):
                batch.append((version, str(rec.user_id), json.dumps(rec.items), json.dumps(rec.scores)))
                if len(batch) >= self.batch_size:
                    count += self._insert(con, batch)
                    batch = []
            count += self._insert(con, batch)
            con.execute("begin immediate")
            con.execute("insert into versions values (?, ?, ?, ?, ?)",
                        (version, model_version, json.dumps(fallback), time.time(), count))
            con.execute("insert or replace into pointer values ('current', ?)", (version,))
            con.execute("commit")
            # after the flip readers are on the new version: drop every other one, and the rows of
            # publishes that crashed before their flip (they have no ``versions`` row)
            old = [r[0] for r in con.execute("select version from versions where version != ? union "
                                             "select distinct version from recommendations where version != ?",
                                             (version, version))]
            for stale in old:
                con.execute("delete from recommendations where version = ?", (stale,))
                con.execute("delete from versions where version = ?", (stale,))
            return PublishReport(version, count, time.perf_counter() - start, removed_versions=tuple(old))
        finally:
            con.close()

    @staticmethod
    def _insert(con: sqlite3.Connection, batch: list[tuple]) -> int:
        if batch:
            con.execute("begin immediate")
            con.executemany("insert into recommendations values (?, ?, ?, ?)", batch)
            con.execute("commit")
        return len(batch)

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
