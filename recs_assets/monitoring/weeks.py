"""The backtest's own history in the warehouse: one row per scored week, so the weeks can be read
back together (the UI's chart, the summary) without loading every partition's value."""

from __future__ import annotations

import pandas as pd

from recs_assets.monitoring.backtest import WeekScore
from recs_assets.resources.warehouse import Warehouse
from recs_assets.serving.history import SCHEMA, ServedVersion

TABLE = "backtest_weeks"
COLUMNS = {
    "load_id": "string",  # the week: scoring a week again replaces its row
    "week": "date",
    "version": "string",
    "list_name": "string",
    "buyers": "int",
    "personal_share": "float",
    "map_at_k": "float",
    "recall_at_k": "float",
    "hit_rate_at_k": "float",
    "baseline_name": "string",
    "baseline_map_at_k": "float",
    "scored_at": "timestamp",
}


def record_week(warehouse: Warehouse, week: str, live: ServedVersion, score: WeekScore,
                baseline: WeekScore | None) -> None:
    row = pd.DataFrame([{
        "load_id": week, "week": pd.Timestamp(week), "version": live.version, "list_name": live.list_name,
        "buyers": score.buyers, "personal_share": score.personal_share, "map_at_k": score.map_at_k,
        "recall_at_k": score.recall_at_k, "hit_rate_at_k": score.hit_rate_at_k, "baseline_name": live.baseline_name,
        "baseline_map_at_k": float("nan") if baseline is None else baseline.map_at_k,
        "scored_at": pd.Timestamp.now(tz="UTC").tz_localize(None),
    }])
    with warehouse.staged_append(SCHEMA, {TABLE: COLUMNS}, week) as load:
        load.append(TABLE, row[list(COLUMNS)])


def weeks_table(warehouse: Warehouse) -> pd.DataFrame:
    """Every scored week, oldest first (empty when none was)."""
    if not warehouse.has_table(SCHEMA, TABLE):
        return pd.DataFrame(columns=[c for c in COLUMNS if c != "load_id"])
    frame = warehouse.query(f"select {', '.join(c for c in COLUMNS if c != 'load_id')} from {SCHEMA}.{TABLE}"
                            " order by week")
    frame.columns = [c.lower() for c in frame.columns]
    frame["week"] = pd.to_datetime(frame["week"]).dt.date.astype(str)
    return frame
