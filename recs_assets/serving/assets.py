"""Serving assets: top-k for every customer (only for a model that passed the gate), then published
atomically to the recommendation cache."""

import hashlib
import tempfile
import time
from pathlib import Path
from typing import Literal

import pandas as pd
from dagster import AssetExecutionContext, AssetIn, Config, Failure, MetadataValue, Output, asset
from pydantic import Field

from recs_assets.evaluation.baselines import popular_last_week
from recs_assets.features.workflow import load_workflow, read_transformed
from recs_assets.resources.model_store import ModelStore
from recs_assets.resources.warehouse import Warehouse
from recs_assets.serving.cache import Recommendation, RecommendationCache
from recs_assets.serving.topk_for_users import recommend_all
from recs_assets.training.selection import features_mismatch


class RecommendationsConfig(Config):
    k: int = Field(12, ge=1, le=100)
    exclude_purchased: bool = Field(False, description="Drop items the customer bought in train.")
    engine: Literal["faiss", "numpy"] = Field("faiss", description="Exact top-k engine.")
    block_size: int = Field(
        1024, ge=1, description="numpy engine: customers per matrix product; memory ≈ 12 B × block × items."
    )


@asset(
    ins={name: AssetIn() for name in ("evaluation", "best_model", "nvt_workflow", "transformed_train")},
    group_name="serving",
    kinds={"numpy", "parquet"},
)
def recommendations(
    context: AssetExecutionContext,
    config: RecommendationsConfig,
    evaluation: dict,
    best_model: dict,
    nvt_workflow: dict,
    transformed_train: dict,
    warehouse: Warehouse,
    model_store: ModelStore,
):
    """Top-k items for every customer known to the model, and a popularity list for unknown ones."""
    if mismatch := features_mismatch(best_model, nvt_workflow):
        raise Failure(mismatch)
    if not evaluation["gate"]["passed"] or evaluation["model_key"] != best_model["model_key"]:
        raise Failure(
            f"model {best_model['model_key']} has not passed the promotion gate "
            f"(last evaluation: {evaluation['model_key']}, passed={evaluation['gate']['passed']}); not publishing"
        )
    train = warehouse.query("select * from marts.train_transactions")
    workflow_dir = model_store.local_path(nvt_workflow["key"])
    start = time.perf_counter()
    recs = recommend_all(
        model_store.local_path(best_model["model_key"]), load_workflow(workflow_dir), workflow_dir,
        read_transformed(model_store.local_path(transformed_train["key"])), train,
        k=config.k, exclude_purchased=config.exclude_purchased, block_size=config.block_size,
        engine=config.engine,
    )
    seconds = time.perf_counter() - start
    fallback = popular_last_week(train, config.k)
    version = hashlib.sha1(
        f"{best_model['model_key']}|{config.k}|{config.exclude_purchased}|{nvt_workflow['fingerprint']}".encode()
    ).hexdigest()[:16]
    key = f"recommendations/{version}"
    with tempfile.TemporaryDirectory() as tmp:
        recs.to_parquet(Path(tmp) / "recommendations.parquet", index=False)
        pd.DataFrame({"article_id": fallback}).to_parquet(Path(tmp) / "fallback.parquet", index=False)
        uri = model_store.publish_dir(tmp, key)
    preview = recs.head(5).assign(items=lambda d: d["items"].map(lambda x: x[:5]))[["customer_id", "items"]]
    return Output(
        {"key": key, "version": version, "model_version": best_model["model_key"], "k": config.k,
         "fallback": fallback, "users": len(recs)},
        metadata={
            "users": len(recs), "k": config.k, "exclude_purchased": config.exclude_purchased,
            "engine": config.engine,
            "seconds": round(seconds, 2), "users_per_second": round(len(recs) / seconds, 1) if seconds else None,
            "version": version, "uri": uri, "fallback": MetadataValue.json(fallback),
            "preview": MetadataValue.md(preview.to_markdown(index=False)),
        },
    )


@asset(ins={"recommendations": AssetIn()}, group_name="serving", kinds={"sqlite", "dynamodb"})
def served_recommendations(
    context: AssetExecutionContext, recommendations: dict, model_store: ModelStore, cache: RecommendationCache
):
    """The recommendations published to the cache under a new version; readers switch in one step."""
    frame = pd.read_parquet(model_store.local_path(recommendations["key"]) / "recommendations.parquet")
    # parquet gives numpy arrays: tolist() turns them into plain ints/floats every backend can store
    rows = (Recommendation(c, i.tolist(), s.tolist()) for c, i, s in frame.itertuples(index=False))
    report = cache.publish(recommendations["version"], rows, recommendations["fallback"],
                           recommendations["model_version"])
    context.log.info(f"published {report.rows} users to {cache.describe()} as {report.version}"
                     + (" (already current)" if report.already_current else ""))
    return Output(
        {"version": report.version, "cache": cache.describe()},
        metadata={
            "cache": cache.describe(), "version": report.version, "rows": report.rows,
            "already_current": report.already_current, "seconds": round(report.seconds, 2),
            "rows_per_second": round(report.rows / report.seconds, 1) if report.rows else 0.0,
            "removed_versions": MetadataValue.json(list(report.removed_versions)),
        },
    )
