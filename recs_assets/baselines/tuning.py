"""Baselines tuned like the model, on the validation week only (pure: a purchase log in, choices out).

Every family of ``lists.FAMILIES`` is scored with each of its settings, in order, by MAP@k of the lists
made at the validation cut-off against what a sample of the validation week's buyers bought; the best
settings are kept with their validation score. The test week is never read. A time budget bounds the
search: the first settings of every family always run, the rest while time remains. ALS is fitted on the
purchases of at most ``max_als_users`` customers (the sampled buyers and a hash sample of the others),
so its search costs the same at any scale; the chosen settings are then fitted on every purchase."""

from __future__ import annotations

import time

import pandas as pd

from recs_assets.artifacts import Choice, TunedBaselines
from recs_assets.baselines.lists import FAMILIES
from recs_assets.candidates.als import ALS_SETTINGS, als_recommend, fit_als
from recs_assets.candidates.purchase_log import PurchaseLog
from recs_assets.core import metrics
from recs_assets.core.lists import as_arrays
from recs_assets.core.metrics import K


def validation_map(lists: pd.DataFrame, bought: dict, k: int) -> float:
    """MAP@k of ``lists`` against ``bought`` (customer → set of articles)."""
    recommended, relevant = as_arrays(lists, bought)
    return metrics.map_at_k(recommended, relevant, k)


def choose(runs: list[dict], tolerance: float = 0.005) -> dict:
    """The cheapest run (fewest seconds) among those within ``tolerance`` (relative) of the best validation
    score: a difference that small is noise on a validation week, a 3× longer fit at scale is not."""
    scored = [r for r in runs if r["validation_map"] == r["validation_map"]] or runs[:1]
    best = max(r["validation_map"] for r in scored)
    close = [r for r in scored if r["validation_map"] >= best * (1 - tolerance)]
    return min(close, key=lambda r: (r["seconds"], -r["validation_map"]))


def tune(log: PurchaseLog, cutoff, label_days: int, k: int = K, max_buyers: int | None = 20_000,
         max_als_users: int | None = 100_000, budget_seconds: float = 120.0, families=None,
         progress=None) -> TunedBaselines:
    """Choose every family's settings on the ``label_days`` from ``cutoff`` (the validation week)."""
    from recs_assets.candidates.stage import sample

    progress = progress or (lambda message: None)
    start = time.perf_counter()
    truth = log.buyers(cutoff, label_days)
    buyers = sample(truth["customer_id"], max_buyers)
    bought = metrics.bought_sets(truth[truth["customer_id"].isin(set(buyers))])
    tried: dict[str, list[dict]] = {}
    skipped = []
    names = list(families or FAMILIES)
    queue = [(name, i) for i in range(max(len(FAMILIES[n].grid) for n in names)) for name in names
             if i < len(FAMILIES[name].grid)]  # every family's first setting, then every family's second...
    fits: dict[tuple, object] = {}
    for name, i in queue:
        settings = FAMILIES[name].grid[i]
        if i > 0 and time.perf_counter() - start > budget_seconds:
            skipped.append(f"{name} {settings}")
            continue
        began, fit_seconds = time.perf_counter(), 0.0
        if name.startswith("als"):  # one fit serves both ALS variants with the same settings
            key = tuple(settings[s] for s in ALS_SETTINGS)
            if key not in fits:
                fitting = time.perf_counter()
                fits = {key: (fit_als(log, cutoff, **settings, max_users=max_als_users, keep=buyers),
                              time.perf_counter() - fitting)}
            fit, fit_seconds = fits[key]
            began = time.perf_counter()
            lists = als_recommend(log, fit, buyers, k, hide_bought=name == "als_unseen")
        else:
            lists = FAMILIES[name].lists(log, buyers, cutoff, k, **settings)
        score = validation_map(lists, bought, k)
        tried.setdefault(name, []).append({"settings": settings, "validation_map": score,
                                           "seconds": round(time.perf_counter() - began + fit_seconds, 2)})
        progress(f"baseline {name} {settings}: validation MAP@{k} {score:.4f}")
    choices = {}
    for name, runs in tried.items():
        best = choose(runs)
        choices[name] = Choice(best["settings"], best["validation_map"], runs)
    return TunedBaselines(choices, pd.Timestamp(cutoff).date().isoformat(), len(buyers), k,
                          round(time.perf_counter() - start, 1), skipped)
