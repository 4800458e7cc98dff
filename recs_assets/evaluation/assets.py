"""The evaluation asset: on the test week, the served (ranked) list beside the two-tower alone and
three baselines, for the same customers; the RecList report for every list; the promotion gate
(against the strongest validation-tuned baseline and the two-tower alone) as an asset check, which
decides what ``recommendations`` publishes."""

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
from recs_assets.baselines.tuning import TunedBaselines
from recs_assets.candidates.stored import read_item_embeddings
from recs_assets.candidates.purchase_log import PurchaseLog
from recs_assets.core.metrics import K
from recs_assets.evaluation.comparison import (ACCURACY, MODELLED, accuracy, map_interval, side_by_side, slice_chart,
                                               test_lists)
from recs_assets.evaluation.gate import decide
from recs_assets.evaluation.gate import strongest as strongest_baseline
from recs_assets.evaluation.scoring import evaluation_data, test_week_truth
from recs_assets.evaluation.suite import SLICE_FAMILIES, PurchaseRecList
from recs_assets.ranking.scoring import scored_parts
from recs_assets.resources.model_store import ModelStore
from recs_assets.resources.promotion_policy import PromotionPolicy
from recs_assets.resources.warehouse import Warehouse

SCALARS = ["recall_at_k", "ndcg_at_k", "map_at_k", "hit_rate_at_k", "mrr_at_k", "coverage_at_k",
           "popularity_bias_at_k", "less_wrong", "latent_diversity"]


class EvaluationConfig(Config):
    k: int = Field(K, ge=1, description="Cutoff of every metric (H&M scores the top 12).")
    bootstrap_resamples: int = Field(1000, ge=10, description="Paired bootstrap resamples of the test buyers"
                                     " for the interval of served / strongest baseline.")
    min_slice_pairs: int = Field(50, ge=1, description="Slices with fewer (user, item) pairs stay out of MRED.")


def baseline_table(tuned: TunedBaselines, test: dict[str, dict[str, float]], metric: str, k: int) -> str:
    """Markdown: each baseline's settings and validation score (which chose them) beside its test score."""
    rows = [f"| baseline | settings (chosen on validation) | validation MAP@{k} | test {metric.replace('_at_k', f'@{k}')} |",
            "|---|---|---|---|"]
    for name, choice in tuned.choices.items():
        rows.append(f"| {name} | {choice.settings or '(none)'} | {choice.validation_map:.4f} | {test[name][metric]:.4f} |")
    return "\n".join(rows)


def _png(data: bytes, title: str) -> str:
    return f"**{title}**\n\n![{title}](data:image/png;base64,{base64.b64encode(data).decode()})"


@asset(
    ins={name: AssetIn() for name in ("ranker", "candidates", "tuned_baselines")},
    group_name="evaluation",
    kinds={"reclist"},
    check_specs=[AssetCheckSpec(
        "promotion_gate", asset="evaluation",
        description="The ranked list beats the strongest validation-tuned baseline by the configured margin,"
                    " is no worse than the two-tower alone and keeps slice MRED bounded. When it fails, the"
                    " live version stays or the strongest baseline's list is served (see recommendations).",
    )],
)
def evaluation(
    context: AssetExecutionContext,
    config: EvaluationConfig,
    ranker: RankerRef,
    candidates: CandidatesRef,
    tuned_baselines: TunedBaselines,
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
    choices = {name: choice.settings for name, choice in tuned_baselines.choices.items()}
    lists = test_lists(log, scored_parts(log, model_store, candidates, ranker, "test"), buyers, cutoff, k, choices,
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
    baselines = {b: scalars[b] for b in scalars if b not in MODELLED}
    strongest = strongest_baseline(baselines, metric)
    interval = map_interval(lists["served"], lists[strongest], truth, k, config.bootstrap_resamples)
    decision = decide(promotion, scalars["served"], baselines, results["served"]["mred"],
                      inputs={"two_tower": scalars["two_tower"]},
                      interval=(interval.ratio_low, interval.ratio_high) if metric == "map_at_k" else None)
    lift = scalars["served"][metric] / scalars[strongest][metric] \
        if scalars[strongest][metric] else float("inf")
    context.log.info(f"served / {strongest}, MAP@{k}: {interval.as_text()}")
    mred_table = side_by_side({n: r["mred"] for n, r in results.items()}, list(SLICE_FAMILIES), k, strongest,
                              label="MRED by slice family")
    charts = "\n\n".join(_png(slice_chart({n: m[f] for n, m in miss.items()}, f), f"miss rate by {f}")
                          for f in SLICE_FAMILIES)
    context.log.info(f"gate {'passed' if decision.passed else 'FAILED'}: {decision.reasons}")
    yield Output(
        EvaluationRef(
            lists=scalars, modelled_customers=known, mred={n: r["mred"] for n, r in results.items()},
            slices=miss, candidate_recall=candidates.recall.get("test", {}),
            gate=Gate(passed=decision.passed, reasons=decision.reasons, strongest_baseline=strongest, lift=lift,
                      lift_interval=(interval.ratio_low, interval.ratio_high),
                      difference_interval=(interval.difference_low, interval.difference_high)),
            baseline_settings=choices,
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
            "lift_interval_95": MetadataValue.md(f"MAP@{k}: {interval.as_text()}"),
            "baseline_settings_chosen_on_validation": MetadataValue.md(baseline_table(tuned_baselines, scalars, metric, k)),
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
