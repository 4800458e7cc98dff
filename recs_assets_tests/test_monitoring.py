"""Monitoring what is served: the weekly backtest of the live list against a week of landed purchases
with planted truth, and the drift between consecutive published versions (real DuckDB, a real local
model store, a real SQLite cache, ``served_recommendations`` and the checks as Dagster runs them)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from dagster import AssetCheckSeverity, DagsterInstance, Output, asset, materialize

from recs_assets.artifacts import RecommendationsRef
from recs_assets.ingest.append import append_transactions
from recs_assets.ingest.schema import ARTICLES, CUSTOMERS, RAW_SCHEMA, TRANSACTIONS
from recs_assets.monitoring.assets import live_list_backtest, version_drift_check
from recs_assets.monitoring.backtest import score_week
from recs_assets.monitoring.version_drift import drift_problems, version_drift
from recs_assets.monitoring.weeks import weeks_table
from recs_assets.resources.model_store import LocalModelStore
from recs_assets.serving import history
from recs_assets.serving.assets import served_recommendations
from recs_assets.serving.cache import SQLiteCache

WEEK = "2020-09-23"  # a Wednesday: a backtest week's first day
CUSTOMERS_IDS = [f"c{i}" for i in range(6)]
ARTICLE_IDS = list(range(100, 130))


def test_score_week_matches_a_hand_computation():
    lists = pd.DataFrame({"customer_id": ["a", "b"], "items": [[1, 2, 3], [4, 5, 6]]})
    bought = {"a": {2}, "b": {7}, "z": {9, 10}}  # z has no list: scored on the fallback
    score = score_week(lists, [9, 8, 10], bought, k=3)
    # a: hit at 2 → 1/2; b: none → 0; z: hits at 1 and 3 → (1/1 + 2/3) / 2
    assert score.map_at_k == pytest.approx((0.5 + 0 + (1 + 2 / 3) / 2) / 3)
    assert score.recall_at_k == pytest.approx((1 + 0 + 1) / 3)
    assert score.hit_rate_at_k == pytest.approx(2 / 3)
    assert score.buyers == 3 and score.personal_share == pytest.approx(2 / 3)


def test_drift_of_identical_lists_is_none_and_of_replaced_lists_is_total(tmp_path):
    old = pd.DataFrame({"customer_id": ["a", "b"], "items": [[1, 2, 3], [2, 3, 4]]})
    old.to_parquet(tmp_path / "old.parquet")
    old.to_parquet(tmp_path / "same.parquet")
    pd.DataFrame({"customer_id": ["a", "b", "c"], "items": [[1, 2, 5], [7, 8, 9], [1, 2, 3]]}).to_parquet(
        tmp_path / "new.parquet")
    popularity = pd.DataFrame({"article_id": [1, 2, 3, 4, 5, 7, 8, 9], "n": [8, 4, 2, 2, 1, 1, 1, 1]})
    same = version_drift(tmp_path / "old.parquet", tmp_path / "same.parquet", 3, popularity)
    assert (same.mean_overlap, same.changed_share, same.entering, same.leaving) == (1.0, 0.0, [], [])
    new = version_drift(tmp_path / "old.parquet", tmp_path / "new.parquet", 3, popularity)
    assert new.mean_overlap == pytest.approx((2 / 3 + 0) / 2) and new.changed_share == 1.0
    assert new.added_customers == 1 and new.removed_customers == 0
    assert set(new.leaving) == {4} and set(new.entering) == {5, 7, 8, 9}
    # ARP: mean popularity of every recommended article over the catalogue mean (20 / 8 = 2.5)
    assert same.popularity_before == pytest.approx(np.mean([8, 4, 2, 4, 2, 2]) / 2.5)
    assert drift_problems(new, data_growth=0.01, min_overlap=0.5, max_data_growth=0.05)
    assert not drift_problems(new, data_growth=0.2, min_overlap=0.5, max_data_growth=0.05)
    assert not drift_problems(same, data_growth=0.0, min_overlap=0.5, max_data_growth=0.05)


@pytest.fixture
def world(warehouse, tmp_path):
    """Raw tables up to the day before WEEK, a local model store and an instance."""
    rng = np.random.default_rng(0)
    customers = pd.DataFrame({c: [None] * len(CUSTOMERS_IDS) for c in CUSTOMERS.columns}).assign(
        customer_id=CUSTOMERS_IDS, age=30.0)
    articles = pd.DataFrame({c: [0] * len(ARTICLE_IDS) for c in ARTICLES.columns}).assign(article_id=ARTICLE_IDS)
    days = pd.date_range("2020-08-01", "2020-09-22")
    purchases = pd.DataFrame({
        "t_dat": rng.choice(days, 200), "customer_id": rng.choice(CUSTOMERS_IDS, 200),
        "article_id": rng.choice(ARTICLE_IDS, 200), "price": 0.02, "sales_channel_id": 2,
    })
    tables = {t.name: t.all_columns for t in (CUSTOMERS, ARTICLES, TRANSACTIONS)}
    with warehouse.staged_load(RAW_SCHEMA, tables) as load:
        for table, frame in ((CUSTOMERS, customers), (ARTICLES, articles), (TRANSACTIONS, purchases)):
            cols = tables[table.name]
            load.append(table.name, frame.assign(load_id="initial", loaded_at=pd.Timestamp("2020-09-22"))[list(cols)])
    return {"warehouse": warehouse, "model_store": LocalModelStore(root=str(tmp_path / "store")),
            "instance": DagsterInstance.ephemeral(), "purchases": purchases}


def _store_version(world, version: str, lists: dict, fallback: list, baseline: dict | None, list_name="ranker",
                   purchases=200, evaluation_map=0.3) -> None:
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        frame = lambda d: pd.DataFrame({"customer_id": list(d), "items": list(d.values())})  # noqa: E731
        frame(lists).to_parquet(Path(tmp) / "recommendations.parquet", index=False)
        pd.DataFrame({"article_id": fallback}).to_parquet(Path(tmp) / "fallback.parquet", index=False)
        if baseline is not None:
            frame(baseline).to_parquet(Path(tmp) / "baseline.parquet", index=False)
        world["model_store"].publish_dir(tmp, f"recommendations/{version}")
    history.record(world["warehouse"], history.ServedVersion(
        version=version, list_name=list_name, model_version=f"m-{version}", cutoff="2020-09-22",
        serve_day="2020-09-23", live_from=pd.Timestamp.now().isoformat(), recommendations_key=f"recommendations/{version}",
        baseline_name="repurchase_then_popular", k=12, purchases=purchases, evaluation_map=evaluation_map,
        baseline_evaluation_map=0.25))


def _land_week(world, rows: list[tuple[str, int, str]]) -> None:
    """Land the week's purchases through the landing loader: (customer, article, day)."""
    frame = pd.DataFrame(rows, columns=["customer_id", "article_id", "t_dat"]).assign(price=0.02, sales_channel_id=1)
    append_transactions(world["warehouse"], "week.csv", frame, "week-load")


def _backtest(world, week=WEEK, config=None):
    world["instance"].add_dynamic_partitions("backtest_weeks", [week])
    return materialize([live_list_backtest], partition_key=week, instance=world["instance"],
                       resources={"warehouse": world["warehouse"], "model_store": world["model_store"]},
                       run_config={"ops": {"live_list_backtest": {"config": config or {}}}})


def test_backtest_scores_the_live_list_and_baseline_on_the_landed_week(world):
    live = {"c0": [101, 102, 103], "c1": [104, 105, 106], "c2": [107]}
    baseline = {"c0": [102, 101], "c1": [120, 121], "c2": [122]}
    _store_version(world, "v1", live, fallback=[110, 111], baseline=baseline)
    # planted truth: c0 buys 102; c1 buys 106 and 999-free 121; c3 (no list) buys 111; one day after the week: ignored
    _land_week(world, [("c0", 102, "2020-09-24"), ("c1", 106, "2020-09-25"), ("c1", 121, "2020-09-25"),
                       ("c3", 111, "2020-09-29"), ("c4", 101, "2020-09-30")])
    result = _backtest(world)
    value = result.output_for_node("live_list_backtest")
    # live: c0 hit at 2 → 1/2; c1 hit at 3 of 2 relevant → (1/3)/2; c3 fallback hit at 2 → 1/2
    assert value.live.map_at_k == pytest.approx((1 / 2 + 1 / 6 + 1 / 2) / 3)
    # baseline: c0 hit at 1 → 1; c1 hit 121 at 2 of 2 relevant → (1/2)/2; c3 the same fallback → 1/2
    assert value.baseline.map_at_k == pytest.approx((1 + 1 / 4 + 1 / 2) / 3)
    assert value.live.buyers == 3 and value.live.personal_share == pytest.approx(2 / 3)
    [check] = result.get_asset_check_evaluations()
    assert not check.passed and check.severity == AssetCheckSeverity.WARN
    assert "below the baseline" in check.description
    weeks = weeks_table(world["warehouse"])
    assert weeks["week"].tolist() == [WEEK] and weeks["map_at_k"].iloc[0] == pytest.approx(value.live.map_at_k)


def test_backtest_stays_quiet_on_a_normal_week(world):
    live = {"c0": [102, 101], "c1": [106, 121]}
    _store_version(world, "v1", live, fallback=[111], baseline={"c0": [130], "c1": [131]}, evaluation_map=0.8)
    _land_week(world, [("c0", 102, "2020-09-24"), ("c1", 106, "2020-09-25"), ("c3", 111, "2020-09-26")])
    result = _backtest(world)
    [check] = result.get_asset_check_evaluations()
    assert check.passed, check.description
    # the same week against a much higher evaluation figure: a drop beyond the configured share warns
    _store_version(world, "v2", live, fallback=[111], baseline={"c0": [130], "c1": [131]}, evaluation_map=5.0)
    [check] = _backtest(world).get_asset_check_evaluations()
    assert not check.passed and "below its evaluation figure" in check.description


def test_weeks_to_score_step_from_the_first_serve_day_and_skip_scored_ones():
    from recs_assets.monitoring.backtest import weeks_to_score

    # 10-07 .. 10-13 is not whole when the data ends on 10-12
    assert weeks_to_score(["2020-10-01", "2020-09-23"], "2020-10-12", set()) == ["2020-09-23", "2020-09-30"]
    assert weeks_to_score(["2020-09-23"], "2020-10-13", {"2020-09-23"}) == ["2020-09-30", "2020-10-07"]
    assert weeks_to_score([], "2020-10-13", set()) == [] and weeks_to_score(["2020-09-23"], None, set()) == []


def test_backtest_refuses_a_week_before_anything_was_live(world):
    _store_version(world, "v1", {"c0": [101]}, fallback=[110], baseline=None)
    world["instance"].add_dynamic_partitions("backtest_weeks", ["2020-09-16"])
    result = materialize([live_list_backtest], partition_key="2020-09-16", instance=world["instance"],
                         resources={"warehouse": world["warehouse"], "model_store": world["model_store"]},
                         raise_on_error=False)
    assert not result.success
    assert "nothing was live" in str(result.get_step_failure_events()[0].event_specific_data.error)


def _planted_recommendations(world, lists: dict, version: str):
    """An upstream ``recommendations`` value whose lists are planted in the model store."""
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        pd.DataFrame({"customer_id": list(lists), "items": list(lists.values()),
                      "scores": [[1.0] * len(v) for v in lists.values()]}).to_parquet(Path(tmp) / "recommendations.parquet")
        world["model_store"].publish_dir(tmp, f"recommendations/{version}")

    @asset(name="recommendations")
    def planted():
        return Output(RecommendationsRef(
            key=f"recommendations/{version}", uri="", version=version, model_version=f"m-{version}", k=12,
            fallback=[110], users=len(lists), serve_day=WEEK, list_name="ranker", purchases=200))

    return planted


def test_version_drift_warns_on_a_planted_large_change_and_not_on_an_identical_republish(world, tmp_path):
    cache = SQLiteCache(path=str(tmp_path / "cache.sqlite"))
    resources = {"warehouse": world["warehouse"], "model_store": world["model_store"], "cache": cache}

    def publish(lists, version):
        assets = [_planted_recommendations(world, lists, version), served_recommendations, version_drift_check]
        result = materialize(assets, instance=world["instance"], resources=resources)
        [check] = result.get_asset_check_evaluations()
        return check

    first = {c: ARTICLE_IDS[i:i + 12] for i, c in enumerate(CUSTOMERS_IDS)}
    assert publish(first, "v1").passed  # nothing to compare with
    nudged = {c: items[:11] + [129] for c, items in first.items()}
    assert publish(nudged, "v2").passed
    replaced = {c: ARTICLE_IDS[18:30][::-1] for c in CUSTOMERS_IDS}
    check = publish(replaced, "v3")
    assert not check.passed and check.severity == AssetCheckSeverity.WARN
    assert check.metadata["changed_share"].value == 1.0
    again = publish(replaced, "v3")  # the same version again: nothing changed live
    assert again.passed
    assert [v.version for v in history.versions(world["warehouse"])] == ["v1", "v2", "v3"]


def test_the_backtest_sensor_requests_each_whole_week_after_a_version_once(world):
    from dagster import build_sensor_context

    from recs_assets.automation.backtest_sensor import backtest_sensor

    _store_version(world, "v1", {"c0": [101]}, fallback=[110], baseline=None)
    # the week of 2020-09-23 is whole (its Tuesday 09-29 has purchases); the next one has three days
    _land_week(world, [("c0", 101, "2020-09-24"), ("c1", 102, "2020-09-29"), ("c2", 103, "2020-10-02")])

    def tick(cursor=None):
        return backtest_sensor(build_sensor_context(instance=world["instance"], cursor=cursor,
                                                    resources={"warehouse": world["warehouse"]}))

    first = tick()
    assert [r.partition_key for r in first.run_requests] == [WEEK]
    assert [r.partition_keys for r in first.dynamic_partitions_requests] == [[WEEK]]
    assert _backtest(world).success
    assert tick().run_requests == []  # scored weeks are not requested again
    assert "no purchases loaded" in tick(first.cursor).skip_message


def test_popularity_for_drift_counts_landed_purchases_too(world):
    from recs_assets.monitoring.assets import popularity_before

    before = popularity_before(world["warehouse"], "2020-09-29").set_index("article_id")["n"]
    _land_week(world, [("c0", 101, "2020-09-24"), ("c1", 101, "2020-09-25"), ("c2", 101, "2020-10-05")])
    after = popularity_before(world["warehouse"], "2020-09-29").set_index("article_id")["n"]
    assert after.get(101, 0) == before.get(101, 0) + 2  # the purchase after the cut-off does not count
