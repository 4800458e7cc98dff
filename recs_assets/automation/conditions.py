"""Which assets refresh themselves, and how fresh they must be, in one table.

Everything downstream of the raw data is ``eager``: it runs when an upstream asset gets new data
(a landed file, a retrained model), once the upstream runs have finished. The model's consumers
(best_model and the candidate stage) ignore feature and mart updates: new data reaches them as
retrained models, so they never pair a model with features it was not trained on. The ranker,
evaluation and serving follow the candidates. Raw loads are started by a
person (``raw_*``) or the landing sensor (``landed_transactions``, one partition per landed file). It
may have no partition at all (no file landed yet) or a partition never materialized (a quarantined
file): neither holds the marts back.

Freshness: the weekly schedule retrains every Monday, so a best model older than a week warns and one
older than eight days fails (``freshness: enabled`` in dagster.yaml turns evaluation on). The served
cache is judged by when its live version changed, not when the asset ran: the
``live_version_freshness`` check (``monitoring``) does that.
"""

from __future__ import annotations

from datetime import timedelta

from dagster import AssetSelection, AssetSpec, AutomationCondition, FreshnessPolicy, map_asset_specs

AUTOMATED_GROUPS = {"staging", "marts", "features", "training", "candidates", "ranking", "evaluation", "serving"}
OPTIONAL_INPUTS = AssetSelection.assets("landed_transactions")
# Consumers of the chosen model also read the features, but must only run once the model has been
# retrained on them: new features reach them through best_model, never directly.
# The candidate stage reads the marts too, but only with the model retrained on them.
FEATURES = AssetSelection.assets("nvt_workflow", "transformed_train", "transformed_validation", "transformed_test")
# The tuned baselines follow new data at once; the candidates read their ALS settings, but only once the
# model has been retrained on that data too.
DATA = FEATURES | AssetSelection.groups("marts", "staging") | AssetSelection.assets("tuned_baselines")
MODEL_CONSUMERS = {"best_model", "candidate_generation", "history_candidates", "copurchase_candidates",
                   "popularity_candidates", "retrieval_candidates", "als_candidates", "candidates"}

WEEKLY = FreshnessPolicy.time_window(fail_window=timedelta(days=8), warn_window=timedelta(days=7))
FRESHNESS = {"best_model": WEEKLY}


def on_new_data() -> AutomationCondition:
    """``eager``, except that a never-materialized optional input does not count as missing."""
    return AutomationCondition.eager().replace(
        "any_deps_missing", AutomationCondition.any_deps_missing().ignore(OPTIONAL_INPUTS)
    ).with_label("eager (landed feed optional)")


def on_new_model() -> AutomationCondition:
    """``on_new_data``, blind to feature updates (they arrive as a retrained model)."""
    return on_new_data().ignore(DATA).with_label("eager on a new model")


def _condition(spec: AssetSpec) -> AutomationCondition | None:
    if spec.group_name not in AUTOMATED_GROUPS:
        return spec.automation_condition
    return on_new_model() if spec.key.to_user_string() in MODEL_CONSUMERS else on_new_data()


def _automate(spec: AssetSpec) -> AssetSpec:
    key = spec.key.to_user_string()
    return spec.replace_attributes(
        automation_condition=_condition(spec),
        freshness_policy=FRESHNESS.get(key, spec.freshness_policy),
    )


def with_automation(assets: list) -> list:
    """The assets with the conditions and freshness policies above attached."""
    return list(map_asset_specs(_automate, assets))
