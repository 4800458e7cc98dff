"""Ranking metrics over top-k lists and each user's set of relevant (truly bought) items.

``recommended`` is an (n_users, k) array of item ids, best first; ``relevant`` a list of n_users
sets. Users with no relevant items are skipped (they have nothing to retrieve). Each function
returns the mean over the remaining users.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from recs_service.service import DEFAULT_K as K  # the list length every stage scores and serves


def bought_sets(frame: pd.DataFrame, customer: str = "customer_id", item: str = "article_id") -> dict:
    """customer → set of the items in ``frame``'s rows: the ``relevant`` sets (a groupby's ``agg(set)``
    calls a Python function per customer, many times slower than this at H&M's size)."""
    codes, customers = pd.factorize(frame[customer])
    order = np.argsort(codes, kind="stable")
    items = frame[item].to_numpy()[order].tolist()
    bounds = np.searchsorted(codes[order], np.arange(len(customers) + 1)).tolist()
    return {c: set(items[bounds[i]:bounds[i + 1]]) for i, c in enumerate(customers)}


def _pairs(recommended: np.ndarray, relevant: Sequence[set]):
    if len(recommended) != len(relevant):
        raise ValueError(f"{len(recommended)} lists but {len(relevant)} relevant sets")
    # numpy rows become Python ints: hashing numpy scalars made set lookups the metrics' main cost
    return [(r.tolist() if isinstance(r, np.ndarray) else list(r), s) for r, s in zip(recommended, relevant) if s]


def recall_at_k(recommended: np.ndarray, relevant: Sequence[set], k: int) -> float:
    """mean_u |top_k(u) ∩ rel(u)| / |rel(u)|."""
    pairs = _pairs(recommended, relevant)
    if not pairs:
        return float("nan")
    return float(np.mean([len(set(r[:k]) & s) / len(s) for r, s in pairs]))


def ndcg_at_k(recommended: np.ndarray, relevant: Sequence[set], k: int) -> float:
    """mean_u DCG/IDCG with binary gains: DCG = Σ_{i<k, r_i ∈ rel} 1/log2(i+2),
    IDCG = Σ_{i<min(k,|rel|)} 1/log2(i+2)."""
    pairs = _pairs(recommended, relevant)
    if not pairs:
        return float("nan")
    discounts = 1.0 / np.log2(np.arange(2, k + 2))
    values = []
    for r, s in pairs:
        gains = np.array([item in s for item in r[:k]], dtype=float)
        dcg = float((gains * discounts[: len(gains)]).sum())
        idcg = float(discounts[: min(k, len(s))].sum())
        values.append(dcg / idcg)
    return float(np.mean(values))


def map_at_k(recommended: np.ndarray, relevant: Sequence[set], k: int) -> float:
    """H&M Kaggle MAP@k: AP@k = 1/min(|rel|, k) · Σ_{i≤k} P(i)·rel(i), averaged over users."""
    pairs = _pairs(recommended, relevant)
    if not pairs:
        return float("nan")
    return float(np.mean(average_precisions(recommended, relevant, k)))


def average_precisions(recommended: np.ndarray, relevant: Sequence[set], k: int) -> np.ndarray:
    """AP@k of each user with relevant items (``map_at_k``'s terms, for paired comparisons). An item
    repeated in a list counts once, at its first position: a list cannot earn a hit twice."""
    values = []
    for r, s in _pairs(recommended, relevant):
        hits, total, seen = 0, 0.0, set()
        for i, item in enumerate(r[:k]):
            if item in s and item not in seen:
                seen.add(item)
                hits += 1
                total += hits / (i + 1)
        values.append(total / min(len(s), k))
    return np.asarray(values, dtype=float)


def hit_rate_at_k(recommended: np.ndarray, relevant: Sequence[set], k: int) -> float:
    """Share of users with at least one relevant item in their top k."""
    pairs = _pairs(recommended, relevant)
    if not pairs:
        return float("nan")
    return float(np.mean([bool(set(r[:k]) & s) for r, s in pairs]))


def mrr_at_k(recommended: np.ndarray, relevant: Sequence[set], k: int) -> float:
    """mean_u 1/rank of the first relevant item in the top k (0 when there is none)."""
    pairs = _pairs(recommended, relevant)
    if not pairs:
        return float("nan")
    ranks = [next((1.0 / (i + 1) for i, item in enumerate(r[:k]) if item in s), 0.0) for r, s in pairs]
    return float(np.mean(ranks))


def coverage_at_k(recommended: np.ndarray, catalogue_size: int, k: int) -> float:
    """Share of the catalogue that appears in at least one user's top k."""
    if catalogue_size <= 0:
        raise ValueError("catalogue_size must be positive")
    return len(np.unique(np.asarray(recommended)[:, :k])) / catalogue_size


def popularity_bias_at_k(recommended: np.ndarray, item_popularity: dict, k: int) -> float:
    """Average recommendation popularity relative to the catalogue's mean popularity.

    ARP = mean over users of the mean train purchase count of their top-k items, divided by the mean
    count over the catalogue: 1.0 recommends like a uniform draw, higher leans on popular items.
    """
    counts = np.array(list(item_popularity.values()), dtype=float)
    if len(counts) == 0 or counts.mean() == 0:
        return float("nan")
    rows = [list(row[:k]) for row in recommended]
    sizes = np.array([len(r) for r in rows])
    if not len(rows) or (sizes == 0).any():  # as the mean of an empty list: NaN
        return float("nan")
    found = pd.Series(item_popularity, dtype=float).reindex(pd.Index([i for r in rows for i in r], dtype=object))
    values = found.fillna(0).to_numpy()
    per_user = np.add.reduceat(values, np.r_[0, np.cumsum(sizes)[:-1]]) / sizes
    return float(np.mean(per_user) / counts.mean())
