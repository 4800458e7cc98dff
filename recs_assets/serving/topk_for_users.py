"""Top-k for every known customer from the towers of a saved model: faiss's exact inner-product
search by default (about 4× our numpy blocks on 2 cores, see benchmarks/serving.py), numpy on request."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

from recs_assets.core.topk import top_k, top_k_faiss
from recs_assets.features.workflow import ITEM_ID, USER_ID, read_transformed, transform_split, vocabulary


def serving_rows(train: pd.DataFrame) -> pd.DataFrame:
    """One row per customer: their latest train row, dated the day after the data ends, so the query
    tower sees each customer's features and the serving month as context."""
    latest = train.sort_values(["customer_id", "t_dat"]).drop_duplicates("customer_id", keep="last")
    serving_day = pd.to_datetime(train["t_dat"]).max() + pd.Timedelta(days=1)
    return latest.assign(t_dat=serving_day).reset_index(drop=True)


def recommend_all(
    model_dir: str | Path, workflow, workflow_dir: str | Path, train_ds, train: pd.DataFrame,
    k: int, exclude_purchased: bool = False, block_size: int = 1024, engine: str = "faiss",
) -> pd.DataFrame:
    """customer_id, items (raw article ids, best first), scores — for every customer in ``train``."""
    from recs_assets.training.two_tower import item_embeddings, load_towers, query_embeddings

    query, candidate = load_towers(model_dir)
    item_enc, items = item_embeddings(candidate, train_ds)
    with tempfile.TemporaryDirectory() as tmp:
        transform_split(workflow, serving_rows(train), tmp)
        user_enc, users = query_embeddings(query, read_transformed(tmp))
    item_raw = vocabulary(workflow_dir, ITEM_ID).loc[item_enc].to_numpy()
    user_raw = vocabulary(workflow_dir, USER_ID).loc[user_enc].to_numpy()
    exclude = None
    if exclude_purchased:
        position = pd.Series(np.arange(len(item_raw)), index=item_raw)
        pairs = pd.DataFrame({"customer": train["customer_id"].to_numpy(),
                              "item": position.reindex(train["article_id"]).to_numpy()}).dropna().drop_duplicates()
        bought = pairs.groupby("customer")["item"].apply(lambda s: s.astype(int).to_numpy())
        exclude = [bought.get(u, np.array([], dtype=int)) for u in user_raw]
    if engine == "faiss":
        indices, scores = top_k_faiss(users, items, k, exclude=exclude)
    else:
        indices, scores = top_k(users, items, k, block_size=block_size, exclude=exclude)
    return pd.DataFrame({
        "customer_id": user_raw,
        "items": [item_raw[row].tolist() for row in indices],
        "scores": [row.astype(float).round(6).tolist() for row in scores],
    })
