"""The history of live versions, kept in the warehouse so it outlives the cache's own clean-up.

Every publish that changes the live version adds one row: which list it is, the last purchase day it
used, when it went live, and where its lists (and the strongest baseline's lists as of the same
cut-off) are kept in the model store. Monitoring reads it back to score each week against what the
customers bought while that version was live, and to compare consecutive versions.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import pandas as pd

from recs_assets.resources.warehouse import Warehouse

SCHEMA = "monitoring"
TABLE = "served_versions"
COLUMNS = {
    "load_id": "string",  # the version: a row is written once per version (re-recording replaces it)
    "version": "string",
    "list_name": "string",
    "model_version": "string",
    "cutoff": "date",  # the last purchase day the lists used
    "serve_day": "date",  # the first day they are meant for
    "live_from": "timestamp",  # when the pointer flipped to it (UTC)
    "recommendations_key": "string",  # model store key: recommendations.parquet, fallback.parquet, baseline.parquet
    "baseline_name": "string",  # the strongest baseline on the evaluation week
    "k": "int",
    "purchases": "int",  # purchases the lists were computed from
    "evaluation_map": "float",  # the served list's MAP@k on the evaluation (test) week
    "baseline_evaluation_map": "float",
}


@dataclass(frozen=True)
class ServedVersion:
    """One row of the history."""

    version: str
    list_name: str
    model_version: str
    cutoff: str
    serve_day: str
    live_from: str
    recommendations_key: str
    baseline_name: str = ""
    k: int = 12
    purchases: int = 0
    evaluation_map: float | None = None
    baseline_evaluation_map: float | None = None


def record(warehouse: Warehouse, entry: ServedVersion) -> None:
    """Add ``entry`` (replacing an earlier row of the same version) in one transaction."""
    row = pd.DataFrame([{"load_id": entry.version, **asdict(entry)}])
    for column in ("cutoff", "serve_day", "live_from"):
        row[column] = pd.to_datetime(row[column])
    for column in ("evaluation_map", "baseline_evaluation_map"):
        row[column] = row[column].astype(float)
    with warehouse.staged_append(SCHEMA, {TABLE: COLUMNS}, entry.version) as load:
        load.append(TABLE, row[list(COLUMNS)])


def versions(warehouse: Warehouse) -> list[ServedVersion]:
    """Every recorded version, in the order they went live (none when nothing was recorded yet)."""
    if not warehouse.has_table(SCHEMA, TABLE):
        return []
    names = [f.name for f in fields(ServedVersion)]
    frame = warehouse.query(f"select {', '.join(names)} from {SCHEMA}.{TABLE} order by live_from, version")
    frame.columns = [c.lower() for c in frame.columns]  # Snowflake answers in upper case
    out = []
    for row in frame.to_dict("records"):
        for day in ("cutoff", "serve_day"):
            row[day] = str(pd.Timestamp(row[day]).date())
        row["live_from"] = pd.Timestamp(row["live_from"]).isoformat()
        for metric in ("evaluation_map", "baseline_evaluation_map"):
            row[metric] = None if pd.isna(row[metric]) else float(row[metric])
        row["k"], row["purchases"] = int(row["k"]), int(row["purchases"])
        out.append(ServedVersion(**row))
    return out


def live_during(history: list[ServedVersion], week_start) -> ServedVersion | None:
    """The version serving the week starting ``week_start``: the last to go live among those whose lists
    were made before that day (``serve_day`` on or before it), so none has seen the week's purchases."""
    start = pd.Timestamp(week_start)
    eligible = [v for v in history if pd.Timestamp(v.serve_day) <= start]
    return max(eligible, key=lambda v: (v.serve_day, v.live_from), default=None)


def previous(history: list[ServedVersion], version: str) -> ServedVersion | None:
    """The version live before ``version`` went live (None for the first)."""
    order = [v.version for v in history]
    if version not in order or order.index(version) == 0:
        return None
    return history[order.index(version) - 1]
