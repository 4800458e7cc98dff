"""The lists a retailer can compute without our model, each a plain function of the purchase log, a
cut-off and its settings: popularity (overall, by age band), what you bought before (most often first,
or time-decayed), "bought with what you bought last" (co-purchase), and implicit's ALS with and without
hiding what the customer already bought. Every list is topped up with the last week's best sellers.

They live below ranking and evaluation: the evaluation scores them beside the ranked list, serving
publishes the strongest when the ranker fails its gate (``baselines.tuning`` chooses their settings)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pandas as pd

from recs_assets.candidates.als import ALS_SETTINGS, als_recommend, fit_als
from recs_assets.candidates.generators import SourceSizes, copurchase, history, popular_before
from recs_assets.candidates.purchase_log import PurchaseLog
from recs_assets.core.lists import top_lists

ListFn = Callable[..., pd.DataFrame]  # (log, customers, cutoff, k, **settings) -> customer_id, items, scores


def _targets(log: PurchaseLog, customers) -> pd.Series:
    customers = pd.Series(pd.unique(pd.Series(customers, dtype=object)), dtype=object)
    log.register("targets", pd.DataFrame({"customer_id": customers}))
    return customers


def popularity(log: PurchaseLog, customers, cutoff, k: int, days: int = 7) -> pd.DataFrame:
    """The best sellers of the ``days`` before the cut-off, the same list for everyone."""
    nothing = pd.DataFrame(columns=["customer_id", "article_id"])
    return top_lists(nothing, [], k, _targets(log, customers), popular_before(log, cutoff, k, days))


def popularity_by_age(log: PurchaseLog, customers, cutoff, k: int, days: int = 7) -> pd.DataFrame:
    """The best sellers of the ``days`` before the cut-off among the customer's 10-year age band
    (overall best sellers when the age is unknown or to fill the list)."""
    customers = _targets(log, customers)
    pairs = log.query("""
        with sold as (
            select floor(c.age / 10) as band, p.article_id, count(*) as n
            from purchases p join customers c using (cix)
            where p.t_dat < $cutoff and p.t_dat >= $cutoff - to_days($days) and c.age is not null
            group by 1, 2
        ), ranked as (
            select *, row_number() over (partition by band order by n desc, article_id) as r
            from sold qualify r <= $k
        )
        select t.customer_id, r.article_id, r.n::double as score
        from targets t join customers c using (customer_id) join ranked r on r.band = floor(c.age / 10)
    """, cutoff=pd.Timestamp(cutoff).date(), days=days, k=k)
    return top_lists(pairs, pairs["score"], k, customers, popular_before(log, cutoff, k, days))


def repurchase_then_popular(log: PurchaseLog, customers, cutoff, k: int) -> pd.DataFrame:
    """The customer's own purchases before ``cutoff`` (most often bought first, then latest), topped
    up with the last week's best sellers."""
    customers = _targets(log, customers)
    own = history(log, cutoff, SourceSizes(history=k))
    return top_lists(own, -own["source_rank"].to_numpy(dtype=float), k, customers, popular_before(log, cutoff, k))


def repurchase_decayed(log: PurchaseLog, customers, cutoff, k: int, half_life_days: float = 30.0) -> pd.DataFrame:
    """The customer's own purchases, each weighted by 2^(−days ago / ``half_life_days``) and summed per
    article (the time-decayed repurchase lists of the H&M competition), topped up with best sellers."""
    customers = _targets(log, customers)
    pairs = log.query("""
        select t.customer_id, p.article_id,
               sum(pow(2.0, -date_diff('day', p.t_dat, $cutoff) / $half_life)) as score
        from purchases p join customer_codes t0 using (cix) join targets t using (customer_id)
        where p.t_dat < $cutoff group by 1, 2
    """, cutoff=pd.Timestamp(cutoff).date(), half_life=float(half_life_days))
    return top_lists(pairs, pairs["score"], k, customers, popular_before(log, cutoff, k))


def item_to_item(log: PurchaseLog, customers, cutoff, k: int, lookback_days: int = 84,
                 seed_items: int = 10) -> pd.DataFrame:
    """Articles bought together with the customer's ``seed_items`` latest articles (co-purchase cosine
    over the ``lookback_days`` before the cut-off; ``generators.copurchase``), topped up with best sellers."""
    customers = _targets(log, customers)
    sizes = SourceSizes(copurchase=k, copurchase_seed_items=seed_items, copurchase_lookback_days=lookback_days)
    pairs = copurchase(log, cutoff, sizes)
    return top_lists(pairs, pairs["source_score"], k, customers, popular_before(log, cutoff, k))


def als(log: PurchaseLog, customers, cutoff, k: int, hide_bought: bool = False, **settings) -> pd.DataFrame:
    """ALS fitted on every purchase before ``cutoff`` with ``settings`` (``ALS_SETTINGS``), then each
    customer's top k (see ``als_recommend``)."""
    return als_recommend(log, fit_als(log, cutoff, **settings), customers, k, hide_bought)


def als_unseen(log: PurchaseLog, customers, cutoff, k: int, **settings) -> pd.DataFrame:
    """ALS that never recommends what the customer already bought (strong where nobody re-buys)."""
    return als(log, customers, cutoff, k, hide_bought=True, **settings)


@dataclass(frozen=True)
class Family:
    """One baseline: its list function and the settings the validation week chooses from (first = default)."""

    lists: ListFn
    grid: tuple[dict, ...]


# Searched in this order within the time budget (the first of each family always runs). ALS's grid goes up
# to strong regularisation (with implicit's default 0.01 it overfits each customer's few purchases) and
# holds cheaper fits (fewer iterations or factors): ``tuning.choose`` takes the cheapest of the near-best.
_ALS_GRID = tuple({"factors": f, "regularization": r, "alpha": a, "iterations": i} for f, r, a, i in [
    (64, 100.0, 1.0, 15), (64, 30.0, 1.0, 15), (64, 30.0, 1.0, 5), (64, 300.0, 1.0, 15), (128, 30.0, 1.0, 15),
    (64, 100.0, 1.0, 5), (64, 10.0, 1.0, 15), (64, 100.0, 10.0, 15), (32, 30.0, 1.0, 15), (64, 0.01, 1.0, 5)])
FAMILIES: dict[str, Family] = {
    "popularity": Family(popularity, ({"days": 7}, {"days": 14}, {"days": 3})),
    "popularity_by_age": Family(popularity_by_age, ({"days": 7}, {"days": 28})),
    "repurchase_then_popular": Family(repurchase_then_popular, ({},)),
    "repurchase_decayed": Family(repurchase_decayed, ({"half_life_days": 30.0}, {"half_life_days": 7.0},
                                                      {"half_life_days": 120.0})),
    "item_to_item": Family(item_to_item, ({"lookback_days": 84}, {"lookback_days": 28})),
    "als": Family(als, _ALS_GRID),
    "als_unseen": Family(als_unseen, _ALS_GRID),
}


def baseline_lists(log: PurchaseLog, name: str, settings: dict, customers, cutoff, k: int) -> pd.DataFrame:
    """The lists of baseline ``name`` (a key of FAMILIES) with its chosen ``settings``."""
    if name not in FAMILIES:
        raise ValueError(f"unknown baseline {name!r}; known: {', '.join(FAMILIES)}")
    return FAMILIES[name].lists(log, customers, cutoff, k, **settings)


def every_list(log: PurchaseLog, choices: dict[str, dict], customers, cutoff, k: int, progress=None,
               chunk_customers: int = 200_000) -> dict[str, pd.DataFrame]:
    """Baseline name → its lists for ``customers`` with its chosen settings (``choices``: name →
    settings); ALS is fitted once per distinct setting and both of its variants share the fit; customers
    go ``chunk_customers`` at a time (the serving window holds every customer)."""
    progress = progress or (lambda message: None)
    customers = pd.Series(pd.unique(pd.Series(customers, dtype=object)), dtype=object)
    chunks = [customers.iloc[i:i + chunk_customers] for i in range(0, len(customers), chunk_customers)] or [customers]
    out, fits = {}, {}
    for name, settings in choices.items():
        progress(f"baseline {name} {settings or ''}")
        if name in ("als", "als_unseen"):
            key = tuple(settings[s] for s in ALS_SETTINGS)
            fits = fits if key in fits else {key: fit_als(log, cutoff, **settings)}
            parts = [als_recommend(log, fits[key], c, k, hide_bought=name == "als_unseen") for c in chunks]
        else:
            parts = [baseline_lists(log, name, settings, c, cutoff, k) for c in chunks]
        out[name] = pd.concat(parts, ignore_index=True)
    return out
