"""Freshness: the served list's age is its live version's (a re-run that keeps the version is not fresh),
the purchases' age is their last load's; both checks are requested by the automation sensor every hour.
Real SQLite cache, real DuckDB, real Dagster runs; old times are planted in the stores."""

from __future__ import annotations

import pickle
import sqlite3
import time
from datetime import datetime, timedelta, timezone

import pandas as pd
import pytest
from dagster import (
    AssetCheckKey,
    AssetCheckSeverity,
    AssetKey,
    AssetSpec,
    DagsterInstance,
    FilesystemIOManager,
    materialize,
)

from recs_assets.artifacts import RecommendationsRef, recommendations_key
from recs_assets.ingest.append import append_transactions
from recs_assets.ingest.load import load_raw
from recs_assets.ingest.sources import RawSource
from recs_assets.monitoring.freshness import DAY, judge_age
from recs_assets.monitoring.freshness_checks import (
    LiveVersionFreshnessConfig,
    PurchasesFreshnessConfig,
    check_live_version,
    check_purchases,
    live_version_freshness,
)
from recs_assets.resources.model_store import LocalModelStore
from recs_assets.serving.assets import served_recommendations
from recs_assets.serving.cache import SQLiteCache

# --- pure --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("age_days,verdict", [(0, "fresh"), (6.9, "fresh"), (7.0, "fresh"), (7.5, "warn"),
                                              (8.0, "warn"), (8.01, "fail"), (-1, "fresh")])
def test_an_age_is_judged_against_warn_and_fail_days(age_days, verdict):
    now = 1_700_000_000.0
    age = judge_age(now - age_days * DAY, now, warn_days=7, fail_days=8)
    assert age.verdict == verdict and age.days == pytest.approx(max(age_days, 0))


def test_without_fail_days_an_old_age_only_warns():
    assert judge_age(0, 100 * DAY, warn_days=8).verdict == "warn"


def test_bad_bounds_are_named():
    with pytest.raises(ValueError, match="warn_days=8, fail_days=7"):
        judge_age(0, 1, warn_days=8, fail_days=7)
    with pytest.raises(ValueError, match="then=nan"):
        judge_age(float("nan"), 1, warn_days=7)
    with pytest.raises(ValueError, match="fail_days=7.0 must not be below warn_days=8.0"):
        LiveVersionFreshnessConfig(warn_days=8, fail_days=7)


# --- the live version, through real runs of served_recommendations ----------------------------------


@pytest.fixture
def serving(tmp_path, warehouse):
    cache = SQLiteCache(path=str(tmp_path / "recommendations.sqlite"))
    store = LocalModelStore(root=str(tmp_path / "model_store"))
    io = tmp_path / "io"
    io.mkdir()
    instance = DagsterInstance.ephemeral()

    def publish(version: str):
        """One run of served_recommendations (and its checks) over a list stored as ``version``."""
        folder = tmp_path / "model_store" / recommendations_key(version)
        folder.mkdir(parents=True, exist_ok=True)
        pd.DataFrame({"customer_id": ["a", "b"], "items": [[1, 2], [2, 3]], "scores": [[0.9, 0.5], [0.8, 0.1]]}
                     ).to_parquet(folder / "recommendations.parquet")
        ref = RecommendationsRef(key=recommendations_key(version), uri=str(folder), version=version,
                                 model_version="ranker-1", k=2, fallback=["1", "2"], users=2, serve_day="2020-09-23")
        (io / "recommendations").write_bytes(pickle.dumps(ref))  # the upstream value, as the IO manager stores it
        result = materialize([AssetSpec("recommendations"), served_recommendations, live_version_freshness],
                             resources={"cache": cache, "model_store": store, "warehouse": warehouse,
                                        "io_manager": FilesystemIOManager(base_dir=str(io))},
                             instance=instance)
        assert result.success
        [evaluation] = result.get_asset_check_evaluations()
        [published] = result.get_asset_materialization_events()
        return evaluation, published.event_specific_data.materialization.metadata

    return cache, publish


def _plant_publish_time(cache: SQLiteCache, days_ago: float) -> None:
    with sqlite3.connect(cache.path) as con:
        con.execute("update versions set created_at = ?", (time.time() - days_ago * DAY,))


def test_a_rerun_that_keeps_an_old_live_version_is_not_fresh(serving):
    cache, publish = serving
    evaluation, _ = publish("v1")
    assert evaluation.passed and evaluation.metadata["version"].value == "v1"
    _plant_publish_time(cache, days_ago=7.5)
    evaluation, published = publish("v1")  # the asset ran again, the live version did not change
    assert published["already_current"].value is True
    assert not evaluation.passed and evaluation.severity == AssetCheckSeverity.WARN
    assert evaluation.metadata["age_days"].value == pytest.approx(7.5, abs=0.01)
    assert "older than 7.0 days" in evaluation.description
    _plant_publish_time(cache, days_ago=8.5)
    evaluation, _ = publish("v1")
    assert not evaluation.passed and evaluation.severity == AssetCheckSeverity.ERROR
    evaluation, _ = publish("v2")  # a new version goes live: fresh again
    assert evaluation.passed and evaluation.metadata["version"].value == "v2"
    assert evaluation.metadata["age_days"].value < 0.01


def test_nothing_published_warns_and_names_the_cache(tmp_path):
    cache = SQLiteCache(path=str(tmp_path / "none.sqlite"))
    result = check_live_version(cache, LiveVersionFreshnessConfig(), time.time())
    assert not result.passed and result.severity == AssetCheckSeverity.WARN
    assert str(tmp_path / "none.sqlite") in result.description


# --- the purchases -----------------------------------------------------------------------------------


@pytest.fixture
def loaded(warehouse):
    load_raw(warehouse, RawSource(name="synthetic", scale=0.0005, seed=3).chunks(), load_id="initial")
    return warehouse


def test_purchases_warn_a_while_after_their_last_load(loaded):
    now = time.time()
    fresh = check_purchases(loaded, PurchasesFreshnessConfig(), now)
    assert fresh.passed and fresh.metadata["latest_purchase_day"].value == "2020-09-22"
    stale = check_purchases(loaded, PurchasesFreshnessConfig(), now + 9 * DAY)
    assert not stale.passed and stale.severity == AssetCheckSeverity.WARN and "older than 8.0 days" in stale.description
    # judging the latest purchase day too: synthetic purchases end in 2020
    lagging = check_purchases(loaded, PurchasesFreshnessConfig(max_purchase_lag_days=30), now)
    assert not lagging.passed and "latest purchase 2020-09-22" in lagging.description


def test_a_landed_file_counts_as_a_load(loaded):
    with loaded.connect() as con:  # the raw load happened ten days ago
        con.execute("update raw.raw_transactions set loaded_at = loaded_at - interval 10 day")
    assert not check_purchases(loaded, PurchasesFreshnessConfig(), time.time()).passed
    week = loaded.query("select t_dat, customer_id, article_id, price, sales_channel_id "
                        "from raw.raw_transactions limit 20")
    append_transactions(loaded, "week.csv", week, "landed_week")
    assert check_purchases(loaded, PurchasesFreshnessConfig(), time.time()).passed


def test_no_raw_load_yet_warns(warehouse):
    result = check_purchases(warehouse, PurchasesFreshnessConfig(), time.time())  # no warehouse file at all
    assert not result.passed and result.severity == AssetCheckSeverity.WARN
    assert f"no purchases loaded in {warehouse.describe()}" in result.description
    with warehouse.connect() as con:
        con.execute("create schema raw")
    result = check_purchases(warehouse, PurchasesFreshnessConfig(), time.time())
    assert not result.passed and "no purchases loaded" in result.description


# --- the daemon requests them ------------------------------------------------------------------------


def test_the_automation_sensor_requests_the_freshness_checks_every_hour():
    from dagster import evaluate_automation_conditions

    from recs_assets.definitions import build_defs

    defs = build_defs()
    sensor = defs.resolve_sensor_def("automation_sensor")
    live = AssetCheckKey(AssetKey("served_recommendations"), "live_version_freshness")
    purchases = AssetCheckKey(AssetKey("raw_transactions"), "purchases_freshness")
    drift = AssetCheckKey(AssetKey("raw_transactions"), "raw_load_drift")
    assert {live, purchases, drift} <= set(sensor.asset_selection.resolve_checks(defs.resolve_asset_graph()))
    instance = DagsterInstance.ephemeral()
    start = datetime(2026, 1, 5, 10, 30, tzinfo=timezone.utc)

    def requested(result) -> set:  # the tester's counts cover assets only: read the checks' results
        return {r.key for r in result.results if isinstance(r.key, AssetCheckKey) and not r.true_subset.is_empty}

    first = evaluate_automation_conditions(defs, instance, asset_selection=sensor.asset_selection,
                                           evaluation_time=start)
    assert requested(first) == set()  # nothing before the first tick
    within = evaluate_automation_conditions(defs, instance, asset_selection=sensor.asset_selection,
                                            evaluation_time=start + timedelta(minutes=20), cursor=first.cursor)
    assert requested(within) == set()
    later = evaluate_automation_conditions(defs, instance, asset_selection=sensor.asset_selection,
                                           evaluation_time=start + timedelta(minutes=35), cursor=within.cursor)
    assert requested(later) == {live, purchases}  # drift checks run with their loads, not on the clock
