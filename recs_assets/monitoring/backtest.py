"""Scoring a published list against what customers bought while it was live (plain functions).

A week's buyers are every customer with a purchase in it; each is scored on the list the cache would
have answered with: the personal list when the version holds one, else the version's fallback.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from recs_assets.core import metrics
from recs_assets.core.lists import as_arrays


@dataclass(frozen=True)
class WeekScore:
    """One list's figures on one week's buyers."""

    buyers: int
    personal_share: float  # share of the buyers who had a personal list (the rest got the fallback)
    map_at_k: float
    recall_at_k: float
    hit_rate_at_k: float


@dataclass(frozen=True)
class BacktestWeek:
    """One week's backtest: the version that was live, its list's score and the stored baseline's."""

    week: str  # first day
    version: str
    list_name: str
    live: WeekScore
    baseline: WeekScore | None  # None when the version kept no baseline lists


def answered_lists(lists: pd.DataFrame, fallback: list, customers) -> pd.DataFrame:
    """(customer_id, items, personal) for ``customers``: the stored list, or ``fallback`` for those
    without one, as the service answers."""
    wanted = pd.DataFrame({"customer_id": pd.Series(list(customers), dtype=object)})
    found = wanted.merge(lists[["customer_id", "items"]], on="customer_id", how="left")
    personal = found["items"].notna().to_numpy()
    items = np.empty(len(found), dtype=object)
    items[:] = [list(x) if p else list(fallback) for x, p in zip(found["items"], personal)]
    return pd.DataFrame({"customer_id": found["customer_id"], "items": items, "personal": personal})


def score_week(lists: pd.DataFrame, fallback: list, bought: dict, k: int) -> WeekScore:
    """``lists`` (customer_id, items) scored on ``bought`` (customer → set of articles bought in the week)."""
    if not bought:
        raise ValueError("no purchases in the week: nothing to score")
    answered = answered_lists(lists, fallback, sorted(bought))
    recommended, relevant = as_arrays(answered, bought)
    recommended[:] = [list(r)[:k] for r in recommended]
    return WeekScore(
        buyers=len(answered),
        personal_share=float(np.mean(answered["personal"])),
        map_at_k=metrics.map_at_k(recommended, relevant, k),
        recall_at_k=metrics.recall_at_k(recommended, relevant, k),
        hit_rate_at_k=metrics.hit_rate_at_k(recommended, relevant, k),
    )


def verdict(live: WeekScore, baseline: WeekScore | None, evaluation_map: float | None,
            max_drop_share: float) -> list[str]:
    """Why the live list's week is worrying (empty when it is not): below the stored baseline on the same
    buyers, or more than ``max_drop_share`` below the MAP it had on the evaluation week."""
    problems = []
    if baseline is not None and live.map_at_k < baseline.map_at_k:
        problems.append(f"MAP@k {live.map_at_k:.4f} is below the baseline's {baseline.map_at_k:.4f} on the same buyers")
    if evaluation_map and live.map_at_k < (1 - max_drop_share) * evaluation_map:
        problems.append(f"MAP@k {live.map_at_k:.4f} is more than {max_drop_share:.0%} below its evaluation figure"
                        f" {evaluation_map:.4f}")
    return problems


def weeks_to_score(serve_days: list[str], last_purchase_day, scored: set[str]) -> list[str]:
    """The weeks a backtest can now score, by first day: 7-day steps from the first version's serve day,
    whole (their last day is in the data) and not scored yet."""
    if not serve_days or last_purchase_day is None:
        return []
    week, last, out = pd.Timestamp(min(serve_days)), pd.Timestamp(last_purchase_day), []
    while week + pd.Timedelta(days=6) <= last:
        if str(week.date()) not in scored:
            out.append(str(week.date()))
        week += pd.Timedelta(days=7)
    return out
