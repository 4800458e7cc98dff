"""The purchases every candidate source and ranking feature reads, in an in-process DuckDB.

The warehouse (DuckDB or Snowflake) hands over three narrow tables once; the set-based work (window
functions, self-joins, aggregations) then runs in an embedded DuckDB, the same SQL whatever the
warehouse is. Every query takes a cut-off day and reads only purchases strictly before it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb
import numpy as np
import pandas as pd

from recs_assets.resources.warehouse import duckdb_memory_config

PURCHASE_COLUMNS = ["customer_id", "article_id", "t_dat", "price", "quantity"]
ARTICLE_COLUMNS = ["article_id", "product_type_no", "colour_group_code", "index_group_no", "garment_group_no",
                   "product_group_name"]
CUSTOMER_COLUMNS = ["customer_id", "age"]


@dataclass
class PurchaseLog:
    """An embedded DuckDB holding ``purchases`` (by ``cix``, the customer's integer code from
    ``customer_codes``: 1, 2, … in customer id order; ``purchases_with_ids`` adds ``customer_id``),
    ``customers`` (both columns) and ``articles``."""

    con: duckdb.DuckDBPyConnection
    _ids: np.ndarray | None = field(default=None, repr=False)

    @classmethod
    def from_frames(cls, purchases, articles, customers, threads: int | None = None) -> "PurchaseLog":
        """From pandas DataFrames or pyarrow Tables (columns as in PURCHASE/ARTICLE/CUSTOMER_COLUMNS)."""
        for name, frame, columns in (("purchases", purchases, PURCHASE_COLUMNS),
                                     ("articles", articles, ARTICLE_COLUMNS),
                                     ("customers", customers, CUSTOMER_COLUMNS)):
            missing = [c for c in columns if c not in list(frame.columns if isinstance(frame, pd.DataFrame)
                                                           else frame.column_names)]
            if missing:
                raise ValueError(f"{name} is missing column(s) {missing}")
        # DuckDB keeps what it allocated up to its memory limit (default 80 % of RAM): bound it, and let
        # the large joins spill to disk instead of holding memory the rest of the run needs.
        con = duckdb.connect(config=duckdb_memory_config())
        if threads:
            con.execute(f"set threads = {int(threads)}")
        p, a, c = purchases, articles, customers  # noqa: F841  (DuckDB reads them by name)
        # ``cix``: an integer code per customer (every customer of either table), in id order. Ids are
        # strings (64 hex characters at H&M); joins, groupings and window partitions on an integer are
        # much faster, and results carry the code, not the string.
        con.execute("create table customer_codes as select customer_id, (row_number() over (order by customer_id))"
                    "::integer as cix from (select customer_id from p union select customer_id from c)")
        # ``purchases`` holds the code, not the id string, stored in code order: a chunk of consecutive
        # customers then reads a narrow range of it (DuckDB skips the rest of the table in its joins), which
        # makes each chunk's features query much faster for a slightly longer build (ordering a table that
        # holds the id strings costs far more). ``purchases_with_ids`` adds the ids.
        con.execute("create table purchases as select k.cix, p.article_id, cast(p.t_dat as date) as t_dat,"
                    " cast(p.price as double) as price, cast(p.quantity as integer) as quantity"
                    " from p join customer_codes k using (customer_id) order by k.cix")
        con.execute("create view purchases_with_ids as select k.customer_id, p.*"
                    " from purchases p join customer_codes k using (cix)")
        con.execute(f"create table articles as select {', '.join(ARTICLE_COLUMNS)} from a")
        con.execute(f"create table customers as select {', '.join('c.' + n for n in CUSTOMER_COLUMNS)}, k.cix"
                    " from c join customer_codes k using (customer_id)")
        return cls(con)

    @classmethod
    def from_warehouse(cls, warehouse) -> "PurchaseLog":
        """Every deduplicated purchase (all customers, all days) with the article and customer columns,
        handed over as Arrow (31.8M purchases at H&M's size: pandas objects would take far more memory)."""
        return cls.from_frames(
            warehouse.query_arrow(f"select {', '.join(PURCHASE_COLUMNS)} from marts.transactions_dedup"),
            warehouse.query_arrow(f"select {', '.join(ARTICLE_COLUMNS)} from staging.stg_articles"),
            warehouse.query_arrow(f"select {', '.join(CUSTOMER_COLUMNS)} from staging.stg_customers"),
        )

    def customer_ids(self, cix) -> np.ndarray:
        """The customer ids of integer codes ``cix`` (object array): a lookup, no strings from DuckDB."""
        if self._ids is None:
            codes = self.con.execute("select cix, customer_id from customer_codes").df()
            ids = np.empty(len(codes) + 1, dtype=object)
            ids[codes["cix"].to_numpy()] = codes["customer_id"].to_numpy()
            self._ids = ids
        return self._ids[np.asarray(cix, dtype=np.int64)]

    def query(self, sql: str, **params) -> pd.DataFrame:
        return self.con.execute(sql, params or None).df()

    def tables(self) -> set[str]:
        """Names of the tables and temp tables in the log."""
        return {r[0] for r in self.con.execute("select table_name from duckdb_tables()").fetchall()}

    def register(self, name: str, frame: pd.DataFrame) -> None:
        """Make ``frame`` queryable as table ``name`` (replacing an earlier one)."""
        self.con.register(name, frame)

    def buyers(self, start, days: int = 7) -> pd.DataFrame:
        """(customer_id, article_id) bought in ``[start, start + days)``: the labels of a window."""
        return self.query(
            "select distinct customer_id, article_id from purchases_with_ids"
            " where t_dat >= $start and t_dat < $start + to_days($days)",
            start=pd.Timestamp(start).date(), days=days,
        )

    def customers_before(self, cutoff) -> pd.Series:
        """Every customer with a purchase before ``cutoff``, in customer id order."""
        return self.query("select customer_id from customer_codes semi join (select cix from purchases"
                          " where t_dat < $cutoff) using (cix) order by cix",
                          cutoff=pd.Timestamp(cutoff).date())["customer_id"]

    def fingerprint(self) -> str:
        """Order-independent fingerprint of the purchases: count and a hash of every row."""
        n, digest = self.con.execute(
            "select count(*), coalesce(sum(hash(customer_id, article_id, t_dat, price)), 0)"
            " from purchases_with_ids").fetchone()
        return f"{n}-{int(digest) & 0xFFFFFFFFFFFF:012x}"
