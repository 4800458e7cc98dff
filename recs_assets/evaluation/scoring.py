"""The held-out week as the RecList suite reads it: bought pairs with their slice columns."""

from __future__ import annotations

import pandas as pd

from recs_assets.candidates.purchase_log import PurchaseLog
from recs_assets.evaluation import slices
from recs_assets.evaluation.suite import EvaluationData


def test_week_truth(log: PurchaseLog, cutoff, days: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(every (customer, article) bought in the ``days`` from ``cutoff`` with slice columns, the
    purchases before ``cutoff``), for every buyer of the week, known to the model or not."""
    day = pd.Timestamp(cutoff).date()
    week = log.query(
        "select distinct p.customer_id, p.article_id, c.age, a.product_group_name from purchases p"
        " left join customers c using (customer_id) left join articles a using (article_id)"
        " where p.t_dat >= $cutoff and p.t_dat < $cutoff + to_days($days)", cutoff=day, days=days)
    before = log.query("select customer_id, article_id from purchases where t_dat < $cutoff", cutoff=day)
    return truth_with_slices(week, before), before


def truth_with_slices(test: pd.DataFrame, train: pd.DataFrame) -> pd.DataFrame:
    """One row per (customer, article) bought in the held-out split, with the slice columns
    (activity and popularity counted over ``train``'s rows)."""
    truth = test.drop_duplicates(["customer_id", "article_id"])[["customer_id", "article_id", "age", "product_group_name"]]
    activity = train.groupby("customer_id").size()
    popularity = train.groupby("article_id").size()
    item_bins = slices.popularity_bin(popularity)
    return truth.assign(
        user_activity=slices.activity_bin(truth["customer_id"].map(activity).fillna(0)).replace("nan", "0").to_numpy(),
        item_popularity=truth["article_id"].map(item_bins).fillna("new").to_numpy(),
        age_band=slices.age_band(truth["age"]).to_numpy(),
        product_group=truth["product_group_name"].fillna("unknown").to_numpy(),
    ).reset_index(drop=True)


def evaluation_data(
    lists: pd.DataFrame, truth: pd.DataFrame, train: pd.DataFrame, embeddings: dict, k: int, min_slice_pairs: int
) -> EvaluationData:
    popularity = train.groupby("article_id").size()
    return EvaluationData(
        recommended=lists,
        truth=truth,
        catalogue_size=len(popularity),
        item_popularity=popularity.to_dict(),
        item_embeddings=embeddings,
        k=k,
        min_slice_pairs=min_slice_pairs,
    )
