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
    top = recommended.set_index("customer_id")["items"].map(lambda items: set(items[:k]))
    hit = [a in top.get(c, set()) for c, a in zip(truth["customer_id"], truth["article_id"])]
    return truth.assign(miss=~np.array(hit, dtype=bool))


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


def _normalise(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms == 0, 1, norms)


def less_wrong(top1: np.ndarray, truth_items: list[list[int]], embeddings: dict[int, np.ndarray]) -> float:
    """For missed users: cosine similarity of the top-1 item to the closest truly bought item.

    ``top1[i]`` is user i's first recommendation, ``truth_items[i]`` what they bought (only users with
    no hit should be passed). Items without an embedding are skipped. Higher is better: the misses
    point to the right region of the catalogue.
    """
    values = []
    for first, bought in zip(top1, truth_items):
        known = [embeddings[b] for b in bought if b in embeddings]
        if first not in embeddings or not known:
            continue
        sims = _normalise(np.vstack(known)) @ _normalise(embeddings[first][None, :]).T
        values.append(float(sims.max()))
    return float(np.mean(values)) if values else float("nan")


def latent_diversity(lists: list[list[int]], embeddings: dict[int, np.ndarray]) -> float:
    """Mean over lists of the mean pairwise cosine distance between the list's item embeddings."""
    values = []
    for items in lists:
        vecs = [embeddings[i] for i in items if i in embeddings]
        if len(vecs) < 2:
            continue
        unit = _normalise(np.vstack(vecs))
        sims = unit @ unit.T
        n = len(vecs)
        values.append(float(1 - (sims.sum() - n) / (n * (n - 1))))
    return float(np.mean(values)) if values else float("nan")
