"""Candidate assets: every source for every cut-off (fit windows, validation, test, serve), and
their union with candidate recall per source. One step, four source outputs and the pool, so the
sources of one pool always share cut-offs and data."""

import dataclasses
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from dagster import AssetExecutionContext, AssetIn, AssetOut, Config, Failure, MetadataValue, Output, multi_asset
from pydantic import Field

from recs_assets.artifacts import (CandidatesRef, ModelRef, SplitRef, TrainedModel, TunedBaselines, WorkflowRef,
                                   candidates_key, features_mismatch, pool_folder)
from recs_assets.candidates.als import als_candidates, fit_als, pair_scores
from recs_assets.candidates.generators import COLUMNS, SourceSizes
from recs_assets.candidates.pool import SOURCES, check_sources, recall_counts_sql, recall_from_counts, union_sql
from recs_assets.candidates.purchase_log import PurchaseLog
from recs_assets.candidates.stage import generate, window_labels, window_targets
from recs_assets.candidates.windows import Cutoffs, cutoffs
from recs_assets.resources.model_store import ModelStore
from recs_assets.resources.warehouse import Warehouse

SOURCE_OUTPUTS = {"history": "history_candidates", "copurchase": "copurchase_candidates",
                  "popularity": "popularity_candidates", "retrieval": "retrieval_candidates", "als": "als_candidates"}


class CandidatesConfig(Config):
    # Per-source caps: the ranker's top 12 come from the best-ranked candidates of each source, and every
    # later stage costs in proportion to the pool (candidate recall per window and source is in the metadata).
    retrieval_n: int = Field(30, ge=1, description="Two-tower top-N per customer (retrieval source).")
    history_n: int = Field(20, ge=1, description="Most bought past articles per customer.")
    copurchase_n: int = Field(20, ge=1, description="Co-purchase candidates per customer.")
    popularity_n: int = Field(12, ge=1, description="Best sellers overall and by age band.")
    als_n: int = Field(30, ge=0, description="ALS top-N unbought articles per customer (ALS fitted at every"
                       " cut-off with the settings tuned_baselines chose for als_unseen on the validation week);"
                       " 0 turns the source off.")
    als_max_items: int | None = Field(20_000, ge=1, description="ALS candidates come from this many best-selling"
                                      " articles (its score feature covers every candidate).")
    als_max_users: int | None = Field(100_000, ge=1, description="ALS at a cut-off is fitted on the purchases of"
                                      " the window's customers and a hash sample of the others, max(this, twice"
                                      " the window's customers) in all; None: everyone.")
    fit_weeks: int = Field(5, ge=0, description="Weekly label windows before the validation week to fit the"
                           " ranker on (chosen on the validation holdout: 5 beat 3 on Complete Journey).")
    max_fit_customers: int | None = Field(
        10_000, ge=1, description="At most this many buyers per fitting window (fit weeks, validation): a"
        " deterministic sample that bounds the ranker's training data; test and serve keep every customer.")
    chunk_customers: int = Field(50_000, ge=1, description="Customers per chunk: bounds memory at any scale"
                                 " (about 2.5M candidate rows with features at the default caps).")


def pool_settings(config: CandidatesConfig) -> str:
    """Every setting that changes the pool's rows (a new cap is a new pool, hence a new ranker and a new
    served version; the chunk size is not one)."""
    return json.dumps(config.model_dump(exclude={"chunk_customers"}), sort_keys=True)


def pool_key(purchases: str, config: CandidatesConfig, als_settings: dict, cuts: Cutoffs, model: ModelRef) -> str:
    """The pool's key: its purchases, settings, ALS settings, model and every cut-off day. The days are
    part of it because the purchases and the model can stay the same when they move (test_start alone
    touches neither): without them a pool for other weeks would take this one's key, and so would the
    ranker fitted on it, which an evaluation of the old one then approved."""
    days = json.dumps({name: day.isoformat() for name, day in cuts.all().items()}, sort_keys=True)
    return candidates_key(purchases, pool_settings(config) + json.dumps(als_settings, sort_keys=True) + days, model)


def latest_rows_sql(columns: list[str], cut) -> str:
    """Each customer's latest enriched row before ``cut`` (ties: the lowest transaction id). The window
    runs only over the rows of each customer's last day: over every purchase it needed 16 GB at H&M's size."""
    day = f"cast('{pd.Timestamp(cut).date()}' as date)"
    return (f"with last as (select customer_id, max(t_dat) as last_day from marts.transactions_enriched"
            f" where t_dat < {day} group by 1) "
            f"select {', '.join('e.' + c for c in columns)} from marts.transactions_enriched e"
            " join last l on e.customer_id = l.customer_id and e.t_dat = l.last_day"
            " qualify row_number() over (partition by e.customer_id order by e.transaction_id) = 1")


def _retrieval(warehouse: Warehouse, model_store: ModelStore, best_model: TrainedModel, nvt_workflow: WorkflowRef,
               transformed_train: SplitRef, n: int, context):
    """The retrieval source: the best two-tower's top-n, queried on each cut-off day."""
    from recs_assets.features.workflow import INPUT_COLUMNS, USER_ID, load_workflow, read_transformed, vocabulary
    from recs_assets.retrieval import item_embeddings, load_towers, rank_as_of

    workflow_dir = model_store.local_path(nvt_workflow.key)
    towers, workflow = load_towers(model_store.local_path(best_model.model.key)), load_workflow(workflow_dir)
    catalogue = read_transformed(model_store.local_path(transformed_train.key))
    items = item_embeddings(towers.candidate, catalogue)  # once, for every cut-off
    known = set(vocabulary(workflow_dir, USER_ID).dropna())
    catalogue_seen = {}

    latest_rows = {}  # window → each known customer's latest enriched row before its cut-off, read once

    def retrieve(name: str, customers: pd.Series, cut) -> pd.DataFrame:
        start = time.perf_counter()
        if name not in latest_rows:
            rows = warehouse.query(latest_rows_sql(INPUT_COLUMNS, cut))
            latest_rows.clear()
            latest_rows[name] = rows[rows["customer_id"].isin(known)].set_index("customer_id", drop=False)
        mine = latest_rows[name]
        latest = mine.loc[mine.index.intersection(pd.Index(customers))].reset_index(drop=True)
        if latest.empty:
            return pd.DataFrame(columns=COLUMNS)
        ranked = rank_as_of(towers, workflow, workflow_dir, catalogue, latest, cut, n, catalogue=items)
        catalogue_seen["embeddings"] = pd.DataFrame({"article_id": ranked.catalogue_ids,
                                                     "embedding": list(ranked.catalogue_vectors)})
        context.log.info(f"retrieval {name}: {len(latest):,} customers in {time.perf_counter() - start:.1f}s")
        return ranked.long().rename(columns={"rank": "source_rank", "score": "source_score"}).assign(source="retrieval")

    retrieve.catalogue = catalogue_seen  # the item embeddings, once retrieval has run
    return retrieve


def _als(log: PurchaseLog, targets: dict[str, pd.Series], settings: dict, config: CandidatesConfig, context):
    """The ALS source for ``generate`` (rows for a window's chunk of customers; none when ``settings`` is
    empty) and, as ``.scores(window, customers, articles)``, ALS's score of any pair: one fit per cut-off."""
    fitted: dict = {}

    def fit(name: str, cut):
        if name not in fitted:
            start = time.perf_counter()
            # the window's customers and as many others again, at least als_max_users in all; serve (every
            # customer) fits on everyone
            users = None if config.als_max_users is None else max(config.als_max_users, 2 * len(targets[name]))
            fitted.clear()  # one cut-off at a time: windows come in order
            fitted[name] = fit_als(log, cut, **settings, max_users=users, keep=targets[name])
            context.log.info(f"ALS at {name}: {len(fitted[name].users):,} customers in {time.perf_counter() - start:.1f}s")
        return fitted[name]

    def source(name: str, customers: pd.Series, cut) -> pd.DataFrame:
        if not settings:
            return pd.DataFrame(columns=COLUMNS)
        return als_candidates(fit(name, cut), customers, config.als_n, config.als_max_items)

    def scores(name: str, customers, articles) -> np.ndarray:
        if not settings or name not in fitted:
            return np.full(len(customers), np.nan, dtype=np.float32)
        return pair_scores(fitted[name], customers, articles)

    source.scores = scores
    return source


@multi_asset(
    outs={
        **{out: AssetOut(group_name="candidates", kinds={"duckdb", "parquet"}) for out in SOURCE_OUTPUTS.values()},
        "candidates": AssetOut(group_name="candidates", kinds={"parquet"},
                               description="Union of every source per cut-off, with candidate recall."),
    },
    ins={name: AssetIn() for name in ("best_model", "nvt_workflow", "transformed_train", "tuned_baselines")},
    deps=["transactions_dedup", "transactions_enriched", "split_boundaries", "stg_articles", "stg_customers"],
)
def candidate_generation(
    context: AssetExecutionContext, config: CandidatesConfig, best_model: TrainedModel, nvt_workflow: WorkflowRef,
    transformed_train: SplitRef, tuned_baselines: TunedBaselines, warehouse: Warehouse, model_store: ModelStore,
):
    """History, co-purchase, popularity (overall and by age band) and two-tower retrieval candidates
    for the customers of every cut-off, then their union."""
    if mismatch := features_mismatch(best_model.model, nvt_workflow):
        raise Failure(mismatch)
    if transformed_train.features != nvt_workflow.fingerprint:
        raise Failure(f"{transformed_train.key} was not transformed by {nvt_workflow.key}: materialize"
                      " transformed_splits first")
    start = time.perf_counter()
    log = PurchaseLog.from_warehouse(warehouse)
    bounds = warehouse.query("select * from marts.split_boundaries").iloc[0]
    cuts = cutoffs(bounds["validation_start"], bounds["test_start"], bounds["last_date"], config.fit_weeks)
    targets = window_targets(log, cuts, config.max_fit_customers)
    labels = window_labels(log, cuts, targets)
    sizes = SourceSizes(history=config.history_n, copurchase=config.copurchase_n, popularity=config.popularity_n)
    retrieve = _retrieval(warehouse, model_store, best_model, nvt_workflow, transformed_train, config.retrieval_n, context)
    als_settings = tuned_baselines.choices["als_unseen"].settings if config.als_n else {}
    als_source = _als(log, targets, als_settings, config, context)
    key = pool_key(log.fingerprint(), config, als_settings, cuts, best_model.model)
    windows = {name: cut.isoformat() for name, cut in cuts.all().items()}
    counts, rows, parts, done = {}, {}, {}, 0
    total = sum(max(1, -(-len(t) // config.chunk_customers)) for t in targets.values())
    with tempfile.TemporaryDirectory() as tmp:
        for name, part, table in generate(log, cuts, targets, retrieve, sizes, config.chunk_customers,
                                          every_window=als_source):
            folder = Path(tmp) / pool_folder(name)
            folder.mkdir(exist_ok=True)
            check_sources(log.con, table)
            pool = log.con.execute(union_sql(table)).arrow()
            scores = als_source.scores(name, pool["customer_id"].to_numpy(), pool["article_id"].to_numpy())
            pq.write_table(pool.append_column("als_dot", pa.array(scores, pa.float32())),
                           folder / f"part-{part:05d}.parquet")
            parts[name] = part + 1
            found = dict(log.con.execute(f"select source, count(*) from {table} group by 1").fetchall())
            for source in SOURCE_OUTPUTS:
                rows.setdefault(name, {}).setdefault(source, 0)
                rows[name][source] += int(sum(n for s, n in found.items() if s.startswith(source)))
            if name in labels:
                log.register("labels", labels[name])
                counts.setdefault(name, []).append(recall_counts_sql(log.con, table, "labels"))
            done += 1
            elapsed = time.perf_counter() - start
            customers = log.con.execute(f"select count(distinct customer_id) from {table}").fetchone()[0]
            context.log.info(f"candidates {name} part {part + 1} ({done}/{total} chunks): {customers:,}"
                             f" customers, {sum(found.values()):,} rows; {elapsed:.0f}s so far, about"
                             f" {elapsed / done * (total - done) / 60:.1f} min left")
        if "embeddings" in retrieve.catalogue:
            retrieve.catalogue["embeddings"].to_parquet(Path(tmp) / "item_embeddings.parquet", index=False)
        uri = model_store.publish_dir(tmp, key)
    recall = {name: recall_from_counts(c) for name, c in counts.items()}
    context.log.info(f"candidates for {len(parts)} cut-offs in {time.perf_counter() - start:.1f}s → {uri}")

    ref = CandidatesRef(key=key, uri=uri, windows=windows, label_days=cuts.label_days, recall=recall,
                        model=best_model.model, parts=parts)
    for source, out in SOURCE_OUTPUTS.items():
        names = [s for s in SOURCES if s.startswith(source)]
        per_window = {w: r[source] for w, r in rows.items()}
        yield Output(dataclasses.replace(ref, source=source), output_name=out, metadata={
            "rows_per_window": MetadataValue.json(per_window),
            "recall_per_window": MetadataValue.json({w: {s: r[s] for s in names} for w, r in recall.items()}),
            "dagster/row_count": sum(per_window.values()),
        })
    yield Output(ref, output_name="candidates", metadata={
        "windows": MetadataValue.json(windows),
        "candidate_recall": MetadataValue.md(recall_table(recall)),
        "customers_per_window": MetadataValue.json({w: int(len(t)) for w, t in targets.items()}),
        "dagster/row_count": int(sum(sum(r.values()) for r in rows.values())),
        "fitting_customers_cap": config.max_fit_customers or "none",
        "uri": uri,
    })


def recall_table(recall: dict[str, dict[str, float]]) -> str:
    """Markdown: one row per window, candidate recall per source and for the union."""
    head = ["window", *SOURCES, "union", "candidates / customer", "label pairs"]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for window, r in recall.items():
        cells = [window, *[f"{r[s]:.3f}" for s in (*SOURCES, "union")],
                 f"{r['candidates_per_customer']:.1f}", f"{int(r['label_pairs']):,}"]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)
