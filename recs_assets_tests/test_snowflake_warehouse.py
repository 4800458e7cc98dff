"""The production warehouse path (``SnowflakeWarehouse``: staged load, appends) executed for once,
against fakesnow (Snowflake's connector emulated on DuckDB, in-process).

What the emulator lacks: ``ALTER SCHEMA … SWAP WITH`` (DuckDB cannot rename or swap schemas), the one
statement that publishes a full raw load. The tests run everything before it (stage schema, tables,
``write_pandas``, every validation query) and check that a publish failing at that statement leaves
nothing behind; appends (delete + insert in one transaction) run completely."""

from __future__ import annotations

import fakesnow
import pandas as pd
import pytest
from snowflake.connector.errors import ProgrammingError
from dagster_snowflake import SnowflakeResource

from recs_assets.ingest.append import append_transactions
from recs_assets.ingest.load import load_raw
from recs_assets.ingest.sources import RawSource
from recs_assets.ingest.validation import RawDataError
from recs_assets.resources.snowflake_warehouse import SnowflakeWarehouse
from recs_assets_tests.test_raw_load import BAD_INPUTS, TINY, bad_dir, hm_dir  # noqa: F401


@pytest.fixture
def snowflake():
    with fakesnow.patch():
        yield SnowflakeWarehouse(snowflake=SnowflakeResource(
            account="fake", user="fake", password="fake", database="RECS", schema="PUBLIC"))


def _schemas(warehouse) -> list[str]:
    return sorted(warehouse.query("select schema_name from information_schema.schemata").iloc[:, 0].str.lower())


def _tables(warehouse, schema: str) -> list[str]:
    return sorted(warehouse.query("select lower(table_name) as t from information_schema.tables"
                                  f" where lower(table_schema) = '{schema}'").iloc[:, 0])


def test_a_full_load_stages_and_validates_then_stops_at_the_swap_leaving_nothing(snowflake):
    with pytest.raises(ProgrammingError, match="swap"):
        load_raw(snowflake, RawSource(scale=TINY.scale, seed=TINY.seed).chunks(), "first")
    assert not [s for s in _schemas(snowflake) if "_load_" in s]  # the stage, with its rows, was dropped
    assert _tables(snowflake, "raw") == []  # no live table half-published


@pytest.mark.parametrize("case", ["renamed column", "unparsable number", "duplicate key", "negative price"])
def test_a_bad_load_fails_before_publishing_and_drops_its_stage(case, snowflake, bad_dir):
    breaks, message = BAD_INPUTS[case]
    breaks(bad_dir)
    with pytest.raises(RawDataError, match=message):
        load_raw(snowflake, RawSource(name="hm_csv", path=str(bad_dir)).chunks(), "bad")
    assert not [s for s in _schemas(snowflake) if "_load_" in s]
    assert "raw" not in _schemas(snowflake)


@pytest.fixture
def raw_parents(snowflake):
    """Live raw customers and articles (written directly: the full load's swap is what the emulator lacks)."""
    with snowflake.snowflake.get_connection() as conn:
        cur = conn.cursor()
        cur.execute("create schema raw")
        cur.execute("create table raw.raw_customers (customer_id varchar)")
        cur.execute("create table raw.raw_articles (article_id bigint)")
        cur.execute("insert into raw.raw_customers values ('alice'), ('bob')")
        cur.execute("insert into raw.raw_articles values (1), (2), (3)")
    return snowflake


def _week(customers: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"t_dat": "2031-01-01", "customer_id": customers, "article_id": [str(1 + i % 3) for i in range(len(customers))],
                         "price": "0.05", "sales_channel_id": "2"})


def test_an_append_retried_twice_and_after_a_killed_run_leaves_one_copy(raw_parents):
    warehouse = raw_parents
    with warehouse.snowflake.get_connection() as conn:  # a run killed while staging left its stage behind
        conn.cursor().execute("create schema landing_load_week_1")
        conn.cursor().execute("create table landing_load_week_1.landed_transactions (junk int)")
    for _ in range(3):
        summary = append_transactions(warehouse, "week.csv", _week(["alice", "bob", "alice"]), "week-1")
    assert summary.rows == 3
    landed = warehouse.query("select load_id, count(*) as n from landing.landed_transactions group by 1")
    assert landed.values.tolist() == [["week-1", 3]]
    append_transactions(warehouse, "week2.csv", _week(["bob"]), "week-2")
    assert warehouse.query("select count(*) from landing.landed_transactions").iloc[0, 0] == 4
    assert not [s for s in _schemas(warehouse) if "_load_" in s]


def test_an_append_naming_an_unknown_customer_writes_nothing(raw_parents):
    warehouse = raw_parents
    append_transactions(warehouse, "week.csv", _week(["alice"]), "week-1")
    with pytest.raises(RawDataError, match="customer_id.*raw_customers"):
        append_transactions(warehouse, "bad.csv", _week(["alice", "nobody"]), "week-2")
    assert warehouse.query("select load_id, count(*) from landing.landed_transactions group by 1").values.tolist() == [["week-1", 1]]
    assert not [s for s in _schemas(warehouse) if "_load_" in s]
