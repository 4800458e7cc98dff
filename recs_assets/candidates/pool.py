"""The union of every source's candidates (one row per customer × article, a rank and a score
column per source) and candidate recall: where held-out purchases are found, and where they are lost."""

from __future__ import annotations

import pandas as pd

SOURCES = ("history", "copurchase", "popularity", "popularity_age", "retrieval")


def union(candidates: pd.DataFrame) -> pd.DataFrame:
    """customer_id, article_id, ``<source>_rank`` and ``<source>_score`` for every source in SOURCES
    (NaN where the source did not propose the pair), ``n_sources``; sorted by customer. One DuckDB
    aggregation (a pandas pivot of the 10M rows of a serving chunk took minutes and gigabytes)."""
    import duckdb

    unknown = set(candidates["source"].unique()) - set(SOURCES)
    if unknown:
        raise ValueError(f"candidates name unknown source(s) {sorted(unknown)}; known: {SOURCES}")
    columns = ", ".join(
        f"min(source_rank) filter (where source = '{s}')::double as {s}_rank, "
        f"min(source_score) filter (where source = '{s}')::double as {s}_score" for s in SOURCES)
    found = " + ".join(f"(min(source_rank) filter (where source = '{s}') is not null)::int" for s in SOURCES)
    con = duckdb.connect()
    try:
        con.register("c", candidates[["customer_id", "article_id", "source", "source_rank", "source_score"]])
        wide = con.execute(f"""
            select customer_id, article_id, {columns}, ({found})::tinyint as n_sources
            from c group by customer_id, article_id order by customer_id, article_id
        """).df()
    finally:
        con.close()
    return wide


def recall_counts(candidates: pd.DataFrame, labels: pd.DataFrame) -> dict[str, float]:
    """What candidate recall is made of, for one chunk of customers (counts add up across chunks):
    labelled pairs of the customers that have candidates, those each source and the union find, and
    the distinct candidate pairs and customers."""
    served = labels[labels["customer_id"].isin(candidates["customer_id"].unique())]
    truth = served[["customer_id", "article_id"]].drop_duplicates()
    pairs = candidates[["customer_id", "article_id"]].drop_duplicates()
    out = {"label_pairs": float(len(truth)), "union": float(len(truth.merge(pairs))),
           "pairs": float(len(pairs)), "customers": float(pairs["customer_id"].nunique())}
    for source in SOURCES:
        found = candidates.loc[candidates["source"] == source, ["customer_id", "article_id"]].drop_duplicates()
        out[source] = float(len(truth.merge(found)))
    return out


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
