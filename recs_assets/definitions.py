"""The one place that assembles assets, checks, jobs, sensors, schedules, executor and resources."""

from dagster import AssetSelection, AutomationConditionSensorDefinition, DefaultSensorStatus, Definitions

from recs_assets.automation.backtest_sensor import backtest_live_list, backtest_sensor
from recs_assets.automation.conditions import with_automation
from recs_assets.automation.schedules import train_models, weekly_retraining
from recs_assets.automation.sensors import ingest_landed_file, landing_sensor
from recs_assets.baselines.assets import tuned_baselines
from recs_assets.candidates.assets import candidate_generation
from recs_assets.deployment.compute import build_executor
from recs_assets.environment import build_resources
from recs_assets.evaluation.assets import evaluation
from recs_assets.features.assets import nvt_workflow, transformed_splits
from recs_assets.ingest.assets import raw_tables
from recs_assets.ingest.landed_assets import landed_transactions
from recs_assets.monitoring.assets import live_list_backtest, version_drift_check
from recs_assets.monitoring.freshness_checks import FRESHNESS_CHECKS
from recs_assets.monitoring.load_checks import LOAD_CHECKS
from recs_assets.ranking.assets import ranker
from recs_assets.serving.assets import recommendations, served_recommendations
from recs_assets.training.assets import best_model, trained_model
from recs_assets.transform.assets import dbt_marts

ASSETS = [raw_tables, landed_transactions, dbt_marts, nvt_workflow, transformed_splits, trained_model, best_model,
          candidate_generation, tuned_baselines, ranker, evaluation, recommendations, served_recommendations,
          live_list_backtest]
CHECKS = [version_drift_check, *LOAD_CHECKS, *FRESHNESS_CHECKS]

# Evaluates every asset's automation condition (conditions.py) each minute; on by default.
automation_sensor = AutomationConditionSensorDefinition(
    "automation_sensor",
    target=AssetSelection.all(),
    default_status=DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=60,
    description="Refreshes marts, features, models, evaluation and the cache when their inputs change.",
)


def build_defs() -> Definitions:
    """The code location for the current environment (``RECS_ENV``, ``RECS_EXECUTOR``, data folder)."""
    return Definitions(
        assets=with_automation(ASSETS),
        asset_checks=CHECKS,
        jobs=[train_models, ingest_landed_file, backtest_live_list],
        schedules=[weekly_retraining],
        sensors=[landing_sensor, automation_sensor, backtest_sensor],
        resources=build_resources(),
        executor=build_executor(),
    )


defs = build_defs()
