"""Fitting the ranker without leakage (pure: frames in, a fitted ranker and its report out).

Each window's rows are the candidates of its cut-off with features from before it and labels from
the week after. The validation window's customers are split by a hash of their id: most join the
fitting windows, the rest (``holdout_share``) choose the early-stopping point and the
configuration of the small search, by MAP@k of their full lists against everything they bought.
The test week is never read here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from recs_assets.core.metrics import K, bought_sets, map_at_k
from recs_assets.core.lists import as_arrays, top_lists
from recs_assets.ranking.rankers import Ranker, make_ranker


def holdout_mask(customers: pd.Series, share: float, salt: str = "ranker-holdout!") -> np.ndarray:
    """Deterministic: True for about ``share`` of customers, the same ones on every run (a salted
    hash of the id, vectorised)."""
    key = salt.encode()[:16].ljust(16, b"_").decode()
    digest = pd.util.hash_pandas_object(pd.Series(customers).astype(str), index=False, hash_key=key)
    return (digest.to_numpy() % np.uint64(10_000)) < np.uint64(int(share * 10_000))


def input_order(frame: pd.DataFrame) -> np.ndarray:
    """A score that orders candidates as their sources do, without learning: the customer's history
    first, then retrieval, co-purchase, age-band and overall popularity, each by its own rank."""
    order = ("history", "retrieval", "als", "copurchase", "popularity_age", "popularity")
    score = np.zeros(len(frame))
    for i, source in enumerate(order):  # the first source that proposed a pair places it
        rank = frame[f"{source}_rank"].to_numpy(dtype=float)
        score = np.where(np.isnan(rank) | (score != 0), score, (len(order) - i) * 1000.0 - rank)
    return score


def list_map(frame: pd.DataFrame, scores: np.ndarray, truth: pd.DataFrame, fallback: list, k: int) -> float:
    """MAP@k of the lists ``scores`` makes from ``frame``, for every customer in ``truth``
    (their purchases of the label window), short lists topped up with ``fallback``."""
    customers = pd.unique(truth["customer_id"])
    return map_at_k(*as_arrays(top_lists(frame, scores, k, customers, fallback), bought_sets(truth)), k)


def feature_groups() -> dict[str, list[str]]:
    """Features by what they describe: one group per source, then pair, item and customer features."""
    from recs_assets.candidates.pool import SOURCES
    from recs_assets.ranking.features import CUSTOMER_FEATURES, ITEM_FEATURES, PAIR_FEATURES

    groups = {f"source: {s}": [f"{s}_rank", f"{s}_score"] for s in SOURCES}
    groups["source: als"].append("als_dot")
    groups["source: n_sources"] = ["n_sources"]
    return {**groups, "customer × article history": PAIR_FEATURES, "article": ITEM_FEATURES,
            "customer": CUSTOMER_FEATURES}


def permutation_importance(ranker, frame: pd.DataFrame, truth: pd.DataFrame, fallback: list, k: int,
                           seed: int = 0) -> dict[str, float]:
    """Drop in MAP@k on ``frame`` when one group of features is shuffled across rows (the
    equivalent of LightGBM's gain for a ranker that has none), largest first."""
    rng = np.random.default_rng(seed)
    base = list_map(frame, ranker.score(frame), truth, fallback, k)
    drops = {}
    for name, columns in feature_groups().items():
        shuffled = frame.copy()
        order = rng.permutation(len(frame))
        shuffled[columns] = frame[columns].to_numpy()[order]
        drops[name] = base - list_map(shuffled, ranker.score(shuffled), truth, fallback, k)
    return dict(sorted(drops.items(), key=lambda x: -x[1]))


@dataclass
class FitReport:
    kind: str
    params: dict
    holdout_map: float
    input_order_map: float
    search: list[dict]
    rows: int
    positives: int
    holdout_customers: int
    importance: dict[str, float]
    importance_kind: str


def fit_ranker(
    windows: dict[str, pd.DataFrame],
    validation: str,
    validation_truth: pd.DataFrame,
    fallback: list,
    kinds: list[str],
    search: dict[str, list[dict]],
    k: int = K,
    holdout_share: float = 0.25,
) -> tuple[Ranker, FitReport]:
    """Fit every configuration of ``search[kind]`` for each kind; keep the best holdout MAP@k.

    ``windows``: name → labelled feature frame (``features.with_labels``); ``validation`` names
    the window whose customers are split into fit and holdout. A configuration's ``fit_weeks`` (if
    given) is how many of the latest earlier windows join the fit: older weeks add examples, but
    only the validation week has retrieval candidates (see candidates.stage), so the mix is chosen
    on the holdout too."""
    data = pd.concat([frame.assign(window=name) for name, frame in windows.items()], ignore_index=True)
    in_holdout = (data["window"] == validation).to_numpy() & holdout_mask(data["customer_id"], holdout_share)
    train, holdout = data[~in_holdout], data[in_holdout]
    held = validation_truth[holdout_mask(validation_truth["customer_id"], holdout_share)]
    fit_windows = sorted(name for name in windows if name != validation)  # oldest first (ISO dates)
    tried, best = [], None
    for kind in kinds:
        for params in search.get(kind, [{}]):
            weeks = params.get("fit_weeks", len(fit_windows))
            used = set(fit_windows[len(fit_windows) - weeks:] if weeks else []) | {validation}
            model_params = {key: v for key, v in params.items() if key != "fit_weeks"}
            ranker = make_ranker(kind, model_params).fit(train[train["window"].isin(used)], holdout)
            score = list_map(holdout, ranker.score(holdout), held, fallback, k)
            tried.append({"kind": kind, "params": params, "holdout_map": score})
            if best is None or score > best[1]:
                best = (ranker, score, kind, params)
    ranker, score, kind, params = best
    importance, importance_kind = ranker.importance(), "share of gain"
    if not importance:
        importance, importance_kind = permutation_importance(ranker, holdout, held, fallback, k), "holdout MAP drop when shuffled"
    report = FitReport(kind, params, score, list_map(holdout, input_order(holdout), held, fallback, k), tried,
                       rows=len(train), positives=int(train["label"].sum()),
                       holdout_customers=int(held["customer_id"].nunique()),
                       importance=importance, importance_kind=importance_kind)
    return ranker, report

