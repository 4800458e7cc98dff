"""The backtest sensor: once purchases after a published version's cut-off arrive (a landed file, or a
new full load) and complete a week, it requests that week's ``live_list_backtest`` partition."""

from __future__ import annotations

import json

from dagster import (
    AssetKey,
    DefaultSensorStatus,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    define_asset_job,
    sensor,
)

from recs_assets.ingest.schema import LANDED_TRANSACTIONS, TRANSACTIONS
from recs_assets.monitoring.assets import backtest_weeks, last_purchase_day, live_list_backtest
from recs_assets.monitoring.backtest import weeks_to_score
from recs_assets.monitoring.weeks import weeks_table
from recs_assets.resources.warehouse import Warehouse
from recs_assets.serving import history

backtest_live_list = define_asset_job(
    "backtest_live_list", selection=[live_list_backtest],
    description="Score one week of purchases on the version that was live for it (the backtest sensor picks the week).",
)


def _marks(context: SensorEvaluationContext) -> dict[str, int]:
    """The storage id of each purchase table's latest load: a new one means new purchases."""
    marks = {}
    for key in (TRANSACTIONS.name, LANDED_TRANSACTIONS.name):
        event = context.instance.get_latest_materialization_event(AssetKey(key))
        marks[key] = event.storage_id if event else 0
    return marks


@sensor(job=backtest_live_list, minimum_interval_seconds=120, default_status=DefaultSensorStatus.RUNNING,
        description="Requests the backtest of every whole week of purchases that arrived after a published version.")
def backtest_sensor(context: SensorEvaluationContext, warehouse: Warehouse):
    marks = _marks(context)
    if context.cursor and json.loads(context.cursor) == marks:
        return SkipReason("no purchases loaded since the last tick")
    try:
        served = [v.serve_day for v in history.versions(warehouse)]
        last_day = last_purchase_day(warehouse)
        scored = set(weeks_table(warehouse)["week"])
    except Exception as err:  # noqa: BLE001 (a run holding the DuckDB file, or Snowflake away): try next tick
        return SkipReason(f"warehouse not readable now ({type(err).__name__}); trying again next tick")
    weeks = weeks_to_score(served, last_day, scored)
    context.log.info(f"weeks to score: {weeks or 'none'} (purchases up to {last_day})")
    return SensorResult(
        run_requests=[RunRequest(partition_key=w, run_key=f"{w}:{marks[LANDED_TRANSACTIONS.name]}:{marks[TRANSACTIONS.name]}")
                      for w in weeks],
        dynamic_partitions_requests=[backtest_weeks.build_add_request(weeks)] if weeks else [],
        cursor=json.dumps(marks),
    )

