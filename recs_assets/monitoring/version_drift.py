"""How much one published version's lists differ from the previous one's (plain functions over the
lists' parquet files, computed in DuckDB so H&M-sized versions stay cheap)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd


@dataclass(frozen=True)
class VersionDrift:
    """Consecutive versions compared on the customers both hold a list for."""

    customers: int  # customers with a list in both versions
    mean_overlap: float  # mean share of the k articles the two lists have in common
    changed_share: float  # share of those customers whose list (order included) changed
    added_customers: int  # customers with a list only in the new version
    removed_customers: int
    entering: list  # articles in the new version's most-recommended set, not in the old one's
    leaving: list
    popularity_before: float  # mean popularity of the recommended articles ÷ the catalogue's mean
    popularity_after: float


def version_drift(before: Path, after: Path, k: int, popularity: pd.DataFrame, top: int = 20) -> VersionDrift:
    """Compare the lists in parquet files ``before`` and ``after`` (customer_id, items); ``popularity``
    holds (article_id, n) purchase counts that define popularity bias."""
    import duckdb

    con = duckdb.connect()
    try:
        con.register("popularity", popularity[["article_id", "n"]])
        for name, path in (("old", before), ("new", after)):
            con.execute(f"create table {name} as select customer_id, items[1:{int(k)}] as items"
                        " from read_parquet(?)", [str(path)])
        customers, overlap, changed = con.execute(
            f"select count(*), coalesce(avg(len(list_intersect(o.items, n.items)) / {int(k)}), 1),"
            " coalesce(avg(case when o.items = n.items then 0 else 1 end), 0)"
            " from old o join new n using (customer_id)").fetchone()
        added = con.execute("select count(*) from new anti join old using (customer_id)").fetchone()[0]
        removed = con.execute("select count(*) from old anti join new using (customer_id)").fetchone()[0]

        def most_recommended(name: str) -> list:
            return [r[0] for r in con.execute(
                f"select item from (select unnest(items) as item from {name}) group by item"
                f" order by count(*) desc, item limit {int(top)}").fetchall()]

        def bias(name: str) -> float:
            mean = con.execute("select avg(n) from popularity").fetchone()[0]
            value = con.execute(f"select avg(coalesce(p.n, 0)) from (select unnest(items) as item from {name}) i"
                                " left join popularity p on p.article_id = i.item").fetchone()[0]
            return float(value / mean) if mean and value is not None else float("nan")

        old_top, new_top = most_recommended("old"), most_recommended("new")
        return VersionDrift(
            customers=int(customers), mean_overlap=float(overlap), changed_share=float(changed),
            added_customers=int(added), removed_customers=int(removed),
            entering=[a for a in new_top if a not in old_top], leaving=[a for a in old_top if a not in new_top],
            popularity_before=bias("old"), popularity_after=bias("new"),
        )
    finally:
        con.close()


def drift_problems(drift: VersionDrift, data_growth: float, min_overlap: float, max_data_growth: float) -> list[str]:
    """Why the change is suspicious: the lists moved a lot (mean overlap below ``min_overlap``) while the
    purchases they were computed from grew by less than ``max_data_growth`` (a share)."""
    if drift.customers and drift.mean_overlap < min_overlap and data_growth < max_data_growth:
        return [f"mean overlap@k {drift.mean_overlap:.2f} < {min_overlap:.2f} with the previous version while"
                f" the purchases grew by only {data_growth:.1%} ({drift.changed_share:.0%} of the lists changed)"]
    return []
