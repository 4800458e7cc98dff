"""Choosing the best trained partition and tabulating all of them (pure)."""

from __future__ import annotations

import math
from typing import Any


def select_best(results: dict[str, dict[str, Any]], metric: str) -> tuple[str, str]:
    """(partition key, reason) of the result with the highest ``metric``.

    ``results`` maps partition key → {"metrics": {...}, ...}. Results without the metric, or with
    NaN, are skipped; ties go to the alphabetically first key, so the choice is reproducible.
    """
    scored = {
        key: float(r["metrics"][metric])
        for key, r in results.items()
        if metric in r.get("metrics", {}) and not math.isnan(float(r["metrics"][metric]))
    }
    if not scored:
        raise ValueError(f"no trained partition has metric {metric!r} (partitions: {sorted(results)})")
    best = min(scored, key=lambda k: (-scored[k], k))
    others = sorted((v for k, v in scored.items() if k != best), reverse=True)
    runner_up = f"; runner-up {others[0]:.4f}" if others else "; the only candidate"
    return best, f"highest validation {metric} = {scored[best]:.4f} of {len(scored)} partitions{runner_up}"


def comparison_table(results: dict[str, dict[str, Any]], best: str | None = None) -> str:
    """Markdown table: one row per partition, hyperparameters then metrics, best marked."""
    if not results:
        return "_no partitions_"
    params = sorted({p for r in results.values() for p in r.get("params", {})})
    metrics = sorted({m for r in results.values() for m in r.get("metrics", {})})
    head = ["partition", *params, *metrics, "train s", "examples/s"]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for key in sorted(results):
        r = results[key]
        cells = [f"**{key}** (best)" if key == best else key]
        cells += [str(r.get("params", {}).get(p, "")) for p in params]
        cells += [f"{r['metrics'][m]:.4f}" if m in r.get("metrics", {}) else "" for m in metrics]
        cells += [f"{r.get('train_seconds', float('nan')):.1f}", f"{r.get('examples_per_second', float('nan')):,.0f}"]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)
