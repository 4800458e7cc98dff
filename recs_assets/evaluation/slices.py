"""Sliced miss rates and the EvalRS "miss rate equality difference" (MRED), plus embedding-space tests.

A *pair* is one (user, truly bought item) of the held-out week; it is a miss when the item is not in
the user's top k. For a slicing of the pairs (user activity, item popularity, age band, product group)
MRED = mean over slices of |miss rate of the slice − overall miss rate|: 0 means every slice is
served equally well.
"""

from __future__ import annotations

import numpy as np
import pandas as pd


def pair_misses(recommended: pd.DataFrame, truth: pd.DataFrame, k: int) -> pd.DataFrame:
    """``truth`` rows (customer_id, article_id, …slice columns) with a boolean ``miss`` column.

    ``recommended`` has columns customer_id and ``items`` (list of article ids, best first).
    """
    top = [list(items)[:k] for items in recommended["items"]]
    sizes = [len(t) for t in top]
    shown_customers = np.repeat(recommended["customer_id"].to_numpy(dtype=object), sizes)
    shown_items = np.fromiter((a for t in top for a in t), dtype=np.int64, count=sum(sizes))
    # (customer, article) as one integer per pair, codes shared by both sides
    customers = pd.factorize(np.concatenate([shown_customers, truth["customer_id"].to_numpy(dtype=object)]))[0]
    items = pd.factorize(np.concatenate([shown_items, truth["article_id"].to_numpy(dtype=np.int64)]))[0]
    pairs = customers.astype(np.int64) * (items.max(initial=0) + 1) + items
    return truth.assign(miss=~np.isin(pairs[len(shown_items):], pairs[:len(shown_items)]))


def miss_rates(pairs: pd.DataFrame, by: str) -> dict[str, float]:
    """Miss rate per slice value (keys as strings, for JSON and charts)."""
    rates = pairs.groupby(by)["miss"].mean()
    return {str(k): float(v) for k, v in rates.items()}


# Slices no list can serve, left out of MRED (slice and overall rate; their miss rate is still
# reported): articles first sold in the held-out week were unknown when the lists were made.
UNJUDGED = {"item_popularity": ("new",)}


def mred(pairs: pd.DataFrame, by: str, min_pairs: int = 1) -> float:
    """Mean absolute deviation of the slices' miss rates from the overall miss rate.

    Slices with fewer than ``min_pairs`` pairs are left out: their miss rate is mostly noise; so are
    the UNJUDGED ones. NaN when no slice is large enough.
    """
    pairs = pairs[~pairs[by].isin(UNJUDGED.get(by, ()))]
    overall = pairs["miss"].mean()
    sizes = pairs.groupby(by).size()
    rates = {k: v for k, v in miss_rates(pairs, by).items() if sizes[k] >= min_pairs}
    return float(np.mean([abs(v - overall) for v in rates.values()])) if rates else float("nan")


def activity_bin(purchases: pd.Series) -> pd.Series:
    """User activity bins over train purchase counts."""
    return pd.cut(purchases, [0, 4, 9, 19, np.inf], labels=["1-4", "5-9", "10-19", "20+"]).astype(str)


def age_band(age: pd.Series) -> pd.Series:
    return pd.cut(age, [0, 24, 34, 49, np.inf], labels=["<25", "25-34", "35-49", "50+"]).astype(str).replace("nan", "unknown")


def popularity_bin(counts: pd.Series, bins: int = 4) -> pd.Series:
    """Quartiles of train purchase counts (0 = least popular); items unseen in train are 'new'."""
    ranked = counts.rank(method="first")
    labelled = pd.qcut(ranked, bins, labels=[f"q{i + 1}" for i in range(bins)]).astype(str)
    return labelled


def _unit_rows(ids, embeddings: dict[int, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """(matrix of unit-length embeddings with a zero last row, row of each id: the zero row when
    the id has no embedding). Zero vectors stay zero."""
    known = list(embeddings)
    matrix = np.vstack([np.asarray(embeddings[i], dtype=np.float32) for i in known]
                       + [np.zeros(len(next(iter(embeddings.values()))), dtype=np.float32)])
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    matrix = matrix / np.where(norms == 0, 1, norms)
    rows = pd.Series(np.arange(len(known)), index=np.asarray(known, dtype=np.int64)).reindex(
        np.asarray(ids, dtype=np.int64))
    return matrix, rows.fillna(len(known)).to_numpy(dtype=np.int64)


def less_wrong(top1: np.ndarray, truth_items: list[list[int]], embeddings: dict[int, np.ndarray]) -> float:
    """For missed users: cosine similarity of the top-1 item to the closest truly bought item.

    ``top1[i]`` is user i's first recommendation, ``truth_items[i]`` what they bought (only users with
    no hit should be passed). Items without an embedding are skipped. Higher is better: the misses
    point to the right region of the catalogue.
    """
    sizes = np.array([len(b) for b in truth_items], dtype=np.int64)
    if not embeddings or not sizes.sum():
        return float("nan")
    matrix, rows = _unit_rows([*top1, *(b for items in truth_items for b in items)], embeddings)  # one matrix
    first, bought = rows[:len(top1)], rows[len(top1):]
    user = np.repeat(np.arange(len(sizes)), sizes)
    missing = len(matrix) - 1
    keep = (bought != missing) & (first[user] != missing)  # unknown items are skipped
    if not keep.any():
        return float("nan")
    sims = np.einsum("ij,ij->i", matrix[bought[keep]], matrix[first[user[keep]]])
    return float(pd.Series(sims).groupby(user[keep]).max().mean())


def latent_diversity(lists: list[list[int]], embeddings: dict[int, np.ndarray], batch: int = 20_000) -> float:
    """Mean over lists of the mean pairwise cosine distance between the list's item embeddings
    (items without an embedding left out; lists with fewer than two embedded items skipped)."""
    if not embeddings or not len(lists):
        return float("nan")
    width = max(len(items) for items in lists)
    padded, filled = np.zeros((len(lists), width), dtype=np.int64), np.zeros((len(lists), width), dtype=bool)
    for i, items in enumerate(lists):
        padded[i, :len(items)], filled[i, :len(items)] = list(items), True
    matrix, rows = _unit_rows(padded.reshape(-1), embeddings)
    rows = np.where(filled, rows.reshape(len(lists), width), len(matrix) - 1)  # padding: the zero row
    n = (rows != len(matrix) - 1).sum(axis=1)
    values = []
    for start in range(0, len(lists), batch):  # bounded memory: batch × width × dim floats
        summed = matrix[rows[start:start + batch]].sum(axis=1)
        total = np.einsum("ud,ud->u", summed, summed)  # = Σ of the list's similarity matrix, |Σ v|²
        m = n[start:start + batch]
        ok = m >= 2
        values.append(1 - (total[ok] - m[ok]) / (m[ok] * (m[ok] - 1)))
    values = np.concatenate(values)
    return float(values.mean()) if len(values) else float("nan")
