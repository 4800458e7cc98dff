"""Training assets: ``trained_model`` (one partition per grid entry) and ``best_model``."""

import json
import tempfile

from dagster import (
    AssetExecutionContext,
    AssetIn,
    AssetKey,
    AssetRecordsFilter,
    Config,
    Failure,
    MetadataValue,
    Output,
    StaticPartitionsDefinition,
    asset,
)
from pydantic import Field

from recs_assets.artifacts import ModelRef, SplitRef, TrainedModel, WorkflowRef, features_mismatch, model_key
from recs_assets.deployment.compute import gpu_training_tags
from recs_assets.features.workflow import read_transformed
from recs_assets.resources.model_store import ModelStore
from recs_assets.resources.tracker import ExperimentTracker
from recs_assets.training.grid import BY_KEY, GRID
from recs_assets.training.report import ReportSpec, save_report
from recs_assets.training.selection import comparison_table, select_best
from recs_assets.core.metrics import K

hyperparameter_partitions = StaticPartitionsDefinition([p.key for p in GRID])


def _group(context: AssetExecutionContext) -> str:
    """W&B group: the backfill when partitions run as one (each partition is its own Dagster run)."""
    return context.run.tags.get("dagster/backfill", context.run_id)


def _comparison_report(tracker: ExperimentTracker, spec: ReportSpec) -> str:
    """The W&B Report's URL (online), the file holding its definition (offline), or why there is none."""
    mode = tracker.resolved_mode()
    if mode == "disabled":
        return "none: tracking disabled"
    try:
        return save_report(spec, online=mode == "online", offline_dir=tracker.dir)
    except Exception as exc:  # W&B must never stop the pipeline
        return f"not saved: {type(exc).__name__}: {exc}"


class TrainingConfig(Config):
    seed: int = Field(42, description="Seeds TensorFlow, NumPy and Python: same seed, same model.")
    k: int = Field(K, ge=1, description="Cutoff of the validation metrics (H&M scores top 12).")


@asset(
    partitions_def=hyperparameter_partitions,
    ins={"transformed_train": AssetIn(), "transformed_validation": AssetIn()},
    group_name="training",
    kinds={"tensorflow"},
    # In production the K8s/ECS executors read these to give training a GPU (deployment/compute.py).
    op_tags=gpu_training_tags(),
)
def trained_model(
    context: AssetExecutionContext,
    config: TrainingConfig,
    transformed_train: SplitRef,
    transformed_validation: SplitRef,
    model_store: ModelStore,
    tracker: ExperimentTracker,
):
    """A Merlin two-tower model trained with this partition's hyperparameters, scored on validation
    against the whole catalogue seen in training."""
    from recs_assets.training.two_tower import evaluate, save_model, train_two_tower

    params = BY_KEY[context.partition_key]
    if transformed_train.features != transformed_validation.features:
        raise Failure(f"train ({transformed_train.key}) and validation ({transformed_validation.key}) come from"
                      " different workflows: materialize transformed_splits first")
    train_ds = read_transformed(model_store.local_path(transformed_train.key))
    valid_ds = read_transformed(model_store.local_path(transformed_validation.key))
    run = tracker.start(
        name=context.partition_key, group=_group(context), job_type="train",
        config={**params.as_dict(), "seed": config.seed, "features": transformed_train.key},
    )
    try:
        def report(epoch: int, logs: dict) -> None:
            context.log.info(f"{context.partition_key} epoch {epoch + 1}/{params.epochs}: {logs}")
            run.log({f"train/{k}": v for k, v in logs.items()}, step=epoch)

        def progress(done: int, total: int, seconds: float) -> None:
            rate = done / seconds
            context.log.info(f"{context.partition_key}: batch {done:,}/{total:,} ({rate * params.batch_size:,.0f}"
                             f" examples/s, about {(total - done) / rate / 60:.1f} min left)")

        result = train_two_tower(train_ds, params, seed=config.seed, on_epoch_end=report, on_progress=progress)
        metrics = evaluate(result.model, train_ds, valid_ds, k=config.k)
        with tempfile.TemporaryDirectory() as tmp:
            weights = save_model(result.model, tmp)
            uri = model_store.publish_dir(tmp, model_key(transformed_train.features, context.partition_key, weights))
        run.log({f"validation/{k}": v for k, v in metrics.items()})
        run.summarize({**metrics, "train_seconds": result.seconds, "examples_per_second": result.examples_per_second})
        run.reference_artifact(f"two-tower-{context.partition_key}", "model", uri)
    finally:
        run.finish()

    trained = TrainedModel(
        model=ModelRef(features=transformed_train.features, partition=context.partition_key, uri=uri, weights=weights),
        params=params.as_dict(), seed=config.seed, metrics=metrics, train_seconds=result.seconds,
        examples_per_second=result.examples_per_second, final_loss=result.history["loss"][-1], wandb=run.location,
    )
    return Output(
        trained,
        metadata={
            **{k: float(v) for k, v in metrics.items()},
            "hyperparameters": MetadataValue.json(params.as_dict()),
            "seed": config.seed,
            "train_seconds": round(result.seconds, 2),
            "examples_per_second": round(result.examples_per_second, 1),
            "loss_per_epoch": MetadataValue.json(result.history["loss"]),
            "model_uri": uri,
            "wandb": run.location,
            "summary": MetadataValue.json(trained.to_json()),
        },
    )


class BestModelConfig(Config):
    metric: str = Field(f"recall_at_{K}", description="Validation metric to maximise.")


def latest_partition_results(instance, partitions: list[str]) -> dict[str, TrainedModel]:
    """Each materialized partition's model, from its latest materialization's metadata (a summary
    written before models were typed reads as absent: retrain it)."""
    results = {}
    for key in partitions:
        records = instance.fetch_materializations(
            AssetRecordsFilter(asset_key=AssetKey("trained_model"), asset_partitions=[key]), limit=1
        ).records
        if records:
            summary = json.loads(json.dumps(records[0].asset_materialization.metadata["summary"].value))
            try:
                results[key] = TrainedModel.from_json(summary)
            except (KeyError, TypeError):
                continue
    return results


@asset(deps=["trained_model"], ins={"nvt_workflow": AssetIn()}, group_name="training", kinds={"tensorflow"})
def best_model(
    context: AssetExecutionContext, config: BestModelConfig, tracker: ExperimentTracker, nvt_workflow: WorkflowRef
):
    """The partition with the best validation metric, why, and a comparison of all partitions.

    Reads each partition's latest materialization, so a partition that failed or was never trained
    is left out rather than failing the choice; so is one trained on older features (its item ids
    and validation split differ), until it is retrained."""
    latest = latest_partition_results(context.instance, hyperparameter_partitions.get_partition_keys())
    models = {k: r for k, r in latest.items() if features_mismatch(r.model, nvt_workflow) is None}
    if not models:
        raise Failure(
            f"no trained_model partition was trained on the current features {nvt_workflow.key} "
            f"(trained: { {k: r.model.workflow_key for k, r in latest.items()} }); train the partitions first"
        )
    best, reason = select_best({k: r.metrics for k, r in models.items()}, config.metric)
    missing = sorted(set(hyperparameter_partitions.get_partition_keys()) - set(models))
    table = comparison_table(models, best)
    run = tracker.start(name="comparison", group=_group(context), job_type="compare", config={"metric": config.metric})
    columns = ["partition", *sorted(models[best].metrics), "train_seconds", "examples_per_second"]
    run.log_table("partitions", columns, [
        [k, *[r.metrics.get(m) for m in columns[1:-2]], r.train_seconds, r.examples_per_second]
        for k, r in sorted(models.items())
    ])
    run.summarize({"best": best, "reason": reason})
    run.finish()
    report = _comparison_report(tracker, ReportSpec(
        project=tracker.project, entity=tracker.entity or "", features=nvt_workflow.key, metric=config.metric,
        params=tuple(models[best].params), best=best, reason=reason))
    context.log.info(f"best model: {best} ({reason})")
    return Output(
        models[best].chosen(reason, config.metric),
        metadata={
            "best_partition": best,
            "reason": reason,
            config.metric: float(models[best].metrics[config.metric]),
            "model_uri": models[best].model.uri,
            "partitions_compared": len(models),
            "partitions_missing": MetadataValue.json(missing),
            "features": nvt_workflow.key,
            "comparison": MetadataValue.md(table),
            "wandb_comparison": run.location,
            "wandb_report": report,
        },
    )
