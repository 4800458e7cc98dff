"""The ranker applied to a stored pool: features and the ranker's score, one chunk of customers at a time,
and the top-k lists made from those chunks (what the evaluation and serving rank)."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from recs_assets.artifacts import CandidatesRef, RankerRef
from recs_assets.candidates.purchase_log import PurchaseLog
from recs_assets.candidates.stored import pool_parts
from recs_assets.core.lists import top_lists
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


# How one list orders a chunk: (chunk, its customers) -> (candidate pairs, their scores, pairs barred from the
# top-up or None).
Order = Callable[[pd.DataFrame, pd.Series], tuple[pd.DataFrame, object, "pd.DataFrame | None"]]


def ranked_lists(parts, customers, k: int, fallback: list, orders: dict[str, Order], top_up: list | None = None,
                 progress: Callable[[int, int], None] | None = None) -> dict[str, pd.DataFrame]:
    """List name → customer_id, items, scores for every customer of ``customers`` (sorted by id): each
    chunk of ``parts`` (scored candidates) ordered by each of ``orders``, the k best kept, short lists
    topped up with ``top_up`` (default ``fallback``); customers without candidates get ``fallback``.
    ``progress(part, customers in it)`` hears of each chunk."""
    customers = pd.Series(pd.unique(pd.Series(customers, dtype=object)), dtype=object)
    lists: dict[str, list] = {name: [] for name in orders}
    covered = set()
    for part, scored in enumerate(parts, 1):
        mine = pd.Series(scored["customer_id"].unique(), dtype=object)
        mine = mine[mine.isin(customers)]
        covered.update(mine)
        for name, order in orders.items():
            pairs, scores, barred = order(scored, mine)
            lists[name].append(top_lists(pairs, scores, k, mine, top_up or fallback, exclude=barred))
        if progress:
            progress(part, len(mine))
    rest = customers[~customers.isin(covered)]
    nothing = pd.DataFrame(columns=["customer_id", "article_id"])
    return {name: pd.concat([*found, top_lists(nothing, [], k, rest, fallback)], ignore_index=True)
            .sort_values("customer_id", kind="stable").reset_index(drop=True) for name, found in lists.items()}
