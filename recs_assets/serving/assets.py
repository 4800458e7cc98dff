"""Serving assets: the ranked top-k for every customer (only for a ranker that passed the gate),
then published atomically to the recommendation cache."""

import hashlib
import tempfile
import time
from pathlib import Path

import pandas as pd
from dagster import AssetExecutionContext, AssetIn, Config, Failure, MetadataValue, Output, asset
from pydantic import Field

from recs_assets.artifacts import CandidatesRef, EvaluationRef, RankerRef, RecommendationsRef, recommendations_key
from recs_assets.candidates.purchase_log import PurchaseLog
from recs_assets.evaluation.baselines import popular_before
from recs_assets.ranking.assets import scored_parts
from recs_assets.ranking.lists import top_lists
from recs_assets.resources.model_store import ModelStore
from recs_assets.resources.warehouse import Warehouse
from recs_assets.serving.cache import Recommendation, RecommendationCache


class RecommendationsConfig(Config):
    k: int = Field(12, ge=1, le=100)
    exclude_purchased: bool = Field(
        False, description="Drop articles the customer already bought (the ranker learns from the data whether"
                           " re-buying is likely; this forces it off).")


@asset(
    ins={name: AssetIn() for name in ("evaluation", "ranker", "candidates")},
    group_name="serving",
    kinds={"lightgbm", "parquet"},
)
def recommendations(
    context: AssetExecutionContext,
    config: RecommendationsConfig,
    evaluation: EvaluationRef,
    ranker: RankerRef,
    candidates: CandidatesRef,
    warehouse: Warehouse,
    model_store: ModelStore,
):
    """The ranked top-k for every customer with a purchase, from every purchase up to the last day
    of data (history, candidates, features, exclusions and the fallback); best sellers of the last
    week for unknown customers."""
    if refusal := evaluation.approves(ranker):
        raise Failure(refusal)
    start = time.perf_counter()
    log = PurchaseLog.from_warehouse(warehouse)
    serve_day = candidates.windows["serve"]
    fallback = popular_before(log, serve_day, config.k)
    top_up = popular_before(log, serve_day, 3 * config.k) if config.exclude_purchased else fallback
    customers = pd.Series(log.customers_before(serve_day), dtype=object)
    lists, covered, scorer = [], set(), "none (no candidates)"
    total = candidates.parts.get("serve", 0)
    for part, scored in enumerate(scored_parts(log, model_store, candidates, ranker, "serve"), 1):
        mine = pd.Series(scored["customer_id"].unique(), dtype=object)
        covered.update(mine)
        scorer = scored.attrs.get("scorer", scorer)
        bought = None
        if config.exclude_purchased:
            scored = scored[scored["ui_count"] == 0]
            log.register("chunk", pd.DataFrame({"customer_id": mine}))
            bought = log.query("select distinct customer_id, article_id from purchases_with_ids"
                               " join chunk using (customer_id)")
        lists.append(top_lists(scored, scored["score"], config.k, mine, top_up, exclude=bought))
        elapsed = time.perf_counter() - start
        context.log.info(f"ranked part {part}/{total}: {len(mine):,} customers; {elapsed:.0f}s so far, about"
                         f" {elapsed / part * max(total - part, 0) / 60:.1f} min left")
    rest = customers[~customers.isin(covered)]  # every customer with a purchase gets a list
    lists.append(top_lists(pd.DataFrame(columns=["customer_id", "article_id"]), [], config.k, rest, fallback))
    recs = pd.concat(lists, ignore_index=True).sort_values("customer_id", kind="stable").reset_index(drop=True)
    seconds = time.perf_counter() - start
    version = hashlib.sha1(
        f"{ranker.key}|{config.k}|{config.exclude_purchased}|{candidates.key}".encode()
    ).hexdigest()[:16]
    key = recommendations_key(version)
    with tempfile.TemporaryDirectory() as tmp:
        recs.to_parquet(Path(tmp) / "recommendations.parquet", index=False)
        pd.DataFrame({"article_id": fallback}).to_parquet(Path(tmp) / "fallback.parquet", index=False)
        uri = model_store.publish_dir(tmp, key)
    preview = recs.head(5).assign(items=lambda d: d["items"].map(lambda x: x[:5]))[["customer_id", "items"]]
    return Output(
        RecommendationsRef(key=key, uri=uri, version=version, model_version=ranker.key, k=config.k,
                           fallback=fallback, users=len(recs), serve_day=serve_day),
        metadata={
            "users": len(recs), "k": config.k, "exclude_purchased": config.exclude_purchased,
            "serving_day": serve_day, "data_through": str(pd.Timestamp(serve_day).date() - pd.Timedelta(days=1)),
            "seconds": round(seconds, 2), "users_per_second": round(len(recs) / seconds, 1) if seconds else None,
            "version": version, "uri": uri, "fallback": MetadataValue.json(fallback), "scorer": scorer,
            "preview": MetadataValue.md(preview.to_markdown(index=False)),
        },
    )


@asset(ins={"recommendations": AssetIn()}, group_name="serving", kinds={"sqlite", "dynamodb"})
def served_recommendations(
    context: AssetExecutionContext, recommendations: RecommendationsRef, model_store: ModelStore,
    cache: RecommendationCache
):
    """The recommendations published to the cache under a new version; readers switch in one step."""
    frame = pd.read_parquet(model_store.local_path(recommendations.key) / "recommendations.parquet")
    # parquet gives numpy arrays: tolist() turns them into plain ints/floats every backend can store
    rows = (Recommendation(c, i.tolist(), s.tolist()) for c, i, s in frame.itertuples(index=False))
    report = cache.publish(recommendations.version, rows, recommendations.fallback, recommendations.model_version)
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
