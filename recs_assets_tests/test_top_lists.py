"""``top_lists`` against a plain pandas oracle (the implementation it replaced), on random data with
ties, duplicate pairs, customers without candidates, a fallback overlapping the candidates and
exclusions."""

import numpy as np
import pandas as pd
import pytest

from recs_assets.core.lists import top_lists


def oracle(pairs, scores, k, customers=None, fallback=None, exclude=None):
    frame = pairs[["customer_id", "article_id"]].assign(score=np.asarray(scores, dtype=float), tier=0)
    if customers is not None:
        customers = pd.Series(pd.unique(pd.Series(customers)), dtype=object)
        frame = frame[frame["customer_id"].isin(customers)]
    frame = frame.sort_values(["customer_id", "score", "article_id"], ascending=[True, False, True], kind="stable")
    frame = frame.groupby("customer_id", sort=False).head(k)
    if customers is not None and fallback:
        fill = list(dict.fromkeys(fallback))
        floor = frame.groupby("customer_id")["score"].min().reindex(customers).fillna(0.0).to_numpy() - 1.0
        n, m = len(customers), len(fill)
        extra = pd.DataFrame({"customer_id": np.repeat(customers.to_numpy(), m), "article_id": np.tile(fill, n),
                              "score": np.repeat(floor, m) - np.tile(np.arange(m, dtype=float), n) * 1e-3, "tier": 1})
        if exclude is not None:
            banned = exclude.drop_duplicates().assign(_b=True)
            extra = extra.merge(banned, on=["customer_id", "article_id"], how="left")
            extra = extra[extra["_b"].isna()].drop(columns="_b")
        frame = pd.concat([frame, extra], ignore_index=True).drop_duplicates(["customer_id", "article_id"])
        frame = frame.sort_values(["customer_id", "tier", "score"], ascending=[True, True, False], kind="stable")
        frame = frame.groupby("customer_id", sort=False).head(k)
    return frame.groupby("customer_id", sort=True).agg(
        items=("article_id", list), scores=("score", lambda s: np.round(s.to_numpy(), 6).tolist())).reset_index()


@pytest.mark.parametrize("seed", range(6))
def test_top_lists_matches_the_pandas_oracle(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(0, 400))
    pairs = pd.DataFrame({"customer_id": rng.choice([f"c{i}" for i in range(30)], n).astype(object),
                          "article_id": rng.integers(1, 40, n)})
    scores = rng.integers(0, 5, n) / 4.0  # many ties
    k = int(rng.integers(1, 15))
    customers = [f"c{i}" for i in rng.choice(40, 25, replace=False)]  # some without candidates, some unknown
    fallback = [int(a) for a in rng.integers(1, 40, 15)]  # with repeats
    exclude = pd.DataFrame({"customer_id": rng.choice(customers, 20).astype(object), "article_id": rng.integers(1, 40, 20)})
    for args in [(None, None, None), (customers, None, None), (customers, fallback, None),
                 (customers, fallback, exclude)]:
        got, want = top_lists(pairs, scores, k, *args), oracle(pairs, scores, k, *args)
        assert got["customer_id"].tolist() == want["customer_id"].tolist(), args
        assert got["items"].tolist() == [[int(a) for a in x] for x in want["items"]], args
        assert got["scores"].tolist() == want["scores"].tolist(), args
