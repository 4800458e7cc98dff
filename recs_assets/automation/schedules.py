"""Weekly retraining: every hyperparameter partition retrains on Monday morning, new data or not;
automation then carries the new models through selection, evaluation and the cache."""

from dagster import DefaultScheduleStatus, RunRequest, ScheduleEvaluationContext, define_asset_job, schedule

from recs_assets.training.assets import hyperparameter_partitions, trained_model

WEEKLY_CRON = "0 4 * * 1"  # Mondays 04:00 UTC, after the weekend's purchases have landed

train_models = define_asset_job(
    "train_models",
    selection=[trained_model],
    description="Train one hyperparameter partition; backfill it to train the whole grid.",
)


@schedule(
    cron_schedule=WEEKLY_CRON,
    execution_timezone="UTC",
    job=train_models,
    default_status=DefaultScheduleStatus.RUNNING,
    description="Retrain every partition of trained_model once a week.",
)
def weekly_retraining(context: ScheduleEvaluationContext):
    week = context.scheduled_execution_time.strftime("%Y-%m-%d")
    for key in hyperparameter_partitions.get_partition_keys():
        yield RunRequest(run_key=f"{week}-{key}", partition_key=key, tags={"recs_assets/trigger": "weekly"})
