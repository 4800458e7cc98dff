"""The evaluation asset: on the test week, the served (ranked) list beside the two-tower alone and
three baselines, for the same customers; the RecList report for every list; the promotion gate
(against the strongest baseline) as a blocking asset check."""

import base64
import tempfile
import time

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetIn,
    Config,
    Failure,
    MetadataValue,
    Output,
    asset,
)
from pydantic import Field

from recs_assets.artifacts import CandidatesRef, EvaluationRef, Gate, RankerRef, evaluation_key, ranker_mismatch
from recs_assets.candidates.assets import read_item_embeddings
from recs_assets.candidates.purchase_log import PurchaseLog
from recs_assets.evaluation.comparison import ACCURACY, BASELINES, accuracy, side_by_side, slice_chart, test_lists
from recs_assets.evaluation.scoring import evaluation_data, test_week_truth
from recs_assets.evaluation.suite import SLICE_FAMILIES, PurchaseRecList
from recs_assets.ranking.assets import scored_parts
from recs_assets.resources.model_store import ModelStore
from recs_assets.resources.promotion_policy import PromotionPolicy
from recs_assets.resources.warehouse import Warehouse

SCALARS = ["recall_at_k", "ndcg_at_k", "map_at_k", "hit_rate_at_k", "mrr_at_k", "coverage_at_k",
           "popularity_bias_at_k", "less_wrong", "latent_diversity"]


class EvaluationConfig(Config):
    k: int = Field(12, ge=1, description="Cutoff of every metric (H&M scores the top 12).")
    min_slice_pairs: int = Field(50, ge=1, description="Slices with fewer (user, item) pairs stay out of MRED.")


def _png(data: bytes, title: str) -> str:
    return f"**{title}**\n\n![{title}](data:image/png;base64,{base64.b64encode(data).decode()})"


@asset(
    ins={name: AssetIn() for name in ("ranker", "candidates")},
    group_name="evaluation",
    kinds={"reclist"},
    check_specs=[AssetCheckSpec(
        "promotion_gate", asset="evaluation", blocking=True,
        description="The served list beats the strongest baseline by the configured margin and keeps slice"
                    " MRED bounded.",
    )],
)
def evaluation(
    context: AssetExecutionContext,
    config: EvaluationConfig,
    ranker: RankerRef,
    candidates: CandidatesRef,
    warehouse: Warehouse,
    model_store: ModelStore,
    promotion: PromotionPolicy,
):
    """Test-week metrics of every list for every test-week buyer (new customers included) and, apart,
    for the customers the two-tower was trained on; RecList's behavioural report for each list."""
    if mismatch := ranker_mismatch(ranker, candidates):
        raise Failure(mismatch)
    k, metric = config.k, promotion.gate_metric
    start = time.perf_counter()
    log = PurchaseLog.from_warehouse(warehouse)
    cutoff = candidates.windows["test"]
    truth, popularity = test_week_truth(log, cutoff, candidates.label_days)
    buyers = truth["customer_id"].unique()
    lists = test_lists(log, scored_parts(log, model_store, candidates, ranker, "test"), buyers, cutoff, k,
                       progress=lambda m: context.log.info(f"{m} ({time.perf_counter() - start:.0f}s so far)"))
    modelled = set(warehouse.query("select distinct customer_id from marts.test_transactions")["customer_id"])
    embeddings = read_item_embeddings(model_store, candidates)
    context.log.info(f"{len(lists)} lists for {len(buyers):,} test-week buyers in {time.perf_counter() - start:.0f}s;"
                     " RecList next, one suite per list")

    results, miss = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, recs in lists.items():
            suite = PurchaseRecList(evaluation_data(recs, truth, popularity, embeddings, k, config.min_slice_pairs),
                                    name, tmp)
            suite(verbose=False)
            results[name] = suite.results()
            context.log.info(f"RecList {name}: {metric} {results[name][metric]:.4f};"
                             f" {time.perf_counter() - start:.0f}s so far")
            miss[name] = {f: results[name][f"miss_rate_by_{f}"] for f in SLICE_FAMILIES}
        report_uri = model_store.publish_dir(tmp, evaluation_key(ranker))
    known = {name: accuracy(recs, truth[truth["customer_id"].isin(modelled)], k) for name, recs in lists.items()}
    scalars = {name: {m: r[m] for m in SCALARS} for name, r in results.items()}
    decision = promotion.decide(scalars["served"], {b: scalars[b] for b in BASELINES}, results["served"]["mred"])
    strongest = decision.strongest_baseline
    lift = scalars["served"][metric] / scalars[strongest][metric] \
        if scalars[strongest][metric] else float("inf")
    mred_table = side_by_side({n: r["mred"] for n, r in results.items()}, list(SLICE_FAMILIES), k, strongest,
                              label="MRED by slice family")
    charts = "\n\n".join(_png(slice_chart({n: m[f] for n, m in miss.items()}, f), f"miss rate by {f}")
                          for f in SLICE_FAMILIES)
    context.log.info(f"gate {'passed' if decision.passed else 'FAILED'}: {decision.reasons}")
    yield Output(
        EvaluationRef(
            lists=scalars, modelled_customers=known, mred={n: r["mred"] for n, r in results.items()},
            slices=miss, candidate_recall=candidates.recall.get("test", {}),
            gate=Gate(passed=decision.passed, reasons=decision.reasons, strongest_baseline=strongest, lift=lift),
            k=k, ranker_key=ranker.key, model_key=candidates.model.key, report_uri=report_uri,
            test_buyers=int(len(buyers)), modelled_buyers=int(len(modelled & set(buyers))),
        ),
        metadata={
            "test_buyers": int(len(buyers)),
            "test_buyers_known_to_the_two_tower": int(len(modelled & set(buyers))),
            "test_pairs": len(truth),
            "metrics_every_test_buyer": MetadataValue.md(side_by_side(scalars, SCALARS, k, strongest)),
            "metrics_modelled_customers": MetadataValue.md(side_by_side(known, ACCURACY, k, strongest)),
            "candidate_recall_test_week": MetadataValue.json(candidates.recall.get("test", {})),
            "mred": MetadataValue.md(mred_table),
            "plots": MetadataValue.md(charts),
            "report_uri": report_uri,
            "strongest_baseline": strongest,
            f"served_{metric}": float(scalars["served"][metric]),
            f"strongest_baseline_{metric}": float(scalars[strongest][metric]),
            "lift_over_strongest_baseline": float(lift),
        },
    )
    yield AssetCheckResult(
        check_name="promotion_gate",
        passed=decision.passed,
        severity=AssetCheckSeverity.ERROR,
        metadata={"reasons": MetadataValue.md("\n".join(f"- {r}" for r in decision.reasons)),
                  "strongest_baseline": strongest,
                  "min_relative_lift": promotion.min_relative_lift,
                  "max_mred": MetadataValue.json(promotion.max_mred)},
    )
