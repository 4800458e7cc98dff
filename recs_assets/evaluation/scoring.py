"""The held-out week as the RecList suite reads it: bought pairs with their slice columns."""

from __future__ import annotations

import pandas as pd

from recs_assets.candidates.purchase_log import PurchaseLog
from recs_assets.evaluation import slices
from recs_assets.evaluation.suite import EvaluationData


def test_week_truth(log: PurchaseLog, cutoff, days: int) -> tuple[pd.DataFrame, pd.Series]:
    """(every (customer, article) bought in the ``days`` from ``cutoff`` with slice columns, for every
    buyer of the week, known to the model or not; purchases per article before ``cutoff``). Counted in
    SQL: the purchases before the cut-off are 31.8M rows at H&M's size."""
    day = pd.Timestamp(cutoff).date()
    week = log.query(
        "select distinct p.customer_id, p.article_id, c.age, a.product_group_name from purchases_with_ids p"
        " left join customers c using (customer_id) left join articles a using (article_id)"
        " where p.t_dat >= $cutoff and p.t_dat < $cutoff + to_days($days)", cutoff=day, days=days)
    log.register("week_buyers", pd.DataFrame({"customer_id": week["customer_id"].unique()}))
    activity = log.query("select customer_id, count(*) as n from purchases_with_ids"
                         " join week_buyers using (customer_id) where t_dat < $cutoff group by 1",
                         cutoff=day).set_index("customer_id")["n"]
    popularity = log.query("select article_id, count(*) as n from purchases where t_dat < $cutoff group by 1",
                           cutoff=day).set_index("article_id")["n"].sort_index()
    return truth_with_slices(week, activity, popularity), popularity


def truth_with_slices(test: pd.DataFrame, activity: pd.Series, popularity: pd.Series) -> pd.DataFrame:
    """One row per (customer, article) bought in the held-out split, with the slice columns
    (``activity``: purchases per customer before it; ``popularity``: per article)."""
    truth = test.drop_duplicates(["customer_id", "article_id"])[["customer_id", "article_id", "age", "product_group_name"]]
    item_bins = slices.popularity_bin(popularity)
    return truth.assign(
        user_activity=slices.activity_bin(truth["customer_id"].map(activity).fillna(0)).replace("nan", "0").to_numpy(),
        item_popularity=truth["article_id"].map(item_bins).fillna("new").to_numpy(),
        age_band=slices.age_band(truth["age"]).to_numpy(),
        product_group=truth["product_group_name"].fillna("unknown").to_numpy(),
    ).reset_index(drop=True)


def evaluation_data(
    lists: pd.DataFrame, truth: pd.DataFrame, popularity: pd.Series, embeddings: dict, k: int, min_slice_pairs: int
) -> EvaluationData:
    """``popularity``: purchases per article before the held-out split."""
    return EvaluationData(
        recommended=lists,
        truth=truth,
        catalogue_size=len(popularity),
        item_popularity=popularity.to_dict(),
        item_embeddings=embeddings,
        k=k,
        min_slice_pairs=min_slice_pairs,
    )
