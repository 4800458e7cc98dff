"""Run config on its way to SQL: the marts' dates are parsed before dbt starts, a string that is not a
date is refused naming the field and the value, and the dbt models render only parsed values even when
dbt is run by hand with any --vars."""

from __future__ import annotations

import json
import subprocess

import duckdb
import pytest
import yaml
from dagster import AssetSelection, materialize
from pydantic import ValidationError

from recs_assets.environment import DBT_PROJECT_DIR, build_resources, dbt_executable
from recs_assets.ingest.assets import raw_tables
from recs_assets.resources.warehouse import DuckDBWarehouse
from recs_assets.transform.assets import MartsConfig, dbt_marts

# Closes the quoted date and appends statements of its own: what the audit compiled into split_boundaries.
INJECTION = "2020-09-15' as date) as test_start from last_day), x as (select 1); drop table raw.raw_customers; --"


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    """Raw tables loaded, no dbt run yet."""
    path = tmp_path_factory.mktemp("marts_config") / "w.duckdb"
    resources = {**build_resources("local"), "warehouse": DuckDBWarehouse(path=str(path))}
    run = {"ops": {"raw_tables": {"config": {"scale": 0.001, "seed": 5}}}}
    assert materialize([raw_tables], resources=resources, run_config=run).success
    return resources


def _schemas(path) -> set[str]:
    with duckdb.connect(str(path), read_only=True) as con:
        return {r[0] for r in con.execute("select schema_name from information_schema.schemata").fetchall()}


def _marts(resources, config: dict):
    return materialize([raw_tables, dbt_marts], selection=AssetSelection.assets(dbt_marts), resources=resources,
                       run_config={"ops": {"dbt_marts": {"config": config}}}, raise_on_error=False)


@pytest.mark.parametrize("given, canonical", [
    ("2020-09-15", "2020-09-15"), ("2020-9-1", "2020-09-01"), (" 2020-09-15 ", "2020-09-15"), ("", None), (None, None),
])
def test_dates_in_run_config_reach_dbt_as_yyyy_mm_dd(given, canonical):
    config = MartsConfig(test_start=given, validation_start=given)
    assert config.test_start == canonical and config.validation_start == canonical
    assert config.model_dump()["test_start"] == canonical  # what dbt_marts passes to --vars


@pytest.mark.parametrize("field", ["test_start", "validation_start"])
@pytest.mark.parametrize("value", [INJECTION, "2020-02-30", "15/09/2020", "2020-09-15T00:00", "20200915", "tomorrow"])
def test_a_string_that_is_not_a_date_is_refused_naming_field_and_value(field, value):
    with pytest.raises(ValidationError) as refused:
        MartsConfig(**{field: value})
    assert f"dbt_marts config {field}={value!r} is not a date (want YYYY-MM-DD" in str(refused.value)


def test_an_injection_in_run_config_fails_the_step_before_dbt_runs(loaded):
    path = loaded["warehouse"].path
    before = _schemas(path)
    result = _marts(loaded, {"test_start": INJECTION})
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    assert f"dbt_marts config test_start={INJECTION!r} is not a date" in failure.event_specific_data.error.message
    assert _schemas(path) == before  # dbt did not start: not even the staging views were built
    assert "staging" not in before and loaded["warehouse"].table_stats("raw", "raw_customers")[0] > 0


def test_a_saved_run_config_with_dates_still_builds_the_marts(loaded):
    # As saved before dates were validated (the README's form), one date without its leading zeros.
    saved = yaml.safe_load('ops: {dbt_marts: {config: {min_customer_purchases: 3, split_days: 7,'
                           ' validation_start: "2020-08-01", test_start: "2020-9-1"}}}')
    result = _marts(loaded, saved["ops"]["dbt_marts"]["config"])
    assert result.success
    b = loaded["warehouse"].query("select validation_start, test_start from marts.split_boundaries").iloc[0]
    assert (str(b.validation_start)[:10], str(b.test_start)[:10]) == ("2020-08-01", "2020-09-01")


def _compile(tmp_path, dbt_vars: dict) -> subprocess.CompletedProcess:
    """``dbt compile`` of the models that read vars, run by hand (no Dagster in between)."""
    args = ["compile", "--select", "split_boundaries", "customer_activity", "--project-dir", str(DBT_PROJECT_DIR),
            "--profiles-dir", str(DBT_PROJECT_DIR), "--target-path", str(tmp_path / "target"),
            "--vars", json.dumps({"duckdb_path": str(tmp_path / "w.duckdb"), **dbt_vars})]
    return subprocess.run([str(dbt_executable()), *args], capture_output=True, text=True)


def test_dbt_run_by_hand_renders_only_parsed_vars(tmp_path):
    for bad, message in (({"test_start": INJECTION}, f"var test_start='{INJECTION}' is not a date"),
                         ({"validation_start": "2020-02-30"}, "var validation_start='2020-02-30' is not a date"),
                         ({"split_days": "7 --"}, "var split_days='7 --' is not an integer >= 1"),
                         ({"min_customer_purchases": "2 or 1=1"}, "var min_customer_purchases='2 or 1=1' is not an"
                                                                  " integer >= 1")):
        refused = _compile(tmp_path, bad)
        assert refused.returncode != 0 and message in refused.stdout, refused.stdout[-2000:]
    assert _compile(tmp_path, {"test_start": "2020-9-1", "validation_start": "2020-08-01"}).returncode == 0
    sql = next((tmp_path / "target").rglob("split_boundaries.sql")).read_text()
    assert "cast('2020-09-01' as date)" in sql and "cast('2020-08-01' as date)" in sql
