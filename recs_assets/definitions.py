"""The one place that assembles assets, checks, jobs and resources into the code location."""

from dagster import Definitions, define_asset_job

from recs_assets.environment import build_resources
from recs_assets.evaluation.assets import evaluation
from recs_assets.features.assets import nvt_workflow, transformed_splits
from recs_assets.ingest.assets import raw_tables
from recs_assets.training.assets import best_model, hyperparameter_partitions, trained_model
from recs_assets.serving.assets import recommendations, served_recommendations
from recs_assets.transform.assets import dbt_marts

train_models = define_asset_job(
    "train_models",
    selection=[trained_model],
    partitions_def=hyperparameter_partitions,
    description="Train one hyperparameter partition; backfill it to train the whole grid.",
)

defs = Definitions(
    assets=[raw_tables, dbt_marts, nvt_workflow, transformed_splits, trained_model, best_model, evaluation,
            recommendations, served_recommendations],
    jobs=[train_models],
    resources=build_resources(),
)
