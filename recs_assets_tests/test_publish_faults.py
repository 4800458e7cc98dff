"""Fault tests of the cache publish: the publishing process is killed (SIGKILL) half-way while readers
read throughout. Nothing served may be lost: no failed read, no read of the half-written version, the
previous version served until a publish completes; the killed publisher's rows go at the first publish
after its (short) lease expired, a re-publish of the live version included.
SQLite on a file, DynamoDB on a moto server over loopback HTTP."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
import uuid

import pytest

from recs_service.caches import Recommendation, SQLiteCache
from recs_service.dynamodb import DynamoDBCache

USERS = 400

_PUBLISH_SLOWLY = """
import sys, time
from recs_service.caches import Recommendation, SQLiteCache
from recs_service.dynamodb import DynamoDBCache

kind, where, marker, prefix = sys.argv[1:5]
cache = SQLiteCache(path=where, batch_size=20, lease_seconds=2) if kind == "sqlite" else \
    DynamoDBCache(endpoint_url=where, table_prefix=prefix, lease_seconds=2)

def rows():
    for i in range(400):
        if i == 200:
            open(marker, "w").write("half")
        if i >= 200:
            time.sleep(0.05)  # slow enough to be killed in the middle
        yield Recommendation(f"u{i}", [2000 + i, 2], [1.0, 0.5])

cache.publish("v2", rows(), [2], "model-2")
"""


def _rows(tag: int):
    return (Recommendation(f"u{i}", [tag * 1000 + i, tag], [1.0, 0.5]) for i in range(USERS))


PREFIX = f"f{uuid.uuid4().hex[:8]}"  # moto's servers in one process share tables


@pytest.fixture(params=["sqlite", "dynamodb"])
def backend(request, tmp_path):
    if request.param == "sqlite":
        path = str(tmp_path / "cache.sqlite")
        return "sqlite", path, lambda: SQLiteCache(path=path)
    endpoint = request.getfixturevalue("moto_endpoint")
    return "dynamodb", endpoint, lambda: DynamoDBCache(endpoint_url=endpoint, table_prefix=PREFIX, backoff_seconds=0.001)


def _stored(kind: str, where: str, cache) -> set[str]:
    """SQLite: the versions with rows; DynamoDB: this cache's version tables."""
    if kind == "sqlite":
        import sqlite3

        with sqlite3.connect(where) as con:
            return {r[0] for r in con.execute("select distinct version from recommendations")}
    import boto3

    return {t for t in cache._all_tables(boto3.client("dynamodb", endpoint_url=where)) if cache.owns(t)}


def _lease_expiry(kind: str, where: str, cache) -> float:
    """When the killed publisher's lease expires, as the store records it."""
    if kind == "sqlite":
        import sqlite3

        with sqlite3.connect(where) as con:
            return con.execute("select max(expires_at) from leases").fetchone()[0]
    import boto3

    items = boto3.client("dynamodb", endpoint_url=where).scan(TableName=cache.pointer_table, ConsistentRead=True)["Items"]
    return max(float(i["expires_at"]["N"]) for i in items if i["name"]["S"].startswith("lease:"))


def test_killing_the_publisher_mid_publish_loses_nothing(backend, tmp_path):
    kind, where, make = backend
    make().publish("v1", _rows(1), [1], "model-1")
    live = _stored(kind, where, make())
    reads, errors, wrong, stop = [0], [], [], threading.Event()

    def read(n: int):
        reader = make()
        while not stop.is_set():
            user = f"u{(n * 37 + reads[0]) % USERS}"
            try:
                got = reader.get(user)
                fallback = reader.fallback()
                if got is None or got["items"][0] != 1000 + int(user[1:]) or got["model_version"] != "model-1" \
                        or fallback["items"] != [1]:
                    wrong.append((user, got, fallback))
                reads[0] += 1
            except Exception as exc:  # noqa: BLE001 - every failure counts
                errors.append(repr(exc))

    readers = [threading.Thread(target=read, args=(n,)) for n in range(3)]
    for t in readers:
        t.start()
    marker = tmp_path / "half"
    child = subprocess.Popen([sys.executable, "-c", _PUBLISH_SLOWLY, kind, where, str(marker), PREFIX])
    try:
        for _ in range(900):
            if marker.exists() or child.poll() is not None:
                break
            time.sleep(0.1)
        assert marker.exists() and child.poll() is None, "the publisher did not reach the middle"
        time.sleep(0.5)  # the child is writing its second half
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    at_kill = reads[0]
    for _ in range(100):  # readers go on after the kill (moto answers slowly under load: wait for some)
        time.sleep(0.1)
        if reads[0] >= at_kill + 15:
            break
    stop.set()
    for t in readers:
        t.join()
    assert errors == [] and wrong == [], (errors[:3], wrong[:3])
    assert at_kill >= 10 and reads[0] > at_kill, (at_kill, reads[0])  # reads during the publish and after the kill

    cache = make()
    assert cache.current_version() == "v1"
    leftover = _stored(kind, where, cache) - live
    assert leftover  # the killed publisher's rows (SQLite) or table (DynamoDB)
    expiry = _lease_expiry(kind, where, cache)  # (test_publish_races: kept while a lease runs)
    while time.time() <= expiry:
        time.sleep(expiry - time.time() + 0.05)
    # once it expired, the next publish removes them, even one of the live version
    again = cache.publish("v1", _rows(1), [1], "model-1")
    assert again.already_current and _stored(kind, where, cache) == live
    report = cache.publish("v3", _rows(3), [3], "model-3")  # and the next new version publishes normally
    assert report.rows == USERS and cache.get("u5")["items"][0] == 3005 and cache.fallback()["items"] == [3]
    if kind == "sqlite":
        assert _stored(kind, where, cache) == {"v3"}
    else:  # v1's table stays one publish longer, for readers of the old pointer
        assert len(_stored(kind, where, cache)) == 2 and live <= _stored(kind, where, cache)
