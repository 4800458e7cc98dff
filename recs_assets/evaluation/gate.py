"""The promotion gate (pure): may this model replace what is served?"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class GateDecision:
    passed: bool
    reasons: list[str]


def promotion_decision(
    model: dict[str, float],
    baseline: dict[str, float],
    mred: dict[str, float],
    metric: str,
    min_relative_lift: float,
    max_mred: dict[str, float],
) -> GateDecision:
    """Pass when ``model[metric] >= baseline[metric] * (1 + min_relative_lift)`` and each slice
    family's MRED is at most its bound in ``max_mred`` (families without a bound are reported, not
    gated). ``reasons`` says what failed (or, when all passed, what was checked)."""
    failures, notes = [], []
    needed = baseline[metric] * (1 + min_relative_lift)
    line = f"{metric}: model {model[metric]:.4f} vs baseline {baseline[metric]:.4f} (needs ≥ {needed:.4f})"
    (notes if model[metric] >= needed else failures).append(line)
    for family, value in sorted(mred.items()):
        bound = max_mred.get(family)
        if value != value:  # NaN: no slice had enough pairs to judge
            notes.append(f"MRED {family}: no slice large enough to judge (not gated)")
            continue
        if bound is None:
            notes.append(f"MRED {family}: {value:.4f} (not gated)")
            continue
        line = f"MRED {family}: {value:.4f} (bound {bound:.4f})"
        (notes if value <= bound else failures).append(line)
    return GateDecision(passed=not failures, reasons=failures or notes)
