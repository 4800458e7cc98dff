"""Loading raw tables: each source on small data, every bad input rejected with a clear message,
and a failed load leaving the previous tables exactly as they were."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from recs_assets.ingest.complete_journey import map_complete_journey
from recs_assets.ingest.hm_csv import read_hm_csv, write_hm_csv
from recs_assets.ingest.load import load_raw
from recs_assets.ingest.sources import RawSource
from recs_assets.ingest.synthetic import SyntheticGenerator, SyntheticSpec
from recs_assets.ingest.validation import RawDataError

TINY = SyntheticSpec(scale=0.0005, seed=3)


@pytest.fixture(scope="module")
def hm_dir(tmp_path_factory):
    return write_hm_csv(tmp_path_factory.mktemp("hm"), SyntheticGenerator(TINY))


@pytest.fixture
def bad_dir(hm_dir, tmp_path):
    """A writable copy of the good CSVs, to break one thing in."""
    return shutil.copytree(hm_dir, tmp_path / "hm")


def _table_counts(warehouse) -> dict[str, int]:
    return {
        t: warehouse.table_stats("raw", t)[0]
        for t in ("raw_customers", "raw_articles", "raw_transactions")
    }


def _all_tables(warehouse) -> list[str]:
    return sorted(warehouse.query("select table_name from information_schema.tables")["table_name"])


def test_synthetic_source_loads_all_tables(warehouse):
    rows = load_raw(warehouse, RawSource(scale=TINY.scale, seed=TINY.seed).chunks(), "load-1")
    assert rows == _table_counts(warehouse)
    assert rows["raw_customers"] == TINY.n_customers
    loaded = warehouse.query("select distinct load_id from raw.raw_transactions")
    assert loaded["load_id"].tolist() == ["load-1"]


def test_hm_csv_round_trips_generator_output(warehouse, hm_dir):
    rows = load_raw(warehouse, RawSource(name="hm_csv", path=str(hm_dir)).chunks(), "csv")
    g = SyntheticGenerator(TINY)
    expected = pd.concat(g.transactions(), ignore_index=True)
    assert rows["raw_transactions"] == len(expected)
    assert rows["raw_articles"] == len(g.articles)
    loaded = warehouse.query("select sum(price) as p, count(distinct customer_id) as c from raw.raw_transactions")
    assert loaded["p"].iloc[0] == pytest.approx(expected["price"].sum())
    assert loaded["c"].iloc[0] == expected["customer_id"].nunique()


def test_hm_csv_reads_in_chunks(hm_dir):
    chunks = [c for c in read_hm_csv(hm_dir, chunk_rows=500) if c[0].name == "raw_transactions"]
    assert len(chunks) > 2 and all(len(frame) <= 500 for _, _, frame in chunks)


def _rewrite(path, edit):
    frame = pd.read_csv(path, dtype=str)
    edit(frame).to_csv(path, index=False)


def _set(column, row, value):
    def edit(frame):
        frame.loc[row, column] = value
        return frame

    return edit


BAD_INPUTS = {
    "missing file": (lambda d: (d / "articles.csv").unlink(), r"articles\.csv: file is missing"),
    "renamed column": (
        lambda d: _rewrite(d / "customers.csv", lambda f: f.rename(columns={"age": "Age_years"})),
        r"customers\.csv: missing column\(s\) \['age'\].*not expected: \['Age_years'\]",
    ),
    "unparsable date": (
        lambda d: _rewrite(d / "transactions_train.csv", _set("t_dat", 4, "2020-13-45")),
        r"transactions_train\.csv: column 't_dat' has 1 value\(s\) that are not dates.*'2020-13-45'",
    ),
    "unparsable number": (
        lambda d: _rewrite(d / "transactions_train.csv", _set("price", 2, "cheap")),
        r"transactions_train\.csv: column 'price' has 1 value\(s\) that are not float numbers.*'cheap'",
    ),
    "null key": (
        lambda d: _rewrite(d / "articles.csv", _set("article_id", 0, None)),
        r"articles\.csv: column 'article_id' has 1 empty value\(s\)",
    ),
    "duplicate key": (
        lambda d: _rewrite(d / "customers.csv", lambda f: pd.concat([f, f.head(2)])),
        r"raw_customers: duplicate customer_id values: 2",
    ),
    "negative price": (
        lambda d: _rewrite(d / "transactions_train.csv", _set("price", 1, "-0.5")),
        r"transactions_train\.csv: column 'price' has 1 negative value\(s\).*-0\.5",
    ),
    "unknown customer": (
        lambda d: _rewrite(d / "customers.csv", lambda f: f.iloc[5:]),
        r"raw_transactions: rows whose customer_id is not in customers: \d+ \(e\.g\.",
    ),
    "unknown article": (
        lambda d: _rewrite(
            d / "transactions_train.csv", lambda f: f.assign(article_id=f["article_id"].where(f.index > 2, "999"))
        ),
        r"raw_transactions: rows whose article_id is not in articles: 3 \(e\.g\. '999'\)",
    ),
    "header-only file": (
        lambda d: _rewrite(d / "transactions_train.csv", lambda f: f.iloc[:0]),
        r"transactions_train\.csv: no rows for raw_transactions",
    ),
    "zero-byte file": (
        lambda d: (d / "articles.csv").write_text(""),
        r"articles\.csv: file is empty",
    ),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_rejected_and_previous_tables_stay(case, warehouse, bad_dir):
    load_raw(warehouse, RawSource(scale=TINY.scale, seed=TINY.seed).chunks(), "good")
    before_counts, before_tables = _table_counts(warehouse), _all_tables(warehouse)
    break_it, message = BAD_INPUTS[case]
    break_it(bad_dir)
    with pytest.raises(RawDataError, match=message):
        load_raw(warehouse, RawSource(name="hm_csv", path=str(bad_dir)).chunks(), "bad")
    assert _table_counts(warehouse) == before_counts
    assert _all_tables(warehouse) == before_tables  # no staging table left behind
    assert warehouse.query("select distinct load_id from raw.raw_customers")["load_id"].tolist() == ["good"]


# A load that stages its first chunk, says so, then blocks until it is killed (SIGKILL: no clean-up runs).
_KILLED_LOAD = """
import sys
from recs_assets.ingest.load import load_raw
from recs_assets.ingest.sources import RawSource
from recs_assets.resources.warehouse import DuckDBWarehouse

def chunks():
    source = RawSource(scale=float(sys.argv[2]), seed=int(sys.argv[3])).chunks()
    yield next(source)
    print("staged", flush=True)  # the chunk above is in a staging table by now
    sys.stdin.read()
    yield from source

load_raw(DuckDBWarehouse(path=sys.argv[1]), chunks(), "run-killed-while-staging")
"""


def _staging_tables(warehouse) -> list[str]:
    return [t for t in _all_tables(warehouse) if t.startswith("_staging_")]


def test_the_next_load_removes_what_a_killed_load_staged(warehouse):
    load_raw(warehouse, RawSource(scale=TINY.scale, seed=TINY.seed).chunks(), "before")
    killed = subprocess.Popen([sys.executable, "-c", _KILLED_LOAD, warehouse.path, str(TINY.scale), str(TINY.seed)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parent.parent)
    try:
        assert killed.stdout.readline() == "staged\n"
    finally:
        killed.kill()
        killed.wait()
    left = _staging_tables(warehouse)
    assert left and all("run_killed_while_staging" in t for t in left)  # what a killed run leaves
    assert warehouse.query("select distinct load_id from raw.raw_customers")["load_id"].tolist() == ["before"]
    rows = load_raw(warehouse, RawSource(scale=TINY.scale, seed=TINY.seed).chunks(), "next")
    assert _staging_tables(warehouse) == []
    assert rows == _table_counts(warehouse)
    assert warehouse.query("select distinct load_id from raw.raw_customers")["load_id"].tolist() == ["next"]


def test_hm_csv_needs_a_path():
    with pytest.raises(ValueError, match="needs path"):
        RawSource(name="hm_csv").chunks()


def test_complete_journey_mapping_on_handmade_rows():
    ts = pd.to_datetime(["2017-03-01 10:00", "2017-03-02 11:00", "2017-03-02 12:00", "2017-03-05 09:00", "2017-03-06 09:00"])
    transactions = pd.DataFrame(
        {
            "household_id": [1, 1, 2, 2, 2],
            "store_id": [10, 10, 20, 30, 30],
            "basket_id": [1, 2, 3, 4, 5],
            "product_id": [100, 101, 100, 555, 101],  # 555 is not a known product
            "quantity": [2, 1, 1, 1, 0],  # the last line is a zero-quantity line
            "sales_value": [3.0, 1.5, 1.4, 2.0, 0.0],
            "transaction_timestamp": ts,
        }
    )
    products = pd.DataFrame(
        {
            "product_id": [100, 101],
            "manufacturer_id": [7, 8],
            "department": ["GROCERY", None],
            "brand": ["Private", "National"],
            "product_category": ["BREAD", "MILK"],
            "product_type": ["BREAD:ITALIAN", "MILK:WHOLE"],
            "package_size": ["22 OZ", None],
        }
    )
    demographics = pd.DataFrame({"household_id": [2], "age": ["45-54"]})
    customers, articles, tx, notes = map_complete_journey(transactions, products, demographics)

    assert customers["customer_id"].tolist() == ["cj1", "cj2"]
    assert customers["age"].isna().tolist() == [True, False] and customers["age"].iloc[1] == 50
    assert customers["postal_code"].tolist() == ["store10", "store20"]  # the most visited store
    assert articles.set_index("article_id").loc[100, "index_code"] == "P"
    # a missing department becomes "Unknown", coded like any other value (sorted: GROCERY=0, Unknown=1)
    assert articles.set_index("article_id")["department_no"].to_dict() == {100: 0, 101: 1}
    assert tx["price"].tolist() == [1.5, 1.5, 1.4]  # unit price = sales_value / quantity
    assert tx["t_dat"].tolist() == list(pd.to_datetime(["2017-03-01", "2017-03-02", "2017-03-02"]))
    assert notes == [
        "dropped 1 lines whose product_id is not in products",
        "dropped 1 lines with quantity or sales_value <= 0",
    ]


def test_complete_journey_real_data_loads(warehouse):
    source = RawSource(name="complete_journey")
    rows = load_raw(warehouse, source.chunks(), "cj")
    assert rows["raw_customers"] == 2_469  # every household that bought something
    assert rows["raw_articles"] == 92_331
    assert 1_400_000 < rows["raw_transactions"] < 1_469_307
    assert any("not in products" in n for n in source.notes)
    span = warehouse.query("select min(t_dat) as a, max(t_dat) as b from raw.raw_transactions").iloc[0]
    assert str(span["a"])[:10] == "2017-01-01" and str(span["b"])[:10] >= "2017-12-31"
