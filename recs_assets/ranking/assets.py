"""The ranker asset: features of every fitting window's candidates, labels from the week after each
cut-off, a small search per ranker kind, the best on the validation holdout kept."""

import hashlib
import json
import tempfile
import time

from dagster import AssetExecutionContext, AssetIn, Config, MetadataValue, Output, asset
from pydantic import Field

from recs_assets.artifacts import CandidatesRef, RankerRef, ranker_key
from recs_assets.candidates.stored import read_pool
from recs_assets.candidates.purchase_log import PurchaseLog
from recs_assets.candidates.generators import popular_before
from recs_assets.ranking.features import candidate_features, with_labels
from recs_assets.ranking.training import fit_ranker
from recs_assets.resources.model_store import ModelStore
from recs_assets.resources.warehouse import Warehouse
from recs_assets.core.metrics import K

# A small search inside the asset rather than partitions: a LightGBM fit takes seconds to a minute
# here, and every configuration reads the same feature frames, which partitions would rebuild each.
# ``fit_weeks``: how many earlier weekly windows join the validation week's fitting customers.
SEARCH = {
    "lightgbm": [{"fit_weeks": 5, "num_leaves": 31}, {"fit_weeks": 5, "num_leaves": 63, "min_child_samples": 50},
                 {"fit_weeks": 2, "num_leaves": 31}],
    "merlin": [{"epochs": 3, "learning_rate": 0.005}],
}


class RankerConfig(Config):
    kinds: list[str] = Field(
        ["lightgbm"], description="Ranker kinds to fit (lightgbm, merlin); the best on the validation holdout is"
        " kept. LightGBM by default: it fits in seconds where DLRM takes minutes, and chose better on the"
        " data sets measured (docs/benchmarks.md); add merlin to compare.")
    k: int = Field(K, ge=1, description="Cutoff of the holdout MAP that chooses.")
    holdout_share: float = Field(0.25, gt=0, lt=1, description="Share of validation-week customers held out.")
    search: bool = Field(True, description="Try every configuration of SEARCH; else the first of each kind.")


def ranker_settings(config: RankerConfig, candidates: CandidatesRef) -> str:
    """The settings part of the ranker's key: its config and the cut-offs it is fitted and chosen at. The
    pool's key holds the cut-offs too; they are here as well for pools keyed before it did, whose key
    stays when the weeks move, so that a ranker refitted on other weeks never takes an approved one's key."""
    fitted_at = {"windows": candidates.windows, "label_days": candidates.label_days}
    return hashlib.sha1(json.dumps({**config.model_dump(), **fitted_at}, sort_keys=True).encode()).hexdigest()[:8]


def labelled_windows(log: PurchaseLog, model_store: ModelStore, candidates: CandidatesRef) -> tuple[dict, dict]:
    """(window → labelled feature frame, window → labels) for the fitting windows and validation."""
    frames, labels = {}, {}
    for name, day in candidates.windows.items():
        if name.startswith("fit_") or name == "validation":
            pool = read_pool(model_store, candidates, name)
            bought = log.buyers(day, candidates.label_days)
            labels[name] = bought[bought["customer_id"].isin(set(pool["customer_id"]))]  # the sampled customers
            frames[name] = with_labels(candidate_features(log, pool, day), labels[name])
    return frames, labels


@asset(ins={"candidates": AssetIn()}, group_name="ranking", kinds={"lightgbm", "tensorflow"})
def ranker(context: AssetExecutionContext, config: RankerConfig, candidates: CandidatesRef, warehouse: Warehouse,
           model_store: ModelStore):
    """A learned ranker over candidate features, fitted on the weeks after past cut-offs and chosen
    on held-out customers of the validation week (the test week is never read)."""
    start = time.perf_counter()
    log = PurchaseLog.from_warehouse(warehouse)
    frames, labels = labelled_windows(log, model_store, candidates)
    context.log.info(f"features for {len(frames)} windows, {sum(map(len, frames.values())):,} rows,"
                     f" in {time.perf_counter() - start:.1f}s")
    fallback = popular_before(log, candidates.windows["validation"], config.k)
    search = {kind: SEARCH[kind] if config.search else SEARCH[kind][:1] for kind in config.kinds}
    model, report = fit_ranker(frames, "validation", labels["validation"], fallback, config.kinds, search,
                               config.k, config.holdout_share)
    key = ranker_key(candidates, report.kind, ranker_settings(config, candidates))
    with tempfile.TemporaryDirectory() as tmp:
        model.save(tmp)
        uri = model_store.publish_dir(tmp, key)
    importance = report.importance
    seconds = time.perf_counter() - start
    context.log.info(f"ranker {report.kind} {report.params}: holdout MAP@{config.k} {report.holdout_map:.4f}"
                     f" (input order {report.input_order_map:.4f}) in {seconds:.0f}s")
    search_table = "| kind | params | holdout MAP |\n|---|---|---|\n" + "\n".join(
        f"| {t['kind']} | {t['params']} | {t['holdout_map']:.4f} |" for t in report.search)
    importance_table = f"| feature | {report.importance_kind} |\n|---|---|\n" + "\n".join(
        f"| {f} | {v:.4f} |" for f, v in list(importance.items())[:25])
    return Output(
        RankerRef(key=key, uri=uri, kind=report.kind, params=report.params, candidates_key=candidates.key,
                  holdout_map=report.holdout_map, input_order_map=report.input_order_map),
        metadata={
            "kind": report.kind, "params": MetadataValue.json(report.params),
            f"holdout_map_at_{config.k}": report.holdout_map,
            f"input_order_map_at_{config.k}": report.input_order_map,
            "search": MetadataValue.md(search_table),
            "feature_importance": MetadataValue.md(importance_table),
            "fit_rows": report.rows, "fit_positives": report.positives,
            "holdout_customers": report.holdout_customers, "seconds": round(seconds, 1), "uri": uri,
        },
    )
