"""The ranker applied to a stored pool: features and the ranker's score, one chunk of customers at a time
(what the evaluation and serving rank)."""

from __future__ import annotations

import pandas as pd

from recs_assets.artifacts import CandidatesRef, RankerRef
from recs_assets.candidates.purchase_log import PurchaseLog
from recs_assets.candidates.stored import pool_parts
from recs_assets.ranking.features import candidate_features
from recs_assets.resources.model_store import ModelStore


def scored_parts(log: PurchaseLog, model_store: ModelStore, candidates: CandidatesRef, ranker: RankerRef, window: str):
    """The window's candidates with features and the ranker's ``score``, one chunk of customers at a time
    (``frame.attrs["scorer"]``: what scored it, e.g. the LightGBM model compiled to C)."""
    from recs_assets.ranking.rankers import load_ranker

    day = candidates.windows[window]
    model = load_ranker(model_store.local_path(ranker.key))
    for path in pool_parts(model_store, candidates, window):
        frame = candidate_features(log, pd.read_parquet(path), day)
        scored = frame.assign(score=model.score(frame))
        scored.attrs["scorer"] = getattr(model, "engine", model.kind)
        yield scored
