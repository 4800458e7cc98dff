"""Monitoring assets: each week's backtest of the list that was live, and the drift between versions."""

import datetime

import pandas as pd
from dagster import (
    AllPartitionMapping,
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetDep,
    AssetKey,
    AssetExecutionContext,
    Config,
    DynamicPartitionsDefinition,
    Failure,
    MetadataValue,
    Output,
    asset,
    asset_check,
)
from pydantic import Field

from recs_assets.core.metrics import bought_sets
from recs_assets.ingest.schema import LANDED_TRANSACTIONS, LANDING_SCHEMA, RAW_SCHEMA, TRANSACTIONS
from recs_assets.monitoring.backtest import BacktestWeek, score_week, verdict
from recs_assets.monitoring.version_drift import drift_problems, version_drift
from recs_assets.monitoring.weeks import record_week, weeks_table
from recs_assets.resources.model_store import ModelStore
from recs_assets.resources.warehouse import Warehouse
from recs_assets.serving import history

# One partition per week of purchases, named by its first day; weeks start on the first published
# version's serve day. Added as weeks arrive (backtest_sensor, make next-week), so "Materialize all" on
# a fresh instance does not launch a run for every week of a calendar.
backtest_weeks = DynamicPartitionsDefinition(name="backtest_weeks")


class BacktestConfig(Config):
    max_drop_share: float = Field(0.3, ge=0, le=1, description="Warn when the live list's MAP@k falls more than"
                                  " this share below the figure it had on the evaluation week.")


@asset(
    partitions_def=backtest_weeks,
    group_name="monitoring",
    kinds={"duckdb"},
    deps=[AssetDep("served_recommendations"), AssetDep(TRANSACTIONS.name),
          AssetDep(LANDED_TRANSACTIONS.name, partition_mapping=AllPartitionMapping())],
    check_specs=[AssetCheckSpec("live_list_holds_up", asset="live_list_backtest",
                                description="The live list is not below the stored baseline on the week's buyers,"
                                            " nor far below its evaluation figure.")],
)
def live_list_backtest(context: AssetExecutionContext, config: BacktestConfig, warehouse: Warehouse,
                       model_store: ModelStore):
    """The week's purchases (loaded or landed since) scored on the version that was live for them and on
    the strongest baseline's lists stored beside it as of the same cut-off: MAP@k, recall, hit rate, and
    the share of buyers who had a personal list. Each week is also kept in ``monitoring.backtest_weeks``."""
    start = week_start(context.partition_key)
    end = start + pd.Timedelta(days=7)
    live = history.live_during(history.versions(warehouse), start)
    if live is None:
        raise Failure(f"no published version was made before {start.date()}: nothing was live for this week")
    bought = bought_sets(purchases_between(warehouse, start, end))
    if not bought:
        raise Failure(f"no purchases between {start.date()} and {end.date()} in the warehouse yet: land them first")
    folder = model_store.local_path(live.recommendations_key)
    lists = pd.read_parquet(folder / "recommendations.parquet")
    fallback = pd.read_parquet(folder / "fallback.parquet")["article_id"].tolist()
    score = score_week(lists, fallback, bought, live.k)
    reference = folder / "baseline.parquet"
    baseline = (score if live.list_name == live.baseline_name
                else score_week(pd.read_parquet(reference), fallback, bought, live.k) if reference.exists() else None)
    record_week(warehouse, str(start.date()), live, score, baseline)
    problems = verdict(score, baseline, live.evaluation_map, config.max_drop_share)
    weeks = weeks_table(warehouse)
    yield Output(
        BacktestWeek(week=str(start.date()), version=live.version, list_name=live.list_name, live=score,
                     baseline=baseline),
        metadata={
            "version": live.version, "list": live.list_name, "cutoff": live.cutoff, "buyers": score.buyers,
            "personal_share": round(score.personal_share, 4), "map_at_k": round(score.map_at_k, 5),
            "recall_at_k": round(score.recall_at_k, 5), "hit_rate_at_k": round(score.hit_rate_at_k, 5),
            "baseline": live.baseline_name,
            "baseline_map_at_k": round(baseline.map_at_k, 5) if baseline else None,
            "evaluation_map_at_k": live.evaluation_map,
            "weeks": MetadataValue.md(chart(weeks)),
        },
    )
    yield AssetCheckResult(
        check_name="live_list_holds_up", passed=not problems, severity=AssetCheckSeverity.WARN,
        description="; ".join(problems) or "the live list holds up against the baseline and its evaluation",
        metadata={"map_at_k": score.map_at_k, "baseline_map_at_k": baseline.map_at_k if baseline else None},
    )


def week_start(partition_key: str) -> pd.Timestamp:
    """The first day of the week a partition names (``YYYY-MM-DD``); a clear error for anything else."""
    try:
        return pd.Timestamp(datetime.date.fromisoformat(partition_key))
    except ValueError:
        raise Failure(f"backtest partition {partition_key!r} is not a week's first day as YYYY-MM-DD") from None


def purchase_tables(warehouse: Warehouse) -> list[str]:
    """Where purchases are: the initial load, plus every landed file once one has landed."""
    tables = [(RAW_SCHEMA, TRANSACTIONS.name), (LANDING_SCHEMA, LANDED_TRANSACTIONS.name)]
    return [f"{schema}.{table}" for schema, table in tables if warehouse.has_table(schema, table)]


def purchases_between(warehouse: Warehouse, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """(customer_id, article_id) bought in ``[start, end)``: the initial load plus every landed file."""
    tables = purchase_tables(warehouse)
    within = f"cast(t_dat as date) >= date '{start.date()}' and cast(t_dat as date) < date '{end.date()}'"
    frame = warehouse.query(" union ".join(f"select distinct customer_id, article_id from {t} where {within}"
                                           for t in tables))
    frame.columns = [c.lower() for c in frame.columns]
    return frame


def last_purchase_day(warehouse: Warehouse) -> str | None:
    """The last day with a purchase in the initial load or any landed file (None when there is none)."""
    days = [warehouse.query(f"select max(cast(t_dat as date)) as d from {t}").iloc[0, 0]
            for t in purchase_tables(warehouse)]
    days = [pd.Timestamp(d) for d in days if d is not None and not pd.isna(d)]
    return str(max(days).date()) if days else None


def chart(weeks: pd.DataFrame) -> str:
    """Every scored week as a markdown table with a bar per list (the UI's chart of live vs baseline)."""
    if weeks.empty:
        return "no week scored yet"
    top = max(weeks["map_at_k"].max(), weeks["baseline_map_at_k"].fillna(0).max()) or 1.0
    bar = lambda v: "" if pd.isna(v) else "█" * max(1, round(20 * v / top))  # noqa: E731
    rows = ["| week | version | list | MAP@k | | baseline MAP@k | |", "|---|---|---|---|---|---|---|"]
    for w in weeks.itertuples(index=False):
        base = "–" if pd.isna(w.baseline_map_at_k) else f"{w.baseline_map_at_k:.4f}"
        rows.append(f"| {w.week} | {w.version} | {w.list_name} | {w.map_at_k:.4f} | {bar(w.map_at_k)} | {base}"
                    f" | {bar(w.baseline_map_at_k)} |")
    return "\n".join(rows)


class DriftConfig(Config):
    min_overlap: float = Field(0.2, ge=0, le=1, description="Warn below this mean overlap@k with the previous version...")
    max_data_growth: float = Field(0.05, ge=0, description="...when the purchases grew by less than this share.")


@asset_check(asset="served_recommendations", name="version_drift",
             description="The live lists against the previous version's: overlap, changed share, most-recommended"
                         " articles entering and leaving, popularity bias; warns on a large change the data does not explain.")
def version_drift_check(context: AssetCheckExecutionContext, config: DriftConfig, warehouse: Warehouse,
                        model_store: ModelStore) -> AssetCheckResult:
    latest = context.instance.get_latest_materialization_event(AssetKey("served_recommendations"))
    meta = latest.asset_materialization.metadata if latest and latest.asset_materialization else {}
    if "already_current" in meta and meta["already_current"].value:
        return AssetCheckResult(passed=True, description="the last publish left the live version as it was")
    versions = history.versions(warehouse)
    if not versions:
        return AssetCheckResult(passed=True, description="nothing published yet")
    current = versions[-1]
    before = history.previous(versions, current.version)
    if before is None:
        return AssetCheckResult(passed=True, description=f"{current.version} is the first recorded version")
    paths = [model_store.local_path(v.recommendations_key) / "recommendations.parquet" for v in (before, current)]
    drift = version_drift(*paths, k=current.k, popularity=popularity_before(warehouse, current.cutoff))
    growth = (current.purchases - before.purchases) / before.purchases if before.purchases else 0.0
    problems = drift_problems(drift, growth, config.min_overlap, config.max_data_growth)
    return AssetCheckResult(
        passed=not problems, severity=AssetCheckSeverity.WARN,
        description="; ".join(problems) or f"{drift.mean_overlap:.2f} mean overlap@k with {before.version}",
        metadata={
            "previous_version": before.version, "version": current.version, "customers_in_both": drift.customers,
            "mean_overlap_at_k": round(drift.mean_overlap, 4), "changed_share": round(drift.changed_share, 4),
            "added_customers": drift.added_customers, "removed_customers": drift.removed_customers,
            "entering_top": MetadataValue.json(drift.entering), "leaving_top": MetadataValue.json(drift.leaving),
            "popularity_bias_before": round(drift.popularity_before, 3),
            "popularity_bias_after": round(drift.popularity_after, 3), "purchases_growth": round(growth, 4),
        },
    )


def popularity_before(warehouse: Warehouse, cutoff: str, days: int = 28) -> pd.DataFrame:
    """(article_id, n): purchases of each article (loaded or landed) in the ``days`` up to and including ``cutoff``."""
    last = pd.Timestamp(cutoff)
    first = (last - pd.Timedelta(days=days - 1)).date()
    within = f"cast(t_dat as date) >= date '{first}' and cast(t_dat as date) <= date '{last.date()}'"
    rows = " union all ".join(f"select article_id from {t} where {within}" for t in purchase_tables(warehouse))
    frame = warehouse.query(f"select article_id, count(*) as n from ({rows}) group by article_id")
    frame.columns = [c.lower() for c in frame.columns]
    return frame

