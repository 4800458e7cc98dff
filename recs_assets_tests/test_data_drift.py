"""Data drift of loads: the pure math against hand-computed values, then the checks on a real DuckDB
warehouse loaded by the real loaders (a normal landed week passes; half the rows, prices x100, and a
catalogue that no longer knows the landed articles warn), and the raw check run by Dagster, comparing
each raw load with the one recorded before it."""

from __future__ import annotations

import math
import shutil

import pandas as pd
import pytest
from dagster import AssetCheckSeverity, AssetSelection, DagsterInstance, Definitions, define_asset_job

from recs_assets.ingest.append import append_transactions
from recs_assets.ingest.load import load_raw
from recs_assets.ingest.schema import ARTICLES, CUSTOMERS, TRANSACTIONS
from recs_assets.ingest.sources import RawSource
from recs_assets.monitoring.data_drift import (
    DriftBounds,
    LoadProfile,
    compare,
    landed_purchases,
    profile,
    psi,
    ratio,
    rows_per_day,
    shares,
    RAW_PURCHASES,
)
from recs_assets.monitoring.load_checks import LoadDriftConfig, check_landed_load, check_raw_load, raw_load_drift
from recs_assets.resources.warehouse import DuckDBWarehouse

# --- pure math ---------------------------------------------------------------------------------------


def test_psi_of_a_hand_computed_shift():
    # shares 0.5/0.5 -> 0.25/0.75: (0.25-0.5)*ln(0.25/0.5) + (0.75-0.5)*ln(0.75/0.5)
    expected = (-0.25) * math.log(0.5) + 0.25 * math.log(1.5)
    assert psi([50, 50], [25, 75]) == pytest.approx(expected) == pytest.approx(0.27465, abs=1e-5)
    assert psi([0.5, 0.5], [0.25, 0.75]) == pytest.approx(expected)  # shares or counts alike


def test_psi_is_zero_for_equal_shares_and_floors_an_empty_bin():
    assert psi([10, 30, 60], [1, 3, 6]) == pytest.approx(0.0)
    # reference bin 2 empty: its share is floored at 1e-4 instead of dividing by zero
    expected = (0.5 - 1.0) * math.log(0.5 / 1.0) + (0.5 - 1e-4) * math.log(0.5 / 1e-4)
    assert psi([100, 0], [50, 50]) == pytest.approx(expected)


def test_psi_refuses_histograms_over_different_bins():
    with pytest.raises(ValueError, match="2 reference bins, 3 current"):
        psi([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="must not be negative"):
        shares([1, -1])


def test_rows_per_day_and_their_ratio():
    assert rows_per_day(70, 7) == 10 and rows_per_day(5, 0) == 0
    assert ratio(5, 10) == 0.5 and ratio(0, 0) == 1.0 and math.isinf(ratio(1, 0))
    assert shares([1, 3]) == [0.25, 0.75] and shares([0, 0]) == [0.0, 0.0]


def _profile(rows, days, prices, baskets=None, channels=None):
    return LoadProfile(rows=rows, days=days, first_day="2020-09-01", last_day="2020-09-07", price_edges=(0.01, 0.02),
                       price_counts=tuple(prices), basket_counts=baskets or {"1": rows},
                       channel_counts=channels or {"1": rows})


def test_compare_judges_each_figure_against_its_bound():
    reference = _profile(2800, 28, [1000, 1000, 800], channels={"1": 1400, "2": 1400})
    half = _profile(350, 7, [125, 125, 100], channels={"1": 175, "2": 175})
    figures = {f.name: f for f in compare(half, reference, DriftBounds())}
    assert figures["rows per day"].value == pytest.approx(0.5) and figures["rows per day"].ok is False
    assert figures["price PSI"].value == pytest.approx(0.0) and figures["price PSI"].ok is True
    shifted = _profile(700, 7, [0, 0, 700], channels={"1": 700})  # every price in the top bin, one channel
    figures = {f.name: f for f in compare(shifted, reference, DriftBounds())}
    assert figures["rows per day"].ok is True
    assert figures["price PSI"].ok is False and figures["channel mix PSI"].ok is False
    few = _profile(70, 7, [0, 0, 70])
    figures = {f.name: f for f in compare(few, _profile(280, 28, [100, 100, 80]), DriftBounds())}
    assert figures["price PSI"].ok is None  # fewer lines than min_rows: shown, not judged


def test_compare_refuses_prices_binned_differently():
    other = LoadProfile(10, 1, None, None, (0.5,), (5, 5))
    with pytest.raises(ValueError, match="different edges"):
        compare(other, _profile(280, 28, [100, 100, 80]), DriftBounds())


def test_bad_bounds_are_named():
    with pytest.raises(ValueError, match="max_price_psi=-1"):
        DriftBounds(max_price_psi=-1)
    with pytest.raises(ValueError, match="min_rows_per_day_ratio=2 is above max_rows_per_day_ratio=1.5"):
        DriftBounds(min_rows_per_day_ratio=2)


def test_a_recorded_profile_reads_back():
    # the raw check stores profiles in its evaluations' metadata and reads the previous one back
    recorded = {"load_id": "run-1", "rows": 10, "days": 2, "first_day": "2020-09-01", "last_day": "2020-09-02",
                "price_edges": [0.01, 0.02], "price_counts": [3, 3, 4], "basket_counts": {"1": 4, "2": 3},
                "channel_counts": {"1": 6, "2": 4}}
    read = LoadProfile.from_json(recorded)
    assert read.rows_per_day == 5 and read.price_edges == (0.01, 0.02) and read.channel_counts == {"1": 6, "2": 4}
    assert LoadProfile.from_json(read.to_json()) == read


def test_a_load_id_that_is_not_an_identifier_is_refused():
    with pytest.raises(ValueError, match="load id \"x'; drop table raw.raw_customers; --\" is not a plain identifier"):
        landed_purchases(load_id="x'; drop table raw.raw_customers; --")


# --- real DuckDB -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def initial(tmp_path_factory):
    """A raw load of synthetic purchases (about two years, 33k lines), copied for each test."""
    path = tmp_path_factory.mktemp("drift") / "initial.duckdb"
    load_raw(DuckDBWarehouse(path=str(path)), RawSource(name="synthetic", scale=0.001, seed=3).chunks(), "initial")
    return path


@pytest.fixture
def warehouse(initial, tmp_path):
    path = tmp_path / "warehouse.duckdb"
    shutil.copy(initial, path)
    return DuckDBWarehouse(path=str(path))


def _last_week(warehouse) -> pd.DataFrame:
    return warehouse.query(
        f"{RAW_PURCHASES} where t_dat > (select max(t_dat) - interval 7 day from raw.raw_transactions)")


def _land(warehouse, frame: pd.DataFrame, load_id: str) -> None:
    """The last week's purchases again, a week later: what next week's file would look like."""
    moved = frame.assign(t_dat=pd.to_datetime(frame["t_dat"]) + pd.Timedelta(days=7))
    append_transactions(warehouse, f"{load_id}.csv", moved, load_id)


def _figures(result) -> dict:
    return {k: v.value for k, v in result.metadata.items()}


def test_a_normal_landed_week_passes(warehouse):
    _land(warehouse, _last_week(warehouse), "landed_normal")
    result = check_landed_load(warehouse, LoadDriftConfig(), "landed_normal")
    assert result.passed, result.metadata["figures"].value
    figures = _figures(result)
    assert 0.7 <= figures["rows_per_day"] <= 1.5 and figures["unknown_articles"] == 0
    assert "| rows per day |" in figures["figures"] and "weeks before" in figures["compared_with"]


def test_a_landed_week_with_half_the_rows_warns(warehouse):
    week = _last_week(warehouse)
    _land(warehouse, week.iloc[::2], "landed_half")
    result = check_landed_load(warehouse, LoadDriftConfig(), "landed_half")
    assert not result.passed and result.severity == AssetCheckSeverity.WARN
    assert "rows per day" in result.description and "price PSI" not in result.description
    assert _figures(result)["rows_per_day"] < 0.7


def test_a_landed_week_priced_in_cents_warns(warehouse):
    week = _last_week(warehouse)
    _land(warehouse, week.assign(price=week["price"] * 100), "landed_cents")
    result = check_landed_load(warehouse, LoadDriftConfig(), "landed_cents")
    assert not result.passed and result.severity == AssetCheckSeverity.WARN
    assert "price PSI" in result.description and "rows per day" not in result.description
    assert _figures(result)["price_PSI"] > 1


def test_the_landing_run_checks_the_file_it_appended(warehouse, tmp_path):
    from recs_assets.automation.sensors import ingest_landed_file
    from recs_assets.ingest.landed_assets import landed_transactions
    from recs_assets.ingest.landing_zone import LocalLandingZone
    from recs_assets.monitoring.load_checks import landed_load_drift

    week = _last_week(warehouse).iloc[::2]
    week.assign(t_dat=(pd.to_datetime(week["t_dat"]) + pd.Timedelta(days=7)).dt.strftime("%Y-%m-%d")).to_csv(
        tmp_path / "next_week.csv", index=False)
    zone = LocalLandingZone(root=str(tmp_path))
    [file] = zone.list_files()
    instance = DagsterInstance.ephemeral()
    instance.add_dynamic_partitions("landed_files", [file.load_id])
    defs = Definitions(assets=[landed_transactions], asset_checks=[landed_load_drift], jobs=[ingest_landed_file],
                       resources={"warehouse": warehouse, "landing": zone})
    result = defs.resolve_job_def("ingest_landed_file").execute_in_process(
        instance=instance, partition_key=file.load_id)
    [evaluation] = result.get_asset_check_evaluations()
    assert evaluation.metadata["load_id"].value == file.load_id
    assert not evaluation.passed and evaluation.severity == AssetCheckSeverity.WARN
    assert "rows per day" in evaluation.description


def _raw_frames(warehouse) -> dict[str, pd.DataFrame]:
    return {t.name: warehouse.query(f"select {', '.join(t.columns)} from raw.{t.name}")
            for t in (CUSTOMERS, ARTICLES, TRANSACTIONS)}


def _reload(warehouse, frames: dict[str, pd.DataFrame], load_id: str) -> None:
    tables = {t.name: t for t in (CUSTOMERS, ARTICLES, TRANSACTIONS)}
    load_raw(warehouse, [(tables[name], f"test:{name}", frame) for name, frame in frames.items()], load_id)


def test_a_catalogue_that_no_longer_knows_the_landed_articles_warns(warehouse):
    _land(warehouse, _last_week(warehouse), "landed_normal")
    assert check_raw_load(warehouse, LoadDriftConfig(), "initial", None).passed
    frames = _raw_frames(warehouse)
    # a new catalogue under new article ids; the raw purchases follow it, the landed week does not
    frames["raw_articles"]["article_id"] += 10_000_000
    frames["raw_transactions"]["article_id"] += 10_000_000
    _reload(warehouse, frames, "renumbered")
    result = check_raw_load(warehouse, LoadDriftConfig(), "renumbered", None)
    assert not result.passed and result.severity == AssetCheckSeverity.WARN
    assert "unknown articles" in result.description and "unknown customers" not in result.description
    landed = int(warehouse.query("select count(*) from landing.landed_transactions").iloc[0, 0])
    assert _figures(result)["unknown_articles"] == pytest.approx(landed / (landed + len(frames["raw_transactions"])))


def test_a_raw_load_priced_in_cents_warns_against_the_previous_load(warehouse):
    previous = profile(warehouse, RAW_PURCHASES)
    frames = _raw_frames(warehouse)
    frames["raw_transactions"]["price"] *= 100
    _reload(warehouse, frames, "cents")
    result = check_raw_load(warehouse, LoadDriftConfig(), "cents", ("initial", previous))
    assert not result.passed and "price PSI" in result.description
    assert result.metadata["compared_with"].value == "the previous load initial"


def _check_raw(warehouse, instance):
    """The real check, run by Dagster as its own job, reading earlier evaluations from ``instance``."""
    defs = Definitions(asset_checks=[raw_load_drift], resources={"warehouse": warehouse},
                       jobs=[define_asset_job("drift", selection=AssetSelection.checks(raw_load_drift))])
    result = defs.resolve_job_def("drift").execute_in_process(instance=instance)
    [evaluation] = result.get_asset_check_evaluations()
    return evaluation


def test_each_raw_load_is_compared_with_the_one_before(warehouse):
    instance = DagsterInstance.ephemeral()
    first = _check_raw(warehouse, instance)
    assert first.passed and "no earlier load recorded" in first.metadata["compared_with"].value
    frames = _raw_frames(warehouse)
    _reload(warehouse, frames, "same_again")  # a normal reload: the same purchases
    normal = _check_raw(warehouse, instance)
    assert normal.passed and normal.metadata["compared_with"].value == "the previous load initial"
    assert normal.metadata["rows_per_day"].value == pytest.approx(1.0)
    _reload(warehouse, {**frames, "raw_transactions": frames["raw_transactions"].iloc[::2]}, "half")
    half = _check_raw(warehouse, instance)
    assert not half.passed and half.severity == AssetCheckSeverity.WARN
    assert half.metadata["compared_with"].value == "the previous load same_again"
    assert half.metadata["rows_per_day"].value == pytest.approx(0.5, abs=0.01)
    again = _check_raw(warehouse, instance)  # the check re-run on the same load keeps its reference
    assert again.metadata["compared_with"].value == "the previous load same_again" and not again.passed


# --- the same SQL on the Snowflake path (fakesnow: Snowflake's connector emulated on DuckDB) -------


def test_the_checks_run_on_the_snowflake_warehouse():
    import fakesnow
    import numpy as np
    from dagster_snowflake import SnowflakeResource

    from recs_assets.ingest.validation import normalize_chunk
    from recs_assets.monitoring.freshness_checks import PurchasesFreshnessConfig, check_purchases
    from recs_assets.resources.snowflake_warehouse import SnowflakeWarehouse

    rng = np.random.default_rng(0)
    n = 3000
    purchases = pd.DataFrame({
        "t_dat": rng.choice(pd.date_range("2020-07-01", "2020-09-22"), n),
        "customer_id": [f"c{i}" for i in rng.integers(0, 50, n)], "article_id": rng.integers(1, 20, n),
        "price": rng.gamma(2, 0.01, n), "sales_channel_id": rng.integers(1, 3, n)})
    with fakesnow.patch():
        warehouse = SnowflakeWarehouse(snowflake=SnowflakeResource(
            account="fake", user="fake", password="fake", database="RECS", schema="PUBLIC"))
        # raw tables written by appends: the full load's schema swap is what the emulator lacks
        for table, frame in ((CUSTOMERS, pd.DataFrame({"customer_id": [f"c{i}" for i in range(50)]})),
                             (ARTICLES, pd.DataFrame({"article_id": range(1, 20)})), (TRANSACTIONS, purchases)):
            with warehouse.staged_append("raw", {table.name: table.all_columns}, "initial") as load:
                load.append(table.name, normalize_chunk(table, frame.reindex(columns=list(table.columns)), "test",
                                                        "initial", pd.Timestamp.now(tz="UTC").tz_localize(None)))
        week = purchases[purchases["t_dat"] > "2020-09-15"]
        _land(warehouse, week, "landed_normal")
        assert check_landed_load(warehouse, LoadDriftConfig(), "landed_normal").passed
        _land(warehouse, week.assign(price=week["price"] * 100), "landed_cents")
        cents = check_landed_load(warehouse, LoadDriftConfig(), "landed_cents")
        assert not cents.passed and "price PSI" in cents.description
        assert check_raw_load(warehouse, LoadDriftConfig(), "initial", None).passed
        assert check_purchases(warehouse, PurchasesFreshnessConfig(), pd.Timestamp.now(tz="UTC").timestamp()).passed
