"""A candidate pool as stored in the model store: one folder per cut-off, one parquet file per chunk of
customers, and the retrieval model's item embeddings beside them. The ranker, the evaluation and serving
read pools through these."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from recs_assets.artifacts import CandidatesRef, pool_folder
from recs_assets.resources.model_store import ModelStore


def pool_parts(model_store: ModelStore, candidates: CandidatesRef, window: str) -> list[Path]:
    """The files of one cut-off's candidates, one per chunk of customers."""
    return sorted((model_store.local_path(candidates.key) / pool_folder(window)).glob("part-*.parquet"))


def read_pool(model_store: ModelStore, candidates: CandidatesRef, window: str) -> pd.DataFrame:
    """The union of candidates at one cut-off, every chunk."""
    return pd.concat([pd.read_parquet(p) for p in pool_parts(model_store, candidates, window)], ignore_index=True)


def read_item_embeddings(model_store: ModelStore, candidates: CandidatesRef) -> dict:
    """Article id → the retrieval model's item embedding (empty when retrieval did not run)."""
    path = model_store.local_path(candidates.key) / "item_embeddings.parquet"
    if not path.exists():
        return {}
    frame = pd.read_parquet(path)
    return {a: np.asarray(v, dtype=np.float32) for a, v in zip(frame["article_id"], frame["embedding"])}
