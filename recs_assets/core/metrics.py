"""Ranking metrics over top-k lists and each user's set of relevant (truly bought) items.

``recommended`` is an (n_users, k) array of item ids, best first; ``relevant`` a list of n_users
sets. Users with no relevant items are skipped (they have nothing to retrieve). Each function
returns the mean over the remaining users.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _pairs(recommended: np.ndarray, relevant: Sequence[set]):
    if len(recommended) != len(relevant):
        raise ValueError(f"{len(recommended)} lists but {len(relevant)} relevant sets")
    return [(list(r), s) for r, s in zip(recommended, relevant) if s]


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
