"""Two publishes of one cache at once (a manual run during an automated one), with the interleavings
forced: a publisher's row source blocks on an Event at a chosen row while the other publish runs, and
reader threads read throughout. Every read must succeed and return exactly the list of a version the
pointer named around it; nobody may delete what another publish is writing; the publish that finishes
second is refused with PublishConflict instead of flipping to rows that are gone.
SQLite on a file, DynamoDB on a moto server over loopback HTTP. Also: the Dagster pool that keeps
publishes apart in the first place, on the publishing asset and in every deployment's instance config."""

from __future__ import annotations

import threading
import time
import uuid
from pathlib import Path

import boto3
import pytest
import yaml

from recs_service.caches import PublishConflict, Recommendation, SQLiteCache
from recs_service.dynamodb import DynamoDBCache

USERS = 50  # two whole DynamoDB batches: every row is sent before the source is asked for one more
WAIT = 120  # upper bound of every wait below: a wait that runs out fails the test, it never passes it
DEPLOY = Path(__file__).resolve().parent.parent / "deploy"


def rows(tag: int, pause_at: int | None = None, paused: threading.Event | None = None,
         resume: threading.Event | None = None, before_pause=None):
    """u0..u49, each with its own list for version ``tag``; at row ``pause_at`` (``USERS``: after the
    last row) runs ``before_pause``, sets ``paused`` and blocks until ``resume``."""
    for i in range(USERS + 1):
        if i == pause_at:
            if before_pause:
                before_pause()
            paused.set()
            assert resume.wait(WAIT), "the test never resumed this publisher"
        if i < USERS:
            yield Recommendation(f"u{i}", [tag * 1000 + i, tag], [1.0, 0.5])


class Readers:
    """Threads reading throughout. A read is wrong unless it returns exactly the list of a version the
    pointer named just before or just after it (every version holds every user, so None is wrong too)."""

    def __init__(self, make, threads: int = 2):
        self.make, self.errors, self.wrong, self.reads = make, [], [], 0
        self._stop, self._count = threading.Event(), threading.Condition()
        self._threads = [threading.Thread(target=self._read, args=(n,)) for n in range(threads)]

    def __enter__(self):
        for t in self._threads:
            t.start()
        self.wait_for(10)
        return self

    def __exit__(self, *exc):
        self._stop.set()
        for t in self._threads:
            t.join()

    def _read(self, n: int) -> None:
        reader, i = self.make(), n
        while not self._stop.is_set():
            user, i = f"u{i % USERS}", i + 7
            try:
                before = reader.current_version()
                got = reader.get(user)
                after = reader.current_version()
                tag = int(got["model_version"].split("-")[1]) if got else None
                if got is None or f"v{tag}" not in (before, after) \
                        or got["items"] != [tag * 1000 + int(user[1:]), tag]:
                    self.wrong.append((user, before, got, after))
            except Exception as exc:  # noqa: BLE001 - every failed read counts (the API would answer 503)
                self.errors.append(repr(exc))
            with self._count:
                self.reads += 1
                self._count.notify_all()

    def wait_for(self, more: int) -> None:
        """Blocks until ``more`` further reads have completed, so reads happen in every phase."""
        with self._count:
            target = self.reads + more
            assert self._count.wait_for(lambda: self.reads >= target, timeout=WAIT), "readers stalled"


class Publisher(threading.Thread):
    """A publish on its own thread; its report or exception is kept."""

    def __init__(self, cache, version: str, source, tag: int):
        super().__init__()
        self.cache, self.version, self.source, self.tag = cache, version, source, tag
        self.report, self.error = None, None

    def run(self) -> None:
        try:
            self.report = self.cache.publish(self.version, self.source, [self.tag], f"model-{self.tag}")
        except Exception as exc:  # noqa: BLE001 - the test inspects it
            self.error = exc


# --- SQLite --------------------------------------------------------------------------------------

def _sqlite_rows(path: str, version: str) -> int:
    import sqlite3

    with sqlite3.connect(path) as con:
        return con.execute("select count(*) from recommendations where version = ?", (version,)).fetchone()[0]


def test_sqlite_a_publish_finishing_during_another_keeps_its_rows_and_refuses_its_flip(tmp_path):
    """v3's publisher has committed half its rows when v2's publish runs from start to flip. Before the
    fix v2's clean-up deleted v3's rows and v3 then flipped anyway: the live version claimed 50 rows and
    held 25, and those customers silently got nothing."""
    path = str(tmp_path / "cache.sqlite")
    SQLiteCache(path=path, batch_size=5).publish("v1", rows(1), [1], "model-1")
    paused, resume = threading.Event(), threading.Event()
    slow = Publisher(SQLiteCache(path=path, batch_size=5), "v3", rows(3, 25, paused, resume), 3)
    with Readers(lambda: SQLiteCache(path=path)) as readers:
        try:
            slow.start()
            _wait_paused(paused, slow)
            readers.wait_for(20)
            SQLiteCache(path=path, batch_size=5).publish("v2", rows(2), [2], "model-2")
            kept = _sqlite_rows(path, "v3")  # what v2's clean-up left of the publish still writing
            readers.wait_for(20)
        finally:
            resume.set()
            slow.join()
        readers.wait_for(20)
    assert readers.errors == [] and readers.wrong == [], (readers.errors[:3], readers.wrong[:3])
    assert kept == 25
    assert isinstance(slow.error, PublishConflict) and "from 'v1' to 'v2'" in str(slow.error), slow.error
    cache = SQLiteCache(path=path)
    assert cache.current_version() == "v2" and _sqlite_rows(path, "v3") == 0 and _sqlite_rows(path, "v2") == USERS


# --- DynamoDB ------------------------------------------------------------------------------------

def _dynamodb(endpoint: str):
    prefix = f"r{uuid.uuid4().hex[:8]}"  # moto's servers in one process share tables: one prefix per test

    def make(**kwargs) -> DynamoDBCache:
        return DynamoDBCache(endpoint_url=endpoint, table_prefix=prefix, backoff_seconds=0.001, **kwargs)

    return make


def _tables(cache: DynamoDBCache) -> set[str]:
    client = boto3.client("dynamodb", endpoint_url=cache.endpoint_url)
    return {t for t in cache._all_tables(client) if cache.owns(t)}


def _pointer(cache: DynamoDBCache) -> dict:
    client = boto3.client("dynamodb", endpoint_url=cache.endpoint_url)
    return client.get_item(TableName=cache.pointer_table, Key={"name": {"S": "current"}}, ConsistentRead=True)["Item"]


def _all_rows_landed(cache: DynamoDBCache, into: list) -> None:
    """Waits until the table being written (the one table the pointer does not name) holds every row:
    the publisher's last batches run on its writer threads, and the race needs them done."""
    client = boto3.client("dynamodb", endpoint_url=cache.endpoint_url)
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        named = {_pointer(cache)["table"]["S"], _pointer(cache).get("previous", {}).get("S")}
        [table] = _tables(cache) - named
        if client.scan(TableName=table, Select="COUNT", ConsistentRead=True)["Count"] == USERS:
            into.append(table)
            return
        time.sleep(0.05)
    raise AssertionError("the publisher's rows never all landed")


def test_dynamodb_a_publish_finishing_during_another_keeps_its_table_and_refuses_its_flip(moto_endpoint):
    """v3's publisher has written every row and is about to flip when v2's publish runs from start to
    flip. Before the fix v2's clean-up deleted v3's table (neither its own nor the previous one) and v3
    then flipped the pointer to it: every read failed (the API's 503)."""
    make = _dynamodb(moto_endpoint)
    make().publish("v1", rows(1), [1], "model-1")
    paused, resume, slow_table = threading.Event(), threading.Event(), []
    probe = make()
    slow = Publisher(make(), "v3", rows(3, USERS, paused, resume, lambda: _all_rows_landed(probe, slow_table)), 3)
    with Readers(make) as readers:
        try:
            slow.start()
            _wait_paused(paused, slow)
            readers.wait_for(10)
            make().publish("v2", rows(2), [2], "model-2")
            kept = slow_table[0] in _tables(probe)  # v2's clean-up left the table still being published
            readers.wait_for(10)
        finally:
            resume.set()
            slow.join()
        readers.wait_for(10)
    assert readers.errors == [] and readers.wrong == [], (readers.errors[:3], readers.wrong[:3])
    assert kept
    assert isinstance(slow.error, PublishConflict) and "from 'v1' to 'v2'" in str(slow.error), slow.error
    assert probe.current_version() == "v2" and slow_table[0] not in _tables(probe)  # the loser removed its table


# --- a publisher stalled past its lease ----------------------------------------------------------

@pytest.fixture(params=["sqlite", "dynamodb"])
def backend(request, tmp_path):
    """(make a cache, what it stores: SQLite versions with rows / DynamoDB version tables, expiry of
    the lease(s) in progress)."""
    if request.param == "sqlite":
        import sqlite3

        path = str(tmp_path / "cache.sqlite")

        def stored(_):
            with sqlite3.connect(path) as con:
                return {r[0] for r in con.execute("select distinct version from recommendations")}

        def expiries(_):
            with sqlite3.connect(path) as con:
                return [r[0] for r in con.execute("select expires_at from leases")]

        return (lambda **kw: SQLiteCache(path=path, batch_size=5, **kw)), stored, expiries
    make = _dynamodb(request.getfixturevalue("moto_endpoint"))

    def expiries(cache):
        client = boto3.client("dynamodb", endpoint_url=cache.endpoint_url)
        items = client.scan(TableName=cache.pointer_table, ConsistentRead=True)["Items"]
        return [float(i["expires_at"]["N"]) for i in items if "expires_at" in i]

    return make, _tables, expiries


def test_a_publisher_stalled_past_its_lease_never_flips_to_what_clean_up_removed(backend):
    """A publisher (1-second lease) stalls after writing every row; once its lease has expired, v3 is
    published and its clean-up removes the stalled one's rows. Resumed, the stalled publisher must fail,
    not flip (before the fix, it flipped to deleted rows or a deleted table)."""
    make, stored, expiries = backend
    probe = make()
    probe.publish("v1", rows(1), [1], "model-1")
    live = stored(probe)
    paused, resume, landed = threading.Event(), threading.Event(), []
    before = None if isinstance(probe, SQLiteCache) else (lambda: _all_rows_landed(probe, landed))
    stalled = Publisher(make(lease_seconds=2.0), "v2", rows(2, USERS, paused, resume, before), 2)
    with Readers(make) as readers:
        try:
            stalled.start()
            _wait_paused(paused, stalled)
            leftovers = stored(probe) - live
            deadline = max(expiries(probe))  # the stalled lease's expiry, as the store records it
            while time.time() <= deadline:
                time.sleep(deadline - time.time() + 0.05)
            make().publish("v3", rows(3), [3], "model-3")
            readers.wait_for(10)
        finally:
            resume.set()
            stalled.join()
        readers.wait_for(10)
    assert readers.errors == [] and readers.wrong == [], (readers.errors[:3], readers.wrong[:3])
    assert leftovers and isinstance(stalled.error, PublishConflict), stalled.error
    assert probe.current_version() == "v3" and len(stored(probe)) <= 2 and not leftovers & stored(probe)


def _wait_paused(paused: threading.Event, publisher: Publisher) -> None:
    """Until the publisher blocks at its pause (failing at once if it ended before reaching it)."""
    deadline = time.monotonic() + WAIT
    while not paused.wait(0.05):
        assert publisher.is_alive() and time.monotonic() < deadline, f"never paused: {publisher.error!r}"


# --- the Dagster pool ----------------------------------------------------------------------------

POOL = "cache_publish"


def test_every_asset_that_publishes_to_the_cache_is_in_the_pool():
    """Publishing assets (they call the cache resource's publish) share one pool, so two runs never
    publish at once; reading the live version (recommendations) needs no slot."""
    import inspect

    from recs_assets.definitions import defs

    publishers = {}
    for assets_def in defs.resolve_asset_graph().assets_defs:
        if "cache" not in assets_def.required_resource_keys or not assets_def.is_executable:
            continue
        source = inspect.getsource(assets_def.op.compute_fn.decorated_fn)
        if "cache.publish(" in source:
            publishers[assets_def.op.name] = assets_def.op.pool
    assert publishers == {"served_recommendations": POOL}


@pytest.mark.parametrize("name", ["dagster.local.yaml", "dagster.ecs.yaml", "dagster.k8s.yaml"])
def test_every_instance_config_limits_the_pool_to_one_step_at_a_time(name, tmp_path, monkeypatch):
    """The limit holds per step (granularity op), so it also holds for `dagster asset materialize`
    runs that bypass the run queue; the instance config loads with Dagster's own checks (pools and
    run limits together are only valid under ``concurrency``)."""
    from dagster._core.instance.config import dagster_instance_config

    (tmp_path / "dagster.yaml").write_text((DEPLOY / name).read_text())
    config, _ = dagster_instance_config(str(tmp_path))
    assert config["concurrency"]["pools"] == {"default_limit": 1, "granularity": "op"}
    assert config["run_monitoring"]["free_slots_after_run_end_seconds"] > 0  # a failed run's slot comes back
    if name != "dagster.local.yaml":
        return
    from dagster import DagsterInstance

    with DagsterInstance.from_config(str(tmp_path)) as instance:  # the local instance, on its SQLite storage
        assert instance.event_log_storage.supports_global_concurrency_limits
        instance.event_log_storage.initialize_concurrency_limit_to_default(POOL)
        assert instance.event_log_storage.get_concurrency_info(POOL).slot_count == 1


def test_helm_values_limit_the_pool_through_the_charts_concurrency_settings():
    values = yaml.safe_load((DEPLOY / "helm" / "values.yaml").read_text())
    assert values["concurrency"]["enabled"]
    assert values["concurrency"]["pools"] == {"defaultLimit": 1, "granularity": "op"}
    # the chart refuses run limits in both places; Dagster refuses run-queue limits next to pools
    queued = values["dagsterDaemon"]["runCoordinator"].get("config", {}).get("queuedRunCoordinator", {})
    assert "maxConcurrentRuns" not in queued and "tagConcurrencyLimits" not in queued
    assert values["concurrency"]["runs"]["tagConcurrencyLimits"] == [{"key": "recs_assets/landing", "limit": 1}]
