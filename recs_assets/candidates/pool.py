"""The union of every source's candidates (one row per customer × article, a rank and a score
column per source) and candidate recall: where held-out purchases are found, and where they are lost."""

from __future__ import annotations

import numpy as np
import pandas as pd

SOURCES = ("history", "copurchase", "popularity", "popularity_age", "retrieval")


def union(candidates: pd.DataFrame) -> pd.DataFrame:
    """customer_id, article_id, ``<source>_rank`` and ``<source>_score`` for every source in SOURCES
    (NaN where the source did not propose the pair), ``n_sources``; sorted by customer."""
    unknown = set(candidates["source"].unique()) - set(SOURCES)
    if unknown:
        raise ValueError(f"candidates name unknown source(s) {sorted(unknown)}; known: {SOURCES}")
    wide = candidates.pivot_table(index=["customer_id", "article_id"], columns="source",
                                  values=["source_rank", "source_score"], aggfunc="min")
    wide.columns = [f"{source}_{'rank' if value == 'source_rank' else 'score'}" for value, source in wide.columns]
    for source in SOURCES:
        for suffix in ("rank", "score"):
            if f"{source}_{suffix}" not in wide.columns:
                wide[f"{source}_{suffix}"] = np.nan
    wide = wide.reset_index()
    wide["n_sources"] = wide[[f"{s}_rank" for s in SOURCES]].notna().sum(axis=1).astype("int8")
    ordered = ["customer_id", "article_id", *[f"{s}_{x}" for s in SOURCES for x in ("rank", "score")], "n_sources"]
    return wide[ordered].sort_values(["customer_id", "article_id"], kind="stable").reset_index(drop=True)


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
