"""Serving assets: the top-k for every customer (the ranker's when it passed the gate, else the live
version stays or the strongest baseline's list is built), then published atomically to the cache."""

import hashlib
import json
import tempfile
import time
from pathlib import Path

import pandas as pd
from dagster import AssetExecutionContext, AssetIn, Config, MetadataValue, Output, asset
from pydantic import Field

from recs_assets.artifacts import CandidatesRef, EvaluationRef, RankerRef, RecommendationsRef, recommendations_key
from recs_assets.candidates.purchase_log import PurchaseLog
from recs_assets.baselines.lists import every_list
from recs_assets.candidates.generators import popular_before
from recs_assets.baselines.tuning import TunedBaselines
from recs_assets.ranking.scoring import ranked_lists, scored_parts
from recs_assets.resources.model_store import ModelStore
from recs_assets.resources.warehouse import Warehouse
from recs_assets.resources.promotion_policy import PromotionPolicy
from recs_assets.serving import history
from recs_assets.serving.cache import Recommendation, RecommendationCache
from recs_assets.serving.history import ServedVersion
from recs_service.service import BASELINE_PREFIX, MAX_K
from recs_service.service import live as live_version
from recs_assets.core.metrics import K


class RecommendationsConfig(Config):
    k: int = Field(K, ge=1, le=MAX_K)
    exclude_purchased: bool = Field(
        False, description="Drop articles the customer already bought (the ranker learns from the data whether"
                           " re-buying is likely; this forces it off).")


@asset(
    ins={name: AssetIn() for name in ("evaluation", "ranker", "candidates", "tuned_baselines")},
    group_name="serving",
    kinds={"lightgbm", "parquet"},
    output_required=False,  # nothing new when an approved version stays live
)
def recommendations(
    context: AssetExecutionContext,
    config: RecommendationsConfig,
    evaluation: EvaluationRef,
    ranker: RankerRef,
    candidates: CandidatesRef,
    tuned_baselines: TunedBaselines,
    warehouse: Warehouse,
    model_store: ModelStore,
    cache: RecommendationCache,
    promotion: PromotionPolicy,
):
    """The top-k for every customer with a purchase, from every purchase up to the last day of data; best
    sellers of the last week for unknown customers. Which list is the gate's decision on the test week:
    the ranker's when it passed; otherwise the live version stays when it is an approved ranker's, and
    when it is not (nothing live, a baseline, or a ranker served below the margin), the better of the two
    is built and published: the ranker's when it beats the strongest baseline beyond doubt (the
    bootstrap interval of the lift above 1), else the baseline's."""
    start = time.perf_counter()
    refusal = evaluation.approves(ranker)
    live = live_version(cache)[1]  # the live list's model version
    passed = refusal is None or (not promotion.enforce and evaluation.ranker_key == ranker.key)
    clearly_better = (promotion.serve_clearly_better and evaluation.ranker_key == ranker.key
                      and evaluation.gate.lift_interval[0] > 1)  # NaN (no interval) compares False
    choice = champion(passed, live, promotion.prefer_fresh_baseline, clearly_better)
    if choice == "keep":
        context.log.warning(f"{refusal}; the approved version {live} stays live")
        return
    log = PurchaseLog.from_warehouse(warehouse)
    fingerprint = log.fingerprint()
    serve_day = candidates.windows["serve"]
    fallback = popular_before(log, serve_day, config.k)
    customers = pd.Series(log.customers_before(serve_day), dtype=object)
    if choice in ("ranker", "better"):
        list_name = "ranker"
        low, high = evaluation.gate.lift_interval
        if choice == "ranker":
            verdict = "passed" if refusal is None else "failed (not enforced)"
            why = f"the ranker {verdict} the promotion gate ({evaluation.gate.lift:.3f}× {evaluation.gate.strongest_baseline})"
        else:
            why = (f"the ranker failed the promotion gate ({'; '.join(evaluation.gate.reasons)}), but beats"
                   f" {evaluation.gate.strongest_baseline} beyond doubt ({evaluation.gate.lift:.3f}×, 95 % interval"
                   f" {low:.3f}–{high:.3f}) and nothing approved was live: serving the ranker, the better list")
            context.log.warning(why)
        recs, scorer = _ranked(context, config, log, model_store, candidates, ranker, customers, fallback, start)
        model_version = ranker.key if choice == "ranker" else f"{UNAPPROVED_PREFIX}{ranker.key}"
        settings = ""
        # The strongest baseline's lists as of the same cut-off, kept beside the ranker's: the weekly
        # backtest scores both on the same buyers without refitting anything later.
        reference = evaluation.gate.strongest_baseline
        reference_lists = every_list(
            log, {reference: (evaluation.baseline_settings or {}).get(reference, tuned_baselines.choices[reference].settings)},
            customers, serve_day, config.k, progress=lambda m: context.log.info(m))[reference] if reference else None
    else:
        list_name = evaluation.gate.strongest_baseline
        settings = (evaluation.baseline_settings or {}).get(list_name, tuned_baselines.choices[list_name].settings)
        why = (f"the ranker failed the promotion gate ({'; '.join(evaluation.gate.reasons)}); "
               + ("nothing approved was live" if not live or is_baseline(live) else "policy prefers a fresh baseline")
               + f": serving the strongest baseline, {list_name}")
        context.log.warning(why)
        recs = every_list(log, {list_name: settings}, customers, serve_day, config.k,
                          progress=lambda m: context.log.info(m))[list_name]
        scorer = f"baseline {list_name}"
        model_version = baseline_version(list_name, settings, fingerprint)
        reference_lists = None  # the served lists are the baseline's
    recs = recs.sort_values("customer_id", kind="stable").reset_index(drop=True)
    seconds = time.perf_counter() - start
    version = hashlib.sha1(
        f"{model_version}|{config.k}|{config.exclude_purchased}|{candidates.key}".encode()
    ).hexdigest()[:16]
    key = recommendations_key(version)
    with tempfile.TemporaryDirectory() as tmp:
        recs.to_parquet(Path(tmp) / "recommendations.parquet", index=False)
        pd.DataFrame({"article_id": fallback}).to_parquet(Path(tmp) / "fallback.parquet", index=False)
        if reference_lists is not None:
            reference_lists.sort_values("customer_id", kind="stable").reset_index(drop=True).to_parquet(
                Path(tmp) / "baseline.parquet", index=False)
        uri = model_store.publish_dir(tmp, key)
    preview = recs.head(5).assign(items=lambda d: d["items"].map(lambda x: x[:5]))[["customer_id", "items"]]
    yield Output(
        RecommendationsRef(key=key, uri=uri, version=version, model_version=model_version, k=config.k,
                           fallback=fallback, users=len(recs), serve_day=serve_day, list_name=list_name, why=why,
                           baseline_name=evaluation.gate.strongest_baseline or list_name,
                           purchases=int(fingerprint.split("-")[0]),
                           evaluation_map=_map(evaluation, list_name),
                           baseline_evaluation_map=_map(evaluation, evaluation.gate.strongest_baseline or list_name)),
        metadata={
            "list": list_name, "why": why, "settings": MetadataValue.json(settings or {}),
            "users": len(recs), "k": config.k, "exclude_purchased": config.exclude_purchased,
            "serving_day": serve_day, "data_through": str(pd.Timestamp(serve_day).date() - pd.Timedelta(days=1)),
            "seconds": round(seconds, 2), "users_per_second": round(len(recs) / seconds, 1) if seconds else None,
            "version": version, "uri": uri, "fallback": MetadataValue.json(fallback), "scorer": scorer,
            "preview": MetadataValue.md(preview.to_markdown(index=False)),
        },
    )


def _map(evaluation: EvaluationRef, list_name: str) -> float | None:
    """``list_name``'s MAP@k on the evaluation week (None when it was not evaluated)."""
    value = (evaluation.lists.get(list_name) or {}).get("map_at_k")
    return None if value is None else float(value)


# The model version of a ranker served without the gate's approval (better than the baseline beyond doubt,
# below the margin): never kept over a fresher list the way an approved ranker's version is.
UNAPPROVED_PREFIX = "unapproved:"


def is_baseline(model_version: str | None) -> bool:
    return bool(model_version) and model_version.startswith(BASELINE_PREFIX)


def is_approved(model_version: str | None) -> bool:
    """Whether the live version is a ranker's that passed the gate."""
    return bool(model_version) and not is_baseline(model_version) and not model_version.startswith(UNAPPROVED_PREFIX)


def champion(ranker_passed: bool, live_model_version: str | None, prefer_fresh_baseline: bool,
             ranker_clearly_better: bool = False) -> str:
    """What to serve: "ranker" (it passed), "keep" (an approved ranker's version is live and stays),
    "better" (the ranker failed the margin but beats the strongest baseline beyond doubt, and nothing
    approved is live), or "baseline" (the strongest baseline's fresh list)."""
    if ranker_passed:
        return "ranker"
    if is_approved(live_model_version) and not prefer_fresh_baseline:
        return "keep"
    return "better" if ranker_clearly_better else "baseline"


def baseline_version(name: str, settings: dict, purchases: str) -> str:
    """The model version a baseline's lists are published under (recs_service reads the name back)."""
    digest = hashlib.sha1(json.dumps([settings, purchases], sort_keys=True).encode()).hexdigest()[:12]
    return f"{BASELINE_PREFIX}{name}:{digest}"


def _ranked(context, config, log, model_store, candidates, ranker, customers, fallback, start):
    """The ranker's top-k for ``customers`` (the fallback for those without candidates), and what scored it."""
    serve_day = candidates.windows["serve"]
    total, scorer = candidates.parts.get("serve", 0), {"name": "none (no candidates)"}

    def order(scored: pd.DataFrame, mine: pd.Series):
        scorer["name"] = scored.attrs.get("scorer", scorer["name"])
        if not config.exclude_purchased:
            return scored, scored["score"], None
        log.register("chunk", pd.DataFrame({"customer_id": mine}))
        bought = log.query("select distinct customer_id, article_id from purchases_with_ids"
                           " join chunk using (customer_id)")
        fresh = scored[scored["ui_count"] == 0]
        return fresh, fresh["score"], bought

    def progress(part: int, n: int) -> None:
        elapsed = time.perf_counter() - start
        context.log.info(f"ranked part {part}/{total}: {n:,} customers; {elapsed:.0f}s so far, about"
                         f" {elapsed / part * max(total - part, 0) / 60:.1f} min left")

    top_up = popular_before(log, serve_day, 3 * config.k) if config.exclude_purchased else fallback
    lists = ranked_lists(scored_parts(log, model_store, candidates, ranker, "serve"), customers, config.k, fallback,
                         {"ranker": order}, top_up=top_up, progress=progress)
    return lists["ranker"], scorer["name"]


@asset(ins={"recommendations": AssetIn()}, group_name="serving", kinds={"sqlite", "dynamodb"},
       pool="cache_publish")  # one publish at a time across runs (deploy/dagster.*.yaml limit the pool to 1)
def served_recommendations(
    context: AssetExecutionContext, recommendations: RecommendationsRef, model_store: ModelStore,
    cache: RecommendationCache, warehouse: Warehouse
) -> Output[ServedVersion]:
    """The recommendations published to the cache under a new version; readers switch in one step. Each
    version that goes live is added to the version history monitoring reads (``serving.history``)."""
    frame = pd.read_parquet(model_store.local_path(recommendations.key) / "recommendations.parquet")
    # parquet gives numpy arrays: tolist() turns them into plain ints/floats every backend can store
    rows = (Recommendation(c, i.tolist(), s.tolist()) for c, i, s in frame.itertuples(index=False))
    report = cache.publish(recommendations.version, rows, recommendations.fallback, recommendations.model_version)
    context.log.info(f"published {report.rows} users to {cache.describe()} as {report.version}"
                     + (" (already current)" if report.already_current else ""))
    known = {v.version: v for v in history.versions(warehouse)}
    entry = known.get(report.version) if report.already_current else None
    if entry is None:  # a new live version (or one published before the history existed): record it
        entry = history_entry(recommendations, pd.Timestamp.now(tz="UTC").tz_localize(None))
        history.record(warehouse, entry)
    return Output(
        entry,
        metadata={
            "cache": cache.describe(), "version": report.version, "rows": report.rows,
            "list": recommendations.list_name, "why": recommendations.why, "live_from": entry.live_from,
            "already_current": report.already_current, "seconds": round(report.seconds, 2),
            "rows_per_second": round(report.rows / report.seconds, 1) if report.rows else 0.0,
            "removed_versions": MetadataValue.json(list(report.removed_versions)),
        },
    )


def history_entry(recs: RecommendationsRef, live_from: pd.Timestamp) -> ServedVersion:
    """The version history's row for ``recs`` going live at ``live_from``."""
    serve_day = pd.Timestamp(recs.serve_day)
    return ServedVersion(
        version=recs.version, list_name=recs.list_name, model_version=recs.model_version,
        cutoff=str((serve_day - pd.Timedelta(days=1)).date()), serve_day=str(serve_day.date()),
        live_from=live_from.isoformat(), recommendations_key=recs.key, baseline_name=recs.baseline_name,
        k=recs.k, purchases=recs.purchases, evaluation_map=recs.evaluation_map,
        baseline_evaluation_map=recs.baseline_evaluation_map,
    )
