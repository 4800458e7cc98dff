"""The promotion gate (pure): may this list replace what is served?"""

from __future__ import annotations

from dataclasses import dataclass

# Metrics where a smaller value is better; every other gate metric is higher-is-better.
LOWER_IS_BETTER = {"popularity_bias_at_k"}


@dataclass(frozen=True)
class GateDecision:
    passed: bool
    reasons: list[str]
    strongest_baseline: str = ""


def strongest(baselines: dict[str, dict[str, float]], metric: str) -> str:
    """The baseline with the best ``metric`` (ties: the first name alphabetically; NaN scores never win)."""
    if not baselines:
        raise ValueError("the gate needs at least one baseline")
    sign = -1.0 if metric in LOWER_IS_BETTER else 1.0
    scored = [n for n in baselines if baselines[n][metric] == baselines[n][metric]] or sorted(baselines)[:1]
    return min(scored, key=lambda name: (-sign * baselines[name][metric], name))


def promotion_decision(
    served: dict[str, float],
    baselines: dict[str, dict[str, float]],
    mred: dict[str, float],
    metric: str,
    min_relative_lift: float,
    max_mred: dict[str, float],
    inputs: dict[str, dict[str, float]] | None = None,
    interval: tuple[float, float] | None = None,
    require_interval_above_one: bool = False,
) -> GateDecision:
    """Pass when the served list beats the **strongest** baseline on ``metric`` by
    ``min_relative_lift`` (higher-is-better: served ≥ best × (1 + lift); lower-is-better:
    served ≤ best × (1 − lift)), strictly when the baseline scores 0, is no worse than each list of
    ``inputs`` (what the ranker ranks, e.g. the two-tower alone), and each slice family's MRED is at
    most its bound in ``max_mred`` (families without a bound are reported, not gated). A NaN score of
    any list fails. ``interval``: the bootstrap interval of served / strongest, reported, and
    required above 1 when ``require_interval_above_one``.
    ``reasons`` says what failed (or, when all passed, what was checked)."""
    if min_relative_lift < 0:
        raise ValueError(f"min_relative_lift={min_relative_lift} is negative: the served list would pass while"
                         " losing to a baseline")
    failures, notes = [], []
    broken = sorted(n for n, b in {**baselines, **(inputs or {})}.items() if b.get(metric) != b.get(metric))
    if served.get(metric) != served.get(metric) or broken:  # NaN: nothing to compare, nothing approved
        nan = (["served"] if served.get(metric) != served.get(metric) else []) + broken
        failures.append(f"{metric} is not a number for {', '.join(nan)}: nothing to compare")
        return GateDecision(passed=False, reasons=failures, strongest_baseline=broken[0] if broken else "")
    best = strongest(baselines, metric)
    bar = baselines[best][metric]
    value = served[metric]
    if metric in LOWER_IS_BETTER:
        needed = bar * (1 - min_relative_lift)
        ok, relation = (value <= needed and (bar > 0 or value < bar)), "≤"
    else:
        needed = bar * (1 + min_relative_lift)
        ok, relation = (value >= needed and (bar > 0 or value > bar)), "≥"
    others = ", ".join(f"{n} {b[metric]:.4f}" for n, b in sorted(baselines.items()) if n != best)
    line = (f"{metric}: served {value:.4f} vs strongest baseline {best} {bar:.4f} (needs {relation} {needed:.4f}"
            f"{', and strictly better than 0' if bar == 0 else ''}); other baselines: {others or 'none'}")
    (notes if ok else failures).append(line)
    for name, scores in sorted((inputs or {}).items()):  # the ranked list must not lose to its own input
        ok = value <= scores[metric] if metric in LOWER_IS_BETTER else value >= scores[metric]
        (notes if ok else failures).append(f"{metric}: served {value:.4f} vs its input {name} {scores[metric]:.4f}"
                                           " (must not be worse)")
    if interval is not None:
        low, high = interval
        line = f"95 % interval of served / {best}: {low:.3f}–{high:.3f}"
        if require_interval_above_one and not low > 1.0:
            failures.append(line + " (policy: its lower bound must be above 1)")
        else:
            notes.append(line)
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
    return GateDecision(passed=not failures, reasons=failures or notes, strongest_baseline=best)


def decide(policy, served: dict[str, float], baselines: dict[str, dict[str, float]], mred: dict[str, float],
           inputs: dict[str, dict[str, float]] | None = None,
           interval: tuple[float, float] | None = None) -> GateDecision:
    """``promotion_decision`` with the settings of ``policy`` (a ``resources.promotion_policy.PromotionPolicy``)."""
    return promotion_decision(served, baselines, mred, policy.gate_metric, policy.min_relative_lift, policy.max_mred,
                              inputs=inputs, interval=interval,
                              require_interval_above_one=policy.require_interval_above_one)
