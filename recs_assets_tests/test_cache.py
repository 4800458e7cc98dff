"""Both cache backends: atomic versioned publish, idempotence, failure half-way, clean-up.
DynamoDB runs against moto's server over HTTP."""

from __future__ import annotations

import uuid
from pathlib import Path

import boto3
import pytest

from recs_service.caches import CacheUnavailable, Recommendation, SQLiteCache
from recs_service.dynamodb import DynamoDBCache


def rows(n: int, tag: int, fail_after: int | None = None):
    for i in range(n):
        if fail_after is not None and i == fail_after:
            raise RuntimeError("disk full (injected)")
        yield Recommendation(f"u{i}", [tag * 100 + j for j in range(3)], [1.0, 0.5, 0.25])


@pytest.fixture(params=["sqlite", "dynamodb"])
def cache(request, tmp_path):
    if request.param == "sqlite":
        return SQLiteCache(path=str(tmp_path / "cache.sqlite"), batch_size=7)
    endpoint = request.getfixturevalue("moto_endpoint")
    # moto's servers in one process share their tables: a prefix per test keeps tests apart
    return DynamoDBCache(endpoint_url=endpoint, table_prefix=f"t{uuid.uuid4().hex[:8]}", backoff_seconds=0.001)


def test_nothing_published_reads_as_unavailable(cache):
    with pytest.raises(CacheUnavailable):
        cache.fallback()


def test_publish_then_read(cache):
    report = cache.publish("v1", rows(60, tag=1), fallback=[7, 8, 9], model_version="model-a")
    assert report.rows == 60 and not report.already_current
    got = cache.get("u5")
    assert got["items"] == [100, 101, 102] and got["scores"] == [1.0, 0.5, 0.25]
    assert got["model_version"] == "model-a"
    assert cache.get("nobody") is None
    assert cache.fallback()["items"] == [7, 8, 9]
    assert cache.current_version() == "v1"


def test_republishing_the_current_version_is_a_no_op(cache):
    cache.publish("v1", rows(10, tag=1), [1], "model-a")
    again = cache.publish("v1", rows(10, tag=9), [1], "model-a")
    assert again.already_current and again.rows == 0
    assert cache.get("u1")["items"][0] == 100


def test_failure_half_way_keeps_readers_on_the_previous_version(cache):
    cache.publish("v1", rows(30, tag=1), [1], "model-a")
    with pytest.raises(RuntimeError, match="injected"):
        cache.publish("v2", rows(30, tag=2, fail_after=20), [2], "model-b")
    assert cache.current_version() == "v1"
    assert cache.get("u3")["items"][0] == 100 and cache.get("u3")["model_version"] == "model-a"
    # the retry after the failure completes and flips
    report = cache.publish("v2", rows(30, tag=2), [2], "model-b")
    assert report.rows == 30 and cache.get("u3")["items"][0] == 200


def test_a_non_finite_score_publishes_nothing(cache):
    cache.publish("v1", rows(5, tag=1), [1], "a")
    bad = [Recommendation("u0", [1, 2], [0.5, float("-inf")])]
    with pytest.raises(ValueError, match="'u0': non-finite score"):
        cache.publish("v2", bad, [2], "b")
    assert cache.current_version() == "v1" and cache.get("u0")["items"][0] == 100


def test_old_versions_are_removed_after_the_flip(cache):
    cache.publish("v1", rows(5, tag=1), [1], "a")
    report = cache.publish("v2", rows(5, tag=2), [2], "b")
    assert cache.get("u1")["items"][0] == 200
    if isinstance(cache, SQLiteCache):  # one statement reads pointer and rows: no reader can be left behind
        assert len(report.removed_versions) == 1
        return
    # DynamoDB: a reader may hold the pointer it read just before the flip: v1 stays until v3 lands
    client = boto3.client("dynamodb", endpoint_url=cache.endpoint_url)
    v1_table = [t for t in cache._all_tables(client) if cache.owns(t)]
    assert report.removed_versions == () and len(v1_table) == 2
    third = cache.publish("v3", rows(5, tag=3), [3], "c")
    left = [t for t in cache._all_tables(client) if cache.owns(t)]
    assert len(third.removed_versions) == 1 and len(left) == 2 and third.removed_versions[0] not in left
    assert cache.get("u1")["items"][0] == 300


def _stored(cache) -> set[str]:
    """What the cache holds: SQLite's versions with rows, DynamoDB's version tables."""
    if isinstance(cache, SQLiteCache):
        import sqlite3

        with sqlite3.connect(cache.path) as con:
            return {r[0] for r in con.execute("select distinct version from recommendations")}
    return {t for t in cache._all_tables(boto3.client("dynamodb", endpoint_url=cache.endpoint_url)) if cache.owns(t)}


def test_a_failed_publish_removes_what_it_wrote(tmp_path):
    cache = SQLiteCache(path=str(tmp_path / "c.sqlite"), batch_size=5)
    cache.publish("v1", rows(10, tag=1), [1], "a")
    with pytest.raises(RuntimeError, match="injected"):
        cache.publish("v2", rows(10, tag=2, fail_after=8), [2], "b")  # 5 rows committed, never flipped
    assert _stored(cache) == {"v1"}
    report = cache.publish("v3", rows(10, tag=3), [3], "c")
    assert _stored(cache) == {"v3"} and report.removed_versions == ("v1",)


def test_republishing_the_live_version_after_a_failed_publish_leaves_nothing_of_the_failed_one(cache):
    """v1 live, v2 fails half-way, v1 is published again (a retried run): only v1 is stored (before the
    fix, publishing the current version returned at once and v2's rows or table stayed forever)."""
    cache.publish("v1", rows(30, tag=1), [1], "model-a")
    live = _stored(cache)
    with pytest.raises(RuntimeError, match="injected"):
        cache.publish("v2", rows(30, tag=2, fail_after=27), [2], "model-b")  # 25 rows sent, never flipped
    assert cache.publish("v1", rows(30, tag=1), [1], "model-a").already_current
    assert _stored(cache) == live and len(live) == 1 and cache.get("u3")["items"][0] == 100


class FlakyDynamoDB:
    """A real boto3 client that, like DynamoDB under throttling, leaves part of each first batch unprocessed."""

    def __init__(self, client):
        self._client, self.calls, self.returned_unprocessed = client, 0, 0

    def __getattr__(self, name):
        return getattr(self._client, name)

    def batch_write_item(self, RequestItems):
        self.calls += 1
        [(table, requests)] = RequestItems.items()
        if self.calls % 2 == 1 and len(requests) > 1:
            keep, later = requests[: len(requests) // 2], requests[len(requests) // 2 :]
            self._client.batch_write_item(RequestItems={table: keep})
            self.returned_unprocessed += len(later)
            return {"UnprocessedItems": {table: later}}
        return self._client.batch_write_item(RequestItems=RequestItems)


def test_dynamodb_retries_unprocessed_items(moto_endpoint):
    cache = DynamoDBCache(endpoint_url=moto_endpoint, table_prefix="r", backoff_seconds=0.001)
    client = boto3.client("dynamodb", endpoint_url=moto_endpoint)
    cache._ensure_table(client, "r-data", "user_id")
    flaky = FlakyDynamoDB(client)
    requests = [{"PutRequest": {"Item": {"user_id": {"S": f"u{i}"}}}} for i in range(25)]
    cache.write_batch(flaky, "r-data", requests)
    assert flaky.returned_unprocessed > 0
    assert client.scan(TableName="r-data", Select="COUNT")["Count"] == 25


def test_dynamodb_gives_up_after_max_attempts(moto_endpoint):
    cache = DynamoDBCache(endpoint_url=moto_endpoint, table_prefix="g", backoff_seconds=0.001, max_attempts=3)

    class NeverDone:
        def batch_write_item(self, RequestItems):
            return {"UnprocessedItems": RequestItems}

    with pytest.raises(RuntimeError, match="1 items unprocessed after 3 attempts"):
        cache.write_batch(NeverDone(), "g-data", [{"PutRequest": {"Item": {"user_id": {"S": "x"}}}}])


def test_dynamodb_live_version_never_expires(moto_endpoint):
    """DynamoDB's TTL would empty the live version after a pause in publishing (a gate that keeps
    refusing, a re-publish of the current version): its items carry no expiry and TTL is off."""
    cache = DynamoDBCache(endpoint_url=moto_endpoint, table_prefix="m")
    cache.publish("v1", rows(3, tag=1), [1], "model-a")
    client = boto3.client("dynamodb", endpoint_url=moto_endpoint)
    table = client.get_item(TableName="m-pointer", Key={"name": {"S": "current"}})["Item"]["table"]["S"]
    item = client.get_item(TableName=table, Key={"user_id": {"S": "u0"}})["Item"]
    assert {"created_at", "model_version", "items", "scores"} <= set(item) and "expires_at" not in item
    ttl = client.describe_time_to_live(TableName=table)["TimeToLiveDescription"]
    assert ttl["TimeToLiveStatus"] == "DISABLED"


def test_dynamodb_cleans_only_its_own_tables_over_every_page(moto_endpoint):
    """Another environment's tables (``recs-staging-…``) survive a publish, and this cache's leftover
    from a crashed publish is found beyond ListTables' first page (100 names) and removed."""
    client = boto3.client("dynamodb", endpoint_url=moto_endpoint)
    cache = DynamoDBCache(endpoint_url=moto_endpoint, table_prefix="recs", backoff_seconds=0.001)
    others = [f"a-other-{i:03d}" for i in range(100)] + ["recs-staging-pointer", "recs-staging-0123456789abcdef"]
    for name in others + ["recs-fedcba9876543210"]:  # the last one: a crashed publish of ours
        client.create_table(TableName=name, BillingMode="PAY_PER_REQUEST",
                            KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
                            AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}])
    report = cache.publish("v1", rows(3, tag=1), [1], "model-a")
    names = {n for page in client.get_paginator("list_tables").paginate() for n in page["TableNames"]}
    assert set(others) <= names
    assert report.removed_versions == ("recs-fedcba9876543210",) and "recs-fedcba9876543210" not in names


def test_dynamodb_readers_never_fail_or_mix_versions_while_versions_flip(moto_endpoint):
    """Readers run throughout four publishes: every read is one whole version's record, none fails."""
    import threading

    cache = DynamoDBCache(endpoint_url=moto_endpoint, table_prefix="c", backoff_seconds=0.001)
    cache.publish("v1", rows(40, tag=1), [1], "model-1")
    errors, seen, stop = [], set(), threading.Event()

    def read():
        reader = DynamoDBCache(endpoint_url=moto_endpoint, table_prefix="c")
        while not stop.is_set():
            try:
                got = reader.get("u7")
                tag = got["items"][0] // 100
                assert got["items"] == [tag * 100 + j for j in range(3)] and got["model_version"] == f"model-{tag}"
                seen.add(tag)
            except Exception as exc:  # noqa: BLE001 - every failure counts
                errors.append(repr(exc))

    threads = [threading.Thread(target=read) for _ in range(3)]
    for t in threads:
        t.start()
    for tag in (2, 3, 4, 5):
        cache.publish(f"v{tag}", rows(40, tag=tag), [tag], f"model-{tag}")
    stop.set()
    for t in threads:
        t.join()
    assert errors == [] and 5 in seen and len(seen) >= 2


def test_dynamodb_parallel_writers_write_every_row_and_a_failed_batch_flips_nothing(moto_endpoint):
    cache = DynamoDBCache(endpoint_url=moto_endpoint, table_prefix="p", writers=8, backoff_seconds=0.001)
    cache.publish("v1", rows(1001, tag=1), [1], "a")
    client = boto3.client("dynamodb", endpoint_url=moto_endpoint)
    table = client.get_item(TableName="p-pointer", Key={"name": {"S": "current"}})["Item"]["table"]["S"]
    assert client.scan(TableName=table, Select="COUNT")["Count"] == 1001

    class Breaks(DynamoDBCache):
        def _client(self):  # the real client, whose 10th BatchWriteItem fails as a network error would
            real, calls = super()._client(), []

            class Client:
                def __getattr__(self, name):
                    return getattr(real, name)

                def batch_write_item(self, **kwargs):
                    calls.append(1)
                    if len(calls) == 10:
                        raise ConnectionError("connection reset (injected)")
                    return real.batch_write_item(**kwargs)
            return Client()

    broken = Breaks(endpoint_url=moto_endpoint, table_prefix="p", writers=8, backoff_seconds=0.001)
    with pytest.raises(ConnectionError, match="injected"):
        broken.publish("v2", rows(1001, tag=2), [2], "b")
    assert cache.current_version() == "v1" and cache.get("u5")["items"][0] == 100


def test_the_pipeline_resources_build_the_same_caches_the_api_reads(tmp_path):
    """The Dagster resources are thin wrappers: same fields, same defaults, same cache (a default changed
    on one side only would make the pipeline publish somewhere the API does not read)."""
    from recs_assets.serving import cache as resources

    assert resources.DynamoDBCache().plain() == DynamoDBCache()
    assert resources.DynamoDBCache(table_prefix="x", writers=3).plain() == DynamoDBCache(table_prefix="x", writers=3)
    path = str(tmp_path / "c.sqlite")
    assert resources.SQLiteCache(path=path).plain() == SQLiteCache(path=path)
    resources.SQLiteCache(path=path).publish("v1", rows(3, tag=1), [1], "a")
    assert SQLiteCache(path=path).get("u2")["items"][0] == 100


def test_sqlite_readers_keep_their_connection_see_each_flip_and_notice_a_removed_file(tmp_path):
    """The API's reader stays open between requests; a publish through the file is seen at the next
    read, and a removed file reads as unavailable, not as the rows the open connection still holds."""
    live = SQLiteCache(path=str(tmp_path / "cache.sqlite"))
    live.publish("v1", rows(5, tag=1), fallback=[1], model_version="m1")
    assert live.get("u1")["items"] == [100, 101, 102]
    first = live._readers.con
    assert live.get("u2")["items"] == [100, 101, 102] and live._readers.con is first  # kept
    SQLiteCache(path=str(tmp_path / "cache.sqlite")).publish("v2", rows(5, tag=2), fallback=[2], model_version="m2")
    assert live.get("u1")["items"] == [200, 201, 202] and live.current_version() == "v2"
    assert live._readers.con is first
    (tmp_path / "cache.sqlite").unlink()
    with pytest.raises(CacheUnavailable):
        live.get("u1")


def test_dynamodb_reads_and_publishes_share_one_client(moto_endpoint):
    """Building a boto3 client costs far more than a read: one cache object builds one, whatever the
    number of reads, publishes and reading threads (counted by botocore's own client-creation event)."""
    import threading

    session, built = boto3.session.Session(), []
    session.events.register("creating-client-class.dynamodb", lambda **kwargs: built.append(1))
    cache = DynamoDBCache(endpoint_url=moto_endpoint, table_prefix=f"k{uuid.uuid4().hex[:8]}", session=session)
    cache.publish("v1", rows(5, tag=1), [1], "model-a")
    threads = [threading.Thread(target=lambda: [cache.get(f"u{i}") for i in range(5)]) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert cache.get("u1")["items"][0] == 100 and cache.fallback()["items"] == [1] and cache.current_version() == "v1"
    assert len(built) == 1


FIXTURES = Path(__file__).resolve().parent / "fixtures"


def test_a_sqlite_cache_written_before_leases_is_read_and_published_over(tmp_path):
    """The fixture was written by the cache code before leases (v1 live, a failed v2's rows, no leases
    table): it reads as before, and publishing over it cleans the old failure's rows and flips."""
    import shutil
    import sqlite3

    path = tmp_path / "recommendations.sqlite"
    shutil.copy(FIXTURES / "sqlite_cache_before_leases.sqlite", path)
    cache = SQLiteCache(path=str(path))
    assert cache.current_version() == "v1" and cache.get("u0")["items"] == [100, 101, 102]
    assert cache.fallback() == {**cache.fallback(), "items": [7, 8, 9], "model_version": "model-1"}
    assert _stored(cache) == {"v1", "v2"}
    again = cache.publish("v1", rows(6, tag=1), [7, 8, 9], "model-1")
    assert again.already_current and again.removed_versions == ("v2",) and _stored(cache) == {"v1"}
    report = cache.publish("v3", rows(6, tag=3), [3], "model-3")
    assert report.rows == 6 and cache.get("u5")["items"][0] == 300 and _stored(cache) == {"v3"}
    with sqlite3.connect(path) as con:
        assert con.execute("select count(*) from leases").fetchone() == (0,)


def test_a_dynamodb_pointer_written_before_leases_is_read_and_flipped_from(moto_endpoint):
    """The fixture holds the pointer item (no flip count) and the two version tables the code before
    leases wrote: reads go on, the first publish flips from that pointer (the condition matches its
    version and table), keeps the old live table as the previous one and deletes the one before."""
    import json

    old = json.loads((FIXTURES / "dynamodb_cache_before_leases.json").read_text())
    client = boto3.client("dynamodb", endpoint_url=moto_endpoint)
    prefix = f"o{uuid.uuid4().hex[:8]}"  # the fixture's names, under a prefix of this test's own
    rename = lambda name: prefix + name[len("old"):]  # noqa: E731
    cache = DynamoDBCache(endpoint_url=moto_endpoint, table_prefix=prefix, backoff_seconds=0.001)
    pointer = {**old["pointer"], "table": {"S": rename(old["pointer"]["table"]["S"])},
               "previous": {"S": rename(old["pointer"]["previous"]["S"])}}
    cache._ensure_table(client, cache.pointer_table, "name")
    client.put_item(TableName=cache.pointer_table, Item=pointer)
    for name, items in old["tables"].items():
        cache._ensure_table(client, rename(name), "user_id")
        for item in items:
            client.put_item(TableName=rename(name), Item=item)
    live, before = pointer["table"]["S"], pointer["previous"]["S"]
    assert cache.current_version() == "v1" and cache.get("u2")["items"] == [100, 101, 102]
    assert cache.fallback()["items"] == [7, 8, 9]
    assert cache.publish("v1", rows(6, tag=1), [7, 8, 9], "model-1").already_current
    report = cache.publish("v2", rows(6, tag=2), [2], "model-2")
    assert cache.current_version() == "v2" and cache.get("u2")["items"] == [200, 201, 202]
    assert report.removed_versions == (before,) and live in _stored(cache) and len(_stored(cache)) == 2
    flipped = client.get_item(TableName=cache.pointer_table, Key={"name": {"S": "current"}})["Item"]
    assert flipped["previous"]["S"] == live and flipped["flips"]["N"] == "1"
