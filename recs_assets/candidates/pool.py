"""The union of every source's candidates (one row per customer × article, a rank and a score
column per source) and candidate recall: where held-out purchases are found, and where they are lost.

Both are SQL over a table of candidate rows (customer_id, article_id, source, source_rank,
source_score) inside a DuckDB connection, so a serving chunk of millions of rows never goes through
pandas; ``union`` and ``recall_counts`` run the same SQL on DataFrames."""

from __future__ import annotations

import duckdb
import pandas as pd

SOURCES = ("history", "copurchase", "popularity", "popularity_age", "retrieval", "als")


def union_sql(table: str) -> str:
    """customer_id, article_id, ``<source>_rank`` and ``<source>_score`` for every source in SOURCES
    (NULL where the source did not propose the pair), ``n_sources``; sorted by customer, article."""
    columns = ", ".join(
        f"min(source_rank) filter (where source = '{s}')::double as {s}_rank, "
        f"min(source_score) filter (where source = '{s}')::double as {s}_score" for s in SOURCES)
    found = " + ".join(f"(min(source_rank) filter (where source = '{s}') is not null)::int" for s in SOURCES)
    return (f"select customer_id, article_id, {columns}, ({found})::tinyint as n_sources from {table}"
            " group by customer_id, article_id order by customer_id, article_id")


def check_sources(con, table: str) -> None:
    known = ", ".join(f"'{s}'" for s in SOURCES)
    unknown = [r[0] for r in con.execute(f"select distinct source from {table} where source not in ({known})").fetchall()]
    if unknown:
        raise ValueError(f"candidates name unknown source(s) {sorted(unknown)}; known: {SOURCES}")


def recall_counts_sql(con, table: str, labels: str) -> dict[str, float]:
    """What candidate recall is made of, for the customers of candidate table ``table`` (counts add up
    across chunks): labelled pairs (table ``labels``: customer_id, article_id) of the customers that have
    candidates, those each source and the union find, and the distinct candidate pairs and customers."""
    flags = ", ".join(f"max((c.source = '{s}')::int) as {s}" for s in SOURCES)
    row = con.execute(f"""
        with who as (select distinct customer_id from {table}),
        truth as (select distinct l.customer_id, l.article_id from {labels} l join who using (customer_id)),
        hits as (
            select t.customer_id, t.article_id, max((c.source is not null)::int) as found_any, {flags}
            from truth t left join {table} c on c.customer_id = t.customer_id and c.article_id = t.article_id
            group by 1, 2
        )
        select count(*), coalesce(sum(found_any), 0), {", ".join(f"coalesce(sum({s}), 0)" for s in SOURCES)}
        from hits
    """).fetchone()
    pairs, customers = con.execute(
        f"select count(*), count(distinct customer_id) from (select distinct customer_id, article_id from {table})"
    ).fetchone()
    out = {"label_pairs": float(row[0]), "union": float(row[1]), "pairs": float(pairs), "customers": float(customers)}
    out.update({s: float(v) for s, v in zip(SOURCES, row[2:])})
    return out


def union(candidates: pd.DataFrame) -> pd.DataFrame:
    """``union_sql`` of a DataFrame of candidate rows."""
    con = duckdb.connect()
    try:
        con.register("c", candidates)
        check_sources(con, "c")
        return con.execute(union_sql("c")).df()
    finally:
        con.close()


def recall_counts(candidates: pd.DataFrame, labels: pd.DataFrame) -> dict[str, float]:
    """``recall_counts_sql`` of DataFrames."""
    con = duckdb.connect()
    try:
        con.register("c", candidates)
        con.register("l", labels[["customer_id", "article_id"]])
        return recall_counts_sql(con, "c", "l")
    finally:
        con.close()


def recall_from_counts(counts: list[dict[str, float]]) -> dict[str, float]:
    """Share of the labelled (customer, article) pairs that each source, and the union, proposes;
    only customers that have candidates count. Plus the mean number of distinct candidates per customer."""
    total = {key: sum(c[key] for c in counts) for key in counts[0]} if counts else {}
    out = {"label_pairs": total.get("label_pairs", 0.0)}
    if not out["label_pairs"]:
        return {**out, **{s: float("nan") for s in (*SOURCES, "union")}, "candidates_per_customer": float("nan")}
    out.update({s: total[s] / total["label_pairs"] for s in (*SOURCES, "union")})
    out["candidates_per_customer"] = total["pairs"] / total["customers"]
    return out


def candidate_recall(candidates: pd.DataFrame, labels: pd.DataFrame) -> dict[str, float]:
    """``recall_from_counts`` of one frame of candidates."""
    return recall_from_counts([recall_counts(candidates, labels)])
