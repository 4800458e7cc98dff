"""Turns a saved model and the held-out split into top-k lists and the data every test needs.

TensorFlow/Merlin are imported inside (via the training helpers) only when a model is scored.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from recs_assets.core.topk import top_k
from recs_assets.evaluation import slices
from recs_assets.evaluation.suite import EvaluationData
from recs_assets.features.workflow import ITEM_ID, USER_ID, vocabulary


def model_lists(model_dir: str | Path, workflow_dir: str | Path, train_ds, eval_ds, k: int):
    """(top-k lists as a DataFrame of raw ids, raw item id → embedding) for every user of ``eval_ds``."""
    from recs_assets.training.two_tower import item_embeddings, load_towers, query_embeddings

    query, candidate = load_towers(model_dir)
    item_enc, items = item_embeddings(candidate, train_ds)
    user_enc, users = query_embeddings(query, eval_ds)
    indices, _ = top_k(users, items, k)
    item_raw = vocabulary(workflow_dir, ITEM_ID).loc[item_enc].to_numpy()
    user_raw = vocabulary(workflow_dir, USER_ID).loc[user_enc].to_numpy()
    lists = pd.DataFrame({"customer_id": user_raw, "items": [list(item_raw[row]) for row in indices]})
    return lists, dict(zip(item_raw, items))


def truth_with_slices(test: pd.DataFrame, train: pd.DataFrame) -> pd.DataFrame:
    """One row per (customer, article) bought in the held-out split, with the slice columns."""
    truth = test.drop_duplicates(["customer_id", "article_id"])[["customer_id", "article_id", "age", "product_group_name"]]
    activity = train.groupby("customer_id").size()
    popularity = train.groupby("article_id").size()
    item_bins = slices.popularity_bin(popularity)
    return truth.assign(
        user_activity=slices.activity_bin(truth["customer_id"].map(activity).fillna(0)).to_numpy(),
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


def same_list_for_all(customers: np.ndarray, items: list) -> pd.DataFrame:
    return pd.DataFrame({"customer_id": customers, "items": [list(items)] * len(customers)})
