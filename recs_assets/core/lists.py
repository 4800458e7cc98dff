"""From scored candidates to top-k lists (pure, vectorised over all customers: no Python per customer).

Customers become sorted integer codes and every step is a numpy sort or mask: a serving chunk of
millions of candidate rows is ranked without the per-customer Python calls of pandas' groupby with
list aggregation, which were many times slower."""

from __future__ import annotations

import numpy as np
import pandas as pd


def _sorted_head(code: np.ndarray, keys: tuple, k: int) -> np.ndarray:
    """Indices of the first ``k`` rows of each ``code`` group after a stable sort by code, then
    ``keys`` (numpy lexsort order: the last key is the primary one after code)."""
    order = np.lexsort((*keys, code))
    code = code[order]
    starts = np.r_[True, code[1:] != code[:-1]] if len(code) else np.zeros(0, bool)
    first = np.maximum.accumulate(np.where(starts, np.arange(len(code)), 0))
    return order[np.arange(len(code)) - first < k]


def top_lists(
    pairs: pd.DataFrame, scores, k: int, customers=None, fallback: list | None = None,
    exclude: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """customer_id, items, scores: each customer's ``k`` best-scored articles of ``pairs``
    (columns customer_id, article_id), best first, ties to the lower article id; rows sorted by
    customer id.

    With ``customers`` and ``fallback``: one row for every customer of ``customers`` (those without
    candidates too), short lists topped up with ``fallback`` articles they do not have yet, scored
    below the customer's last candidate so scores stay descending. ``exclude`` (customer_id,
    article_id pairs) keeps those articles out of the top-up too."""
    cust = pairs["customer_id"].to_numpy(dtype=object)
    art = pairs["article_id"].to_numpy()
    score = np.asarray(scores, dtype="float64")
    if customers is not None:
        customers = pd.unique(pd.Series(customers, dtype=object))
        keep = pd.Series(cust).isin(customers).to_numpy()
        cust, art, score = cust[keep], art[keep], score[keep]
        universe = pd.Index(customers).sort_values()
    else:
        universe = pd.Index(pd.unique(cust)).sort_values()
    code = universe.get_indexer(cust)
    head = _sorted_head(code, (art, -score), k)
    code, art, score = code[head], art[head], score[head]
    if customers is not None and fallback:
        fill = np.asarray(list(dict.fromkeys(fallback)))  # a customer may hold (or be barred from) some of them
        n, m = len(universe), len(fill)
        floor = np.zeros(n)
        lowest = pd.Series(score).groupby(code).min()
        floor[lowest.index.to_numpy()] = lowest.to_numpy()
        extra_code = np.repeat(np.arange(n), m)
        extra_art = np.tile(fill, n)
        extra_score = np.repeat(floor - 1.0, m) - np.tile(np.arange(m, dtype="float64"), n) * 1e-3
        if exclude is not None and len(exclude):
            banned = pd.MultiIndex.from_arrays([universe.get_indexer(exclude["customer_id"].to_numpy(dtype=object)),
                                                exclude["article_id"].to_numpy()])
            ok = ~pd.MultiIndex.from_arrays([extra_code, extra_art]).isin(banned)
            extra_code, extra_art, extra_score = extra_code[ok], extra_art[ok], extra_score[ok]
        if not len(art):  # no candidates (e.g. a popularity list): keep the fallback's dtype
            art = art.astype(extra_art.dtype)
        code = np.r_[code, extra_code]
        art = np.r_[art, extra_art]
        score = np.r_[score, extra_score]
        tier = np.r_[np.zeros(len(head), "int8"), np.ones(len(extra_code), "int8")]
        first = ~pd.DataFrame({"c": code, "a": art}).duplicated().to_numpy()  # a candidate beats its top-up twin
        code, art, score, tier = code[first], art[first], score[first], tier[first]
        head = _sorted_head(code, (-score, tier), k)
        code, art, score = code[head], art[head], score[head]
    if not len(code):
        return pd.DataFrame({"customer_id": pd.Series(dtype=object), "items": pd.Series(dtype=object),
                             "scores": pd.Series(dtype=object)})
    starts = np.flatnonzero(np.r_[True, code[1:] != code[:-1]])
    rounded = np.round(score, 6)
    return pd.DataFrame({
        "customer_id": universe[code[starts]].to_numpy(dtype=object),
        "items": [a.tolist() for a in np.split(art, starts[1:])],
        "scores": [s.tolist() for s in np.split(rounded, starts[1:])],
    })


def as_arrays(lists: pd.DataFrame, bought: dict) -> tuple[np.ndarray, list[set]]:
    """(recommended, relevant) as ``core.metrics`` reads them: one object row per list of ``lists``
    (customer_id, items), beside the set ``bought`` holds for its customer (empty when none)."""
    recommended = np.empty(len(lists), dtype=object)
    recommended[:] = [list(x) for x in lists["items"]]
    return recommended, [bought.get(c, set()) for c in lists["customer_id"]]
