"""Choosing the best trained partition and tabulating all of them (pure)."""

from __future__ import annotations

import math

from recs_assets.artifacts import TrainedModel


def select_best(metrics: dict[str, dict[str, float]], metric: str) -> tuple[str, str]:
    """(partition key, reason) of the partition with the highest ``metric``.

    ``metrics`` maps partition key → its validation metrics. Partitions without the metric, or with
    NaN, are skipped; ties go to the alphabetically first key, so the choice is reproducible.
    """
    scored = {
        key: float(m[metric]) for key, m in metrics.items() if metric in m and not math.isnan(float(m[metric]))
    }
    if not scored:
        raise ValueError(f"no trained partition has metric {metric!r} (partitions: {sorted(metrics)})")
    best = min(scored, key=lambda k: (-scored[k], k))
    others = sorted((v for k, v in scored.items() if k != best), reverse=True)
    runner_up = f"; runner-up {others[0]:.4f}" if others else "; the only candidate"
    return best, f"highest validation {metric} = {scored[best]:.4f} of {len(scored)} partitions{runner_up}"


def comparison_table(models: dict[str, TrainedModel], best: str | None = None) -> str:
    """Markdown table: one row per partition, hyperparameters then metrics, best marked."""
    if not models:
        return "_no partitions_"
    params = sorted({p for r in models.values() for p in r.params})
    metrics = sorted({m for r in models.values() for m in r.metrics})
    head = ["partition", *params, *metrics, "train s", "examples/s"]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for key in sorted(models):
        r = models[key]
        cells = [f"**{key}** (best)" if key == best else key]
        cells += [str(r.params.get(p, "")) for p in params]
        cells += [f"{r.metrics[m]:.4f}" if m in r.metrics else "" for m in metrics]
        cells += [f"{r.train_seconds:.1f}", f"{r.examples_per_second:,.0f}"]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)
