"""Every list scored on the test week, side by side (pure): the served (ranked) list, the two-tower
alone, and the baselines, for the same customers; plus the tables and charts a person reads."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd

from recs_assets.candidates.purchase_log import PurchaseLog
from recs_assets.core import metrics
from recs_assets.core.bootstrap import BootstrapInterval, paired_bootstrap
from recs_assets.baselines.lists import every_list
from recs_assets.candidates.generators import popular_before
from recs_assets.core.lists import as_arrays
from recs_assets.ranking.scoring import ranked_lists

MODELLED = ("served", "two_tower")  # the ranked list and its retrieval input; every other list is a baseline
ACCURACY = ["map_at_k", "recall_at_k", "ndcg_at_k", "hit_rate_at_k", "mrr_at_k"]
# Bins of each slice family in their natural order (anything else goes last, alphabetically).
BIN_ORDER = {
    "user_activity": ["0", "1-4", "5-9", "10-19", "20+"],
    "item_popularity": ["q1", "q2", "q3", "q4", "new"],
    "age_band": ["<25", "25-34", "35-49", "50+", "unknown"],
}


def test_lists(log: PurchaseLog, scored_parts, customers, cutoff, k: int, baselines: dict[str, dict],
               progress=None) -> dict[str, pd.DataFrame]:
    """List name → customer_id, items, scores for every customer of ``customers``: the served list, the
    two-tower alone and each baseline of ``baselines`` (name → chosen settings). ``scored_parts``:
    the test cut-off's candidates with the ranker's ``score`` (and the retrieval source's rank), one
    frame per chunk of customers. ``progress(message)`` hears of each step (e.g. a run log)."""
    progress = progress or (lambda message: None)
    orders = {"served": lambda scored, mine: (scored, scored["score"], None),
              "two_tower": lambda scored, mine: _retrieved(scored)}
    found = ranked_lists(scored_parts, customers, k, popular_before(log, cutoff, k), orders,
                         progress=lambda part, n: progress(f"test lists: scored part {part}, {n:,} customers"))
    tuned = every_list(log, baselines, customers, cutoff, k, progress=lambda m: progress(f"test lists: {m}"))
    return {**found, **tuned}


def _retrieved(scored: pd.DataFrame):
    """The two-tower's own order: its retrieval rank, over the candidates it proposed."""
    retrieved = scored[scored["retrieval_rank"].notna()]
    return retrieved, -retrieved["retrieval_rank"].to_numpy(dtype=float), None


def accuracy(lists: pd.DataFrame, truth: pd.DataFrame, k: int, customers=None) -> dict[str, float]:
    """MAP, recall, NDCG, hit rate and MRR at k over the customers of ``truth`` (or ``customers``)."""
    chosen = lists if customers is None else lists[lists["customer_id"].isin(set(customers))]
    recommended, relevant = as_arrays(chosen, metrics.bought_sets(truth))
    fns = {"map_at_k": metrics.map_at_k, "recall_at_k": metrics.recall_at_k, "ndcg_at_k": metrics.ndcg_at_k,
           "hit_rate_at_k": metrics.hit_rate_at_k, "mrr_at_k": metrics.mrr_at_k}
    return {name: fn(recommended, relevant, k) for name, fn in fns.items()}


def map_interval(lists: pd.DataFrame, other: pd.DataFrame, truth: pd.DataFrame, k: int, resamples: int = 1000,
                 seed: int = 0) -> BootstrapInterval:
    """Paired bootstrap over the buyers of ``truth`` of MAP@k of ``lists`` against ``other`` (both
    customer_id, items, one row per buyer at least): the ratio's and the difference's 95 % intervals."""
    bought = metrics.bought_sets(truth)
    buyers = pd.Index(pd.unique(truth["customer_id"]), name="customer_id")
    per_user = [metrics.average_precisions(*as_arrays(frame.set_index("customer_id").loc[buyers].reset_index(), bought), k)
                for frame in (lists, other)]
    return paired_bootstrap(*per_user, n_resamples=resamples, seed=seed)


def side_by_side(results: dict[str, dict[str, float]], rows: list[str], k: int, mark: str | None = None,
                 label: str = "metric") -> str:
    """Markdown: one row per metric, one column per list (``mark`` names the strongest baseline)."""
    names = list(results)
    head = [label, *[f"{n} (strongest baseline)" if n == mark else n for n in names]]
    out = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for metric in rows:
        cells = [f"{results[n].get(metric, float('nan')):.4f}" for n in names]
        out.append(f"| {metric.replace('_at_k', f'@{k}')} | " + " | ".join(cells) + " |")
    return "\n".join(out)


def ordered_bins(family: str, bins) -> list[str]:
    known = BIN_ORDER.get(family, [])
    return [b for b in known if b in bins] + sorted(b for b in bins if b not in known)


def slice_chart(miss_rates: dict[str, dict[str, float]], family: str) -> bytes:
    """PNG: miss rate per bin of one slice family, every list as a grouped bar, bins in order."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    bins = ordered_bins(family, {b for rates in miss_rates.values() for b in rates})
    width = 0.8 / max(len(miss_rates), 1)
    fig, ax = plt.subplots(figsize=(max(6, 1.1 * len(bins) + 2), 3.6))
    for i, (name, rates) in enumerate(miss_rates.items()):
        ax.bar(np.arange(len(bins)) + i * width, [rates.get(b, np.nan) for b in bins], width, label=name)
    ax.set_xticks(np.arange(len(bins)) + width * (len(miss_rates) - 1) / 2, bins,
                  rotation=30 if family == "product_group" else 0, ha="right" if family == "product_group" else "center")
    ax.set_xlabel(family.replace("_", " "))
    ax.set_ylabel("miss rate (lower is better)")
    ax.set_ylim(0, 1)
    ax.set_title(f"Miss rate by {family.replace('_', ' ')}")
    ax.legend(fontsize=7, ncol=len(miss_rates))
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=80)
    plt.close(fig)
    return buffer.getvalue()
