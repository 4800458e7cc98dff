"""Raw → marts through Dagster ``materialize`` on real DuckDB and a real dbt build."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import duckdb
import pytest
from dagster import AssetSelection, materialize

from recs_assets.environment import DBT_PROJECT_DIR, build_resources, dbt_executable
from recs_assets.ingest.assets import raw_tables
from recs_assets.resources.warehouse import DuckDBWarehouse
from recs_assets.transform.assets import dbt_marts


def _run(tmp_path, raw_config: dict, marts_config: dict | None = None, raise_on_error: bool = True):
    resources = {**build_resources("local"), "warehouse": DuckDBWarehouse(path=str(tmp_path / "w.duckdb"))}
    run_config = {"ops": {"raw_tables": {"config": raw_config}}}
    if marts_config:
        run_config["ops"]["dbt_marts"] = {"config": marts_config}
    result = materialize([raw_tables, dbt_marts], resources=resources, run_config=run_config, raise_on_error=raise_on_error)
    return result, resources["warehouse"]


def _checks(result) -> dict[str, bool]:
    return {
        e.event_specific_data.check_name: e.event_specific_data.passed
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    return _run(tmp_path_factory.mktemp("pipeline"), {"scale": 0.002, "seed": 11})


def test_materialize_builds_every_table_and_all_checks_pass(built):
    result, _ = built
    assert result.success
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert {"raw_transactions", "stg_transactions", "transactions_dedup", "train_transactions",
            "validation_transactions", "test_transactions"} <= materialized
    checks = _checks(result)
    assert len(checks) >= 30 and all(checks.values()), [k for k, ok in checks.items() if not ok]
    assert any(name.startswith("splits_ordered_in_time") for name in checks)


def test_row_counts_are_recorded_as_metadata(built):
    result, warehouse = built
    counts = {
        e.asset_key.to_user_string(): e.event_specific_data.materialization.metadata["dagster/row_count"].value
        for e in result.get_asset_materialization_events()
    }
    assert counts["train_transactions"] == warehouse.table_stats("marts", "train_transactions")[0] > 0


def test_splits_are_the_last_two_weeks_by_default(built):
    _, warehouse = built
    b = warehouse.query("select * from marts.split_boundaries").iloc[0]
    assert (b.last_date - b.test_start).days == 6 and (b.test_start - b.validation_start).days == 7
    ranges = warehouse.query(
        "select split, min(t_dat) as first_day, max(t_dat) as last_day from marts.transactions_split group by 1"
    ).set_index("split")
    assert ranges.loc["train", "last_day"] < ranges.loc["validation", "first_day"]
    assert ranges.loc["validation", "last_day"] < ranges.loc["test", "first_day"]


def test_dedup_collapses_repeated_lines_into_quantity(built):
    _, warehouse = built
    raw = warehouse.query("select count(*) as n from raw.raw_transactions")["n"].iloc[0]
    dedup = warehouse.query("select count(*) as n, sum(quantity) as q from marts.transactions_dedup").iloc[0]
    assert dedup["n"] < raw and dedup["q"] == raw


def test_customer_filter_counts_train_purchases_only(built):
    """customer_activity holds exactly the customers with min_customer_purchases (2) or more purchases
    before validation_start, with that count. The data has customers whom the held-out weeks' purchases
    would lift over the bar, so a filter counting every week keeps more customers and fails here."""
    _, warehouse = built
    counts = warehouse.query(
        "select customer_id, count(*) filter (where t.t_dat < b.validation_start) as train, count(*) as every_week"
        " from marts.transactions_dedup t cross join marts.split_boundaries b group by customer_id")
    assert ((counts["train"] < 2) & (counts["every_week"] >= 2)).sum() > 0  # the two countings differ here
    expected = counts[counts["train"] >= 2].set_index("customer_id")["train"].sort_index()
    kept = warehouse.query("select customer_id, train_purchases, last_train_purchase from marts.customer_activity")
    assert kept.set_index("customer_id")["train_purchases"].sort_index().to_dict() == expected.to_dict()
    validation_start = warehouse.query("select validation_start from marts.split_boundaries").iloc[0, 0]
    assert kept["last_train_purchase"].max() < validation_start
    outsiders = warehouse.query(
        "select count(*) as n from marts.transactions_split s "
        "left join marts.customer_activity a using (customer_id) where a.customer_id is null"
    )["n"].iloc[0]
    assert outsiders == 0


def test_a_customer_with_one_train_and_one_test_purchase_is_not_modelled(tmp_path):
    """Two purchases in all, one of them in the test week: counted over every week the customer would
    pass ``min_customer_purchases`` = 2; counted over train only (as it must be) they are left out."""
    resources = {**build_resources("local"), "warehouse": DuckDBWarehouse(path=str(tmp_path / "w.duckdb"))}
    run = {"ops": {"raw_tables": {"config": {"scale": 0.001, "seed": 5}}}}
    assert materialize([raw_tables], resources=resources, run_config=run).success
    newbie = "f" * 64
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    con.execute(f"insert into raw.raw_customers select * replace ('{newbie}' as customer_id) from raw.raw_customers limit 1")
    for day in ("min", "max"):  # the first day of data (train) and the last (test)
        con.execute(f"insert into raw.raw_transactions select * replace ('{newbie}' as customer_id) from raw.raw_transactions"
                    f" where t_dat = (select {day}(t_dat) from raw.raw_transactions) limit 1")
    con.close()
    assert materialize([raw_tables, dbt_marts], selection=AssetSelection.assets(dbt_marts), resources=resources).success
    warehouse = resources["warehouse"]
    assert warehouse.query(f"select count(*) as n from marts.transactions_dedup where customer_id = '{newbie}'")["n"][0] == 2
    assert warehouse.query(f"select count(*) as n from marts.customer_activity where customer_id = '{newbie}'")["n"][0] == 0


def test_dbt_vars_come_from_run_config(tmp_path):
    result, warehouse = _run(
        tmp_path,
        {"scale": 0.001, "seed": 5},
        {"min_customer_purchases": 5, "validation_start": "2020-08-01", "test_start": "2020-09-01"},
    )
    assert result.success
    b = warehouse.query("select * from marts.split_boundaries").iloc[0]
    assert str(b.validation_start)[:10] == "2020-08-01" and str(b.test_start)[:10] == "2020-09-01"
    assert warehouse.query("select min(train_purchases) as m from marts.customer_activity")["m"].iloc[0] >= 5


def test_train_window_keeps_the_weeks_before_validation_only(tmp_path):
    result, warehouse = _run(tmp_path, {"scale": 0.001, "seed": 5}, {"train_weeks": 4})
    assert result.success
    b = warehouse.query("select * from marts.split_boundaries").iloc[0]
    assert (b.validation_start - b.train_start).days == 28
    train = warehouse.query("select min(t_dat) as first, max(t_dat) as last, count(*) as n from marts.train_transactions")
    assert train["first"].iloc[0] == b.train_start and train["last"].iloc[0] < b.validation_start
    # The day before the window is still history (features, candidates), but not the two-tower's train split.
    before = warehouse.query("select count(*) as n from marts.transactions_split where split = 'train' "
                             "and t_dat = (select train_start - 1 from marts.split_boundaries)")["n"].iloc[0]
    everything = warehouse.query("select count(*) as n from marts.transactions_split where split = 'train'")["n"].iloc[0]
    assert before > 0 and 0 < train["n"].iloc[0] < everything


def test_train_window_by_purchase_budget_takes_whole_weeks_under_the_cap(built, tmp_path):
    result, warehouse = built
    b = warehouse.query("select * from marts.split_boundaries").iloc[0]
    weekly = warehouse.query(
        "select floor((date_diff('day', t_dat, (select validation_start from marts.split_boundaries)) - 1) / 7) as w,"
        " count(*) as n from marts.transactions_dedup"
        " where t_dat < (select validation_start from marts.split_boundaries) group by 1 order by 1")
    cap = int(weekly["n"].iloc[:3].sum())  # exactly three weeks fit
    shutil.copy(warehouse.path, tmp_path / "warehouse.duckdb")
    dbt = [str(dbt_executable()), "run", "--quiet", "--select", "split_boundaries", "--project-dir", str(DBT_PROJECT_DIR),
           "--profiles-dir", str(DBT_PROJECT_DIR)]
    for max_rows, weeks in ((cap, 3), (cap - 1, 2), (1, 1)):
        dbt_vars = {"duckdb_path": str(tmp_path / "warehouse.duckdb"), "train_max_rows": max_rows}
        subprocess.run([*dbt, "--vars", json.dumps(dbt_vars)], check=True)
        con = duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True)
        start = con.execute("select train_start from marts.split_boundaries").fetchone()[0]
        con.close()
        assert (b.validation_start.date() - start).days == 7 * weeks, (max_rows, weeks)


def test_inverted_cutoffs_fail_a_check_and_stop_the_splits(tmp_path):
    result, _ = _run(
        tmp_path,
        {"scale": 0.001, "seed": 5},
        {"validation_start": "2020-09-10", "test_start": "2020-09-01"},
        raise_on_error=False,
    )
    checks = _checks(result)
    assert checks.get("validation_starts_before_test") is False, checks
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert "split_boundaries" in materialized and "train_transactions" not in materialized


def _corrupt_copy(warehouse, tmp_path, *statements: str) -> Path:
    """A copy of the built warehouse with ``statements`` run on it (the same file name: dbt's views name
    their catalog after the file). A statement may use ``{test_id}``: a transaction of the test week."""
    corrupt = tmp_path / Path(warehouse.path).name
    shutil.copy(warehouse.path, corrupt)
    con = duckdb.connect(str(corrupt))
    test_id = con.execute("select min(transaction_id) from marts.transactions_split where split = 'test'").fetchone()[0]
    for statement in statements:
        con.execute(statement.format(test_id=test_id))
    con.close()
    return corrupt


def _dbt_test(selection: str, duckdb_path) -> subprocess.CompletedProcess:
    args = ["test", "--select", selection, "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir",
            str(DBT_PROJECT_DIR), "--vars", json.dumps({"duckdb_path": str(duckdb_path)})]
    return subprocess.run([str(dbt_executable()), *args], capture_output=True, text=True)


def test_split_check_catches_overlapping_splits(built, tmp_path):
    # One test-week purchase labelled train: transactions_split is a view, so its labelling is what breaks.
    _, warehouse = built
    with duckdb.connect(warehouse.path, read_only=True) as con:
        assert con.execute("select table_type from information_schema.tables where table_schema = 'marts'"
                           " and table_name = 'transactions_split'").fetchone()[0] == "VIEW"
    corrupt = _corrupt_copy(warehouse, tmp_path, (
        "create or replace view marts.transactions_split as select e.*, case when e.transaction_id = '{test_id}'"
        " then 'train' when e.t_dat < b.validation_start then 'train' when e.t_dat < b.test_start then 'validation'"
        " else 'test' end as split from marts.transactions_enriched e cross join marts.split_boundaries b"))
    failed = _dbt_test("test_name:splits_ordered_in_time", corrupt)
    assert failed.returncode == 1 and "FAIL 1 splits_ordered_in_time" in failed.stdout
    assert _dbt_test("test_name:splits_ordered_in_time", warehouse.path).returncode == 0


def test_one_row_check_catches_a_second_split_boundaries_row(built, tmp_path):
    # transactions_split crosses split_boundaries: a second row would duplicate every purchase.
    _, warehouse = built
    corrupt = _corrupt_copy(warehouse, tmp_path, "insert into marts.split_boundaries select * from marts.split_boundaries")
    failed = _dbt_test("split_boundaries,test_name:one_row", corrupt)
    assert failed.returncode == 1 and "FAIL 1 one_row_split_boundaries" in failed.stdout, failed.stdout[-2000:]
    assert _dbt_test("split_boundaries,test_name:one_row", warehouse.path).returncode == 0
