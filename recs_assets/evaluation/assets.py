"""The evaluation asset: the best model and a popularity baseline on the test week, the RecList
report for both, and the promotion gate as a blocking asset check."""

import base64
import tempfile
from pathlib import Path

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

from recs_assets.evaluation.baselines import popular_last_week
from recs_assets.evaluation.gate import promotion_decision
from recs_assets.evaluation.scoring import evaluation_data, model_lists, same_list_for_all, truth_with_slices
from recs_assets.evaluation.suite import PurchaseRecList
from recs_assets.features.workflow import read_transformed
from recs_assets.training.selection import features_mismatch
from recs_assets.resources.model_store import ModelStore
from recs_assets.resources.warehouse import Warehouse

SCALARS = ["recall_at_k", "ndcg_at_k", "map_at_k", "hit_rate_at_k", "mrr_at_k", "coverage_at_k",
           "popularity_bias_at_k", "less_wrong", "latent_diversity"]
SLICE_PLOTS = ["miss_rate_by_user_activity", "miss_rate_by_item_popularity", "miss_rate_by_age_band",
               "miss_rate_by_product_group", "mred"]


class EvaluationConfig(Config):
    k: int = Field(12, ge=1, description="Cutoff of every metric (H&M scores the top 12).")
    gate_metric: str = Field("map_at_k", description="Metric the model must win on.")
    min_relative_lift: float = Field(0.05, description="Required lift over the baseline, e.g. 0.05 = 5%.")
    min_slice_pairs: int = Field(50, ge=1, description="Slices with fewer (user, item) pairs stay out of MRED.")
    max_mred: dict[str, float] = Field(
        default={"user_activity": 0.15, "age_band": 0.15, "product_group": 0.25, "item_popularity": 0.6},
        description="Upper bound on MRED per slice family. Popularity quartiles are served unequally by"
        " nature (rare items are rarely retrieved), hence the looser bound.",
    )


def _plots_markdown(report_dir: Path, title: str) -> str:
    parts = [f"### {title}"]
    for name in SLICE_PLOTS:
        png = report_dir / "plots" / f"{name}.png"
        if png.exists():
            data = base64.b64encode(png.read_bytes()).decode()
            parts.append(f"**{name}**\n\n![{name}](data:image/png;base64,{data})")
    return "\n\n".join(parts)


@asset(
    ins={name: AssetIn() for name in ("best_model", "nvt_workflow", "transformed_train", "transformed_test")},
    group_name="evaluation",
    kinds={"reclist"},
    check_specs=[AssetCheckSpec(
        "promotion_gate", asset="evaluation", blocking=True,
        description="The model beats the baseline by the configured margin and keeps slice MRED bounded.",
    )],
)
def evaluation(
    context: AssetExecutionContext,
    config: EvaluationConfig,
    best_model: dict,
    nvt_workflow: dict,
    transformed_train: dict,
    transformed_test: dict,
    warehouse: Warehouse,
    model_store: ModelStore,
):
    """Test-week metrics over the whole training catalogue for the best model and a popularity
    baseline (the last train week's top sellers), with RecList's behavioural report for both."""
    if mismatch := features_mismatch(best_model, nvt_workflow):
        raise Failure(mismatch)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    k = config.k
    train_raw = warehouse.query("select * from marts.train_transactions")
    test_raw = warehouse.query("select * from marts.test_transactions")
    lists, embeddings = model_lists(
        model_store.local_path(best_model["model_key"]), model_store.local_path(nvt_workflow["key"]),
        read_transformed(model_store.local_path(transformed_train["key"])),
        read_transformed(model_store.local_path(transformed_test["key"])), k,
    )
    truth = truth_with_slices(test_raw, train_raw)
    recommenders = {
        "model": lists,
        "baseline": same_list_for_all(lists["customer_id"].to_numpy(), popular_last_week(train_raw, k)),
    }
    results, plots = {}, []
    with tempfile.TemporaryDirectory() as tmp:
        for name, recs in recommenders.items():
            suite = PurchaseRecList(
                evaluation_data(recs, truth, train_raw, embeddings, k, config.min_slice_pairs), name, tmp
            )
            suite(verbose=False)
            plt.close("all")
            results[name] = suite.results()
            plots.append(_plots_markdown(suite.report_dir, name))
        report_uri = model_store.publish_dir(tmp, f"evaluation/{best_model['model_key']}")

    model, baseline = results["model"], results["baseline"]
    decision = promotion_decision(
        model, baseline, model["mred"], config.gate_metric, config.min_relative_lift, config.max_mred
    )
    table = "| metric | model | baseline |\n|---|---|---|\n" + "\n".join(
        f"| {m.replace('_at_k', f'@{k}')} | {model[m]:.4f} | {baseline[m]:.4f} |" for m in SCALARS
    )
    mred_table = "| slice family | model MRED | baseline MRED |\n|---|---|---|\n" + "\n".join(
        f"| {f} | {model['mred'][f]:.4f} | {baseline['mred'][f]:.4f} |" for f in model["mred"]
    )
    context.log.info(f"gate {'passed' if decision.passed else 'FAILED'}: {decision.reasons}")
    yield Output(
        {
            "model": {m: model[m] for m in SCALARS}, "baseline": {m: baseline[m] for m in SCALARS},
            "mred": {"model": model["mred"], "baseline": baseline["mred"]},
            "slices": {name: {t: r[t] for t in SLICE_PLOTS[:-1]} for name, r in results.items()},
            "gate": {"passed": decision.passed, "reasons": decision.reasons},
            "k": k, "model_key": best_model["model_key"], "partition": best_model["partition"],
            "report_uri": report_uri,
        },
        metadata={
            "partition": best_model["partition"],
            "test_users": len(lists),
            "test_pairs": len(truth),
            "metrics": MetadataValue.md(table),
            "mred": MetadataValue.md(mred_table),
            "plots": MetadataValue.md("\n\n".join(plots)),
            "report_uri": report_uri,
            f"model_{config.gate_metric}": float(model[config.gate_metric]),
            f"baseline_{config.gate_metric}": float(baseline[config.gate_metric]),
        },
    )
    yield AssetCheckResult(
        check_name="promotion_gate",
        passed=decision.passed,
        severity=AssetCheckSeverity.ERROR,
        metadata={"reasons": MetadataValue.md("\n".join(f"- {r}" for r in decision.reasons)),
                  "min_relative_lift": config.min_relative_lift, "max_mred": MetadataValue.json(config.max_mred)},
    )
