"""Saved towers → embeddings → exact top-k → ids (raw when the workflow's vocabularies are given)."""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from recs_assets.core.topk import top_k, top_k_faiss
from recs_assets.features.workflow import ITEM_ID, USER_ID, vocabulary


@dataclass(frozen=True)
class Towers:
    """The query (user) and candidate (item) encoders of one two-tower model."""

    query: object
    candidate: object

    @classmethod
    def of(cls, model) -> "Towers":
        """The towers of an in-memory ``TwoTowerModelV2``."""
        return cls(model.query_encoder, model.candidate_encoder)


@dataclass(frozen=True)
class Ranked:
    """Top-k per query user: ``items[i]`` and ``scores[i]`` belong to ``users[i]``, best first (a slot
    with score -inf holds no item: read lists through ``lists``/``long``).
    ``catalogue_ids``/``catalogue_vectors``: every candidate item and its embedding."""

    users: np.ndarray
    items: np.ndarray
    scores: np.ndarray
    catalogue_ids: np.ndarray
    catalogue_vectors: np.ndarray

    def lists(self) -> pd.DataFrame:
        """customer_id, items (best first), scores: one row per user, slots no item filled (-inf) dropped."""
        filled = np.isfinite(self.scores)
        return pd.DataFrame({
            "customer_id": self.users,
            "items": [row[ok].tolist() for row, ok in zip(self.items, filled)],
            "scores": [row[ok].astype(float).round(6).tolist() for row, ok in zip(self.scores, filled)],
        })

    def long(self) -> pd.DataFrame:
        """customer_id, article_id, rank (1 = best), score: one row per (user, item), -inf slots dropped."""
        n, k = self.items.shape
        frame = pd.DataFrame({
            "customer_id": np.repeat(self.users, k),
            "article_id": self.items.reshape(-1),
            "rank": np.tile(np.arange(1, k + 1), n),
            "score": self.scores.reshape(-1).astype("float64"),
        })
        return frame[np.isfinite(frame["score"])].reset_index(drop=True)

    def embedding_by_item(self) -> dict:
        return dict(zip(self.catalogue_ids, self.catalogue_vectors))


def load_towers(model_dir: str | Path) -> Towers:
    """The towers saved under ``model_dir/query_tower`` and ``model_dir/candidate_tower``."""
    import merlin.models.tf  # noqa: F401  (registers Merlin's Keras layers for deserialisation)
    import tensorflow as tf

    model_dir = Path(model_dir)
    return Towers(
        tf.keras.models.load_model(str(model_dir / "query_tower")),
        tf.keras.models.load_model(str(model_dir / "candidate_tower")),
    )


def _encode(encoder, frame: pd.DataFrame, schema, id_column: str, tag) -> tuple[np.ndarray, np.ndarray]:
    """Each row of ``frame`` through ``encoder``, in order, in batches. (Merlin's ``Encoder.encode`` saves
    the model to disk and loads it back on every call: slow, and paid per chunk of customers.)"""
    import merlin.io
    from merlin.models.tf import Loader

    frame = frame[schema.column_names].reset_index(drop=True)
    loader = Loader(merlin.io.Dataset(frame, schema=schema, cpu=True), batch_size=4096, shuffle=False)
    parts = [np.asarray(encoder(inputs, training=False), dtype=np.float32) for inputs, _ in loader]
    emb = np.concatenate(parts) if parts else np.zeros((0, 0), dtype=np.float32)
    if len(emb) != len(frame):
        raise RuntimeError(f"encoder returned {len(emb)} rows for {len(frame)} inputs")
    return frame[id_column].to_numpy(), emb


def item_embeddings(candidate_encoder, catalogue_ds) -> tuple[np.ndarray, np.ndarray]:
    """(encoded item ids, embeddings) for every item of ``catalogue_ds`` (a transformed split)."""
    from merlin.schema import Tags

    schema = catalogue_ds.schema.select_by_tag(Tags.ITEM)
    items = catalogue_ds.to_ddf()[schema.column_names].drop_duplicates(subset=[ITEM_ID]).compute()
    return _encode(candidate_encoder, items.sort_values(ITEM_ID), schema, ITEM_ID, Tags.ITEM_ID)


def query_embeddings(query_encoder, queries_ds) -> tuple[np.ndarray, np.ndarray]:
    """(encoded user ids, embeddings) for every user of ``queries_ds``, with their first row's context."""
    from merlin.schema import Tags

    schema = queries_ds.schema.select_by_tag(Tags.USER)
    users = queries_ds.to_ddf()[schema.column_names].compute().drop_duplicates(subset=[USER_ID])
    return _encode(query_encoder, users.sort_values(USER_ID), schema, USER_ID, Tags.USER_ID)


def query_rows(purchases: pd.DataFrame, as_of) -> pd.DataFrame:
    """One row per customer in ``purchases``: their latest purchase row, dated ``as_of``, so the query
    tower sees each customer's features with the month of ``as_of`` as context."""
    latest = purchases.sort_values(["customer_id", "t_dat"]).drop_duplicates("customer_id", keep="last")
    return latest.assign(t_dat=pd.Timestamp(as_of)).reset_index(drop=True)


def _exclusions(exclude: pd.DataFrame, users: np.ndarray, items: np.ndarray) -> list[np.ndarray]:
    """Per user (in ``users`` order), positions in ``items`` of the articles ``exclude`` lists for them."""
    position = pd.Series(np.arange(len(items)), index=items)
    pairs = pd.DataFrame({"customer": exclude["customer_id"].to_numpy(),
                          "item": position.reindex(exclude["article_id"]).to_numpy()}).dropna().drop_duplicates()
    banned = pairs.groupby("customer")["item"].apply(lambda s: s.astype(np.int64).to_numpy())
    empty = np.array([], dtype=np.int64)
    return [banned.get(u, empty) for u in users]


def rank(
    towers: Towers,
    catalogue_ds,
    queries_ds,
    k: int,
    workflow_dir: str | Path | None = None,
    exclude: pd.DataFrame | None = None,
    engine: str = "numpy",
    block_size: int = 1024,
    catalogue: tuple[np.ndarray, np.ndarray] | None = None,
) -> Ranked:
    """The ``k`` best items of ``catalogue_ds`` for every user of ``queries_ds`` by exact inner product.

    With ``workflow_dir`` ids come back raw (the workflow's vocabularies), else encoded. ``exclude``
    (raw customer_id, article_id pairs; needs ``workflow_dir``) removes items per user, e.g. already
    bought. ``engine``: ``numpy`` (blocked argpartition) or ``faiss`` (exact ``IndexFlatIP``).
    ``catalogue``: (encoded item ids, embeddings) from ``item_embeddings``, to embed the catalogue once
    for several calls."""
    if exclude is not None and workflow_dir is None:
        raise ValueError("exclude names raw ids: pass workflow_dir to map them")
    item_ids, items = catalogue if catalogue is not None else item_embeddings(towers.candidate, catalogue_ds)
    user_ids, users = query_embeddings(towers.query, queries_ds)
    if workflow_dir is not None:
        item_ids = vocabulary(workflow_dir, ITEM_ID).loc[item_ids].to_numpy()
        user_ids = vocabulary(workflow_dir, USER_ID).loc[user_ids].to_numpy()
    banned = _exclusions(exclude, user_ids, item_ids) if exclude is not None else None
    if engine == "faiss":
        indices, scores = top_k_faiss(users, items, k, exclude=banned)
    elif engine == "numpy":
        indices, scores = top_k(users, items, k, block_size=block_size, exclude=banned)
    else:
        raise ValueError(f"engine {engine!r} is not one of 'numpy', 'faiss'")
    # a slot no item could fill (every other item excluded) has index -1 and score -inf: lists() and
    # long() drop it; the id placed there is never read
    return Ranked(user_ids, item_ids[np.maximum(indices, 0)], scores, item_ids, items)


def rank_as_of(
    towers: Towers,
    workflow,
    workflow_dir: str | Path,
    catalogue_ds,
    purchases: pd.DataFrame,
    as_of,
    k: int,
    exclude: pd.DataFrame | None = None,
    engine: str = "faiss",
    catalogue: tuple[np.ndarray, np.ndarray] | None = None,
) -> Ranked:
    """Raw top-k for every customer of ``purchases`` (enriched rows) queried on day ``as_of``: each
    customer's latest row goes through the fitted ``workflow``, then ``rank``."""
    from recs_assets.features.workflow import read_transformed, transform_split

    with tempfile.TemporaryDirectory() as tmp:
        transform_split(workflow, query_rows(purchases, as_of), tmp)
        return rank(towers, catalogue_ds, read_transformed(tmp), k, workflow_dir, exclude=exclude, engine=engine,
                    catalogue=catalogue)
