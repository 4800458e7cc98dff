"""From scored candidates to top-k lists (pure, vectorised over all customers: no Python per customer)."""

from __future__ import annotations

import numpy as np
import pandas as pd


def top_lists(
    pairs: pd.DataFrame, scores, k: int, customers=None, fallback: list | None = None,
    exclude: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """customer_id, items, scores: each customer's ``k`` best-scored articles of ``pairs``
    (columns customer_id, article_id), best first, ties to the lower article id.

    With ``customers`` and ``fallback``: one row for every customer of ``customers`` (those without
    candidates too), short lists topped up with ``fallback`` articles they do not have yet, scored
    below the customer's last candidate so scores stay descending. ``exclude`` (customer_id,
    article_id pairs) keeps those articles out of the top-up too."""
    frame = pd.DataFrame({"customer_id": pairs["customer_id"].to_numpy(),
                          "article_id": pairs["article_id"].to_numpy(),
                          "score": np.asarray(scores, dtype="float64"), "tier": 0})
    if customers is not None:
        customers = pd.Series(pd.unique(pd.Series(customers)), dtype=object)
        frame = frame[frame["customer_id"].isin(customers)]
    frame = frame.sort_values(["customer_id", "score", "article_id"], ascending=[True, False, True], kind="stable")
    frame = frame.groupby("customer_id", sort=False).head(k)
    if customers is not None and fallback:
        fill = list(dict.fromkeys(fallback))  # a customer may hold (or be barred from) some of them
        floor = frame.groupby("customer_id")["score"].min().reindex(customers).fillna(0.0).to_numpy() - 1.0
        n, m = len(customers), len(fill)
        extra = pd.DataFrame({
            "customer_id": np.repeat(customers.to_numpy(), m),
            "article_id": np.tile(pd.Series(fill).to_numpy(), n),
            "score": np.repeat(floor, m) - np.tile(np.arange(m, dtype="float64"), n) * 1e-3,
            "tier": 1,
        })
        if exclude is not None:
            banned = exclude[["customer_id", "article_id"]].drop_duplicates().assign(_banned=True)
            extra = extra.merge(banned, on=["customer_id", "article_id"], how="left")
            extra = extra[extra["_banned"].isna()].drop(columns="_banned")
        frame = pd.concat([frame, extra], ignore_index=True).drop_duplicates(["customer_id", "article_id"])
        frame = frame.sort_values(["customer_id", "tier", "score"], ascending=[True, True, False], kind="stable")
        frame = frame.groupby("customer_id", sort=False).head(k)
    return frame.groupby("customer_id", sort=True).agg(
        items=("article_id", list), scores=("score", lambda s: np.round(s.to_numpy(), 6).tolist()),
    ).reset_index()
