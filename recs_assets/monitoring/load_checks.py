"""Drift checks on the loads (WARN): ``raw_load_drift`` on ``raw_transactions`` and ``landed_load_drift``
on the landed file just appended. They run in the same run as the load (a job selecting the
asset selects its checks) and show their figures as a Markdown table; the figures are ``data_drift``'s.

- A raw load replaces the raw tables, so the previous load's rows are gone by the time this one is
  checked: each evaluation records the load's profile in its metadata, and the next load is compared
  with the latest recorded one of another load. Without one (the first load, or a new Dagster
  instance), the load's last week is compared with the weeks before it.
- A landed file is compared with the weeks of purchases (raw and other landed files) before its first day.
"""

from datetime import timedelta

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckKey,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetKey,
    Config,
    MetadataValue,
    asset_check,
)
from pydantic import Field

from recs_assets.ingest.schema import LANDED_TRANSACTIONS, LANDING_SCHEMA, RAW_SCHEMA, TRANSACTIONS
from recs_assets.monitoring.data_drift import (
    RAW_PURCHASES,
    DriftBounds,
    Figure,
    LoadProfile,
    all_purchases,
    between,
    compare,
    day_span,
    has_landed_table,
    last_week,
    landed_purchases,
    markdown,
    profile,
    unknown_figures,
    unknowns,
    weeks_before,
)
from recs_assets.resources.warehouse import Warehouse

_DEFAULTS = DriftBounds()


class LoadDriftConfig(Config):
    """When a load warns (run config of the check; the defaults are what automated runs use)."""

    reference_weeks: int = Field(4, ge=1, le=52, description="Weeks before a load (or its last week) to compare with")
    min_rows_per_day_ratio: float = Field(_DEFAULTS.min_rows_per_day_ratio, ge=0)
    max_rows_per_day_ratio: float = Field(_DEFAULTS.max_rows_per_day_ratio, ge=0)
    max_price_psi: float = Field(_DEFAULTS.max_price_psi, ge=0)
    max_basket_psi: float = Field(_DEFAULTS.max_basket_psi, ge=0, description="items per basket (quantity)")
    max_channel_psi: float = Field(_DEFAULTS.max_channel_psi, ge=0)
    max_unknown_customer_share: float = Field(_DEFAULTS.max_unknown_customer_share, ge=0, le=1)
    max_unknown_article_share: float = Field(_DEFAULTS.max_unknown_article_share, ge=0, le=1)
    min_rows: int = Field(_DEFAULTS.min_rows, ge=0, description="Fewer lines: distributions shown, not judged")

    def bounds(self) -> DriftBounds:
        return DriftBounds(**self.model_dump(exclude={"reference_weeks"}))


def _result(figures: list[Figure], compared_with: str, metadata: dict) -> AssetCheckResult:
    warned = [f.name for f in figures if f.ok is False]
    numbers = {f.name.replace(" ", "_"): MetadataValue.float(float(f.value)) for f in figures
               if f.value == f.value and abs(f.value) != float("inf")}
    return AssetCheckResult(
        passed=not warned,
        severity=AssetCheckSeverity.WARN,
        description=(f"drifted from {compared_with}: {', '.join(warned)}" if warned
                     else f"in line with {compared_with}"),
        metadata={"compared_with": compared_with, "figures": MetadataValue.md(markdown(figures)), **numbers,
                  **metadata},
    )


# --- raw loads ---------------------------------------------------------------------------------------

RAW_CHECK = AssetCheckKey(AssetKey(TRANSACTIONS.name), "raw_load_drift")


def recorded_reference(instance, load_id: str) -> tuple[str, LoadProfile] | None:
    """The profile this raw load is compared with: the latest one recorded for another load. When the
    latest evaluation was of this same load (a re-run check), the reference it used is reused."""
    for record in instance.event_log_storage.get_asset_check_execution_history(RAW_CHECK, limit=20):
        event = record.event.dagster_event if record.event else None
        evaluation = event.event_specific_data if event else None
        meta = getattr(evaluation, "metadata", None) or {}
        recorded = meta.get("profile")
        if recorded is None:
            continue
        recorded = recorded.value
        if recorded.get("load_id") != load_id:
            return recorded["load_id"], LoadProfile.from_json(recorded)
        reference = meta.get("reference_profile")
        return (reference.value["load_id"], LoadProfile.from_json(reference.value)) if reference else None
    return None


def raw_load_id(warehouse) -> str:
    """The load that wrote the raw tables (a load replaces them whole: one id)."""
    return str(warehouse.query(f"select min(load_id) as load_id from {RAW_SCHEMA}.{TRANSACTIONS.name}").iloc[0, 0])


def check_raw_load(warehouse, config: LoadDriftConfig, load_id: str,
                   reference: tuple[str, LoadProfile] | None) -> AssetCheckResult:
    """Compare raw load ``load_id`` with ``reference`` (the previous load), or else its last week with the
    weeks before; unknown customers and articles over every purchase line the marts will read."""
    bounds = config.bounds()
    own = profile(warehouse, RAW_PURCHASES)
    if not own.rows:  # the loaders refuse an empty load; a table emptied by hand is still reported
        return AssetCheckResult(passed=False, severity=AssetCheckSeverity.WARN,
                                description=f"{RAW_SCHEMA}.{TRANSACTIONS.name} is empty", metadata={"load_id": load_id})
    figures: list[Figure] = []
    metadata: dict = {"load_id": load_id, "profile": MetadataValue.json({"load_id": load_id, **own.to_json()})}
    if reference is not None:
        ref_id, ref = reference
        compared_with = f"the previous load {ref_id}"
        figures += compare(profile(warehouse, RAW_PURCHASES, ref.price_edges), ref, bounds)
        metadata["reference_profile"] = MetadataValue.json({"load_id": ref_id, **ref.to_json()})
    else:
        week_start, week_end = last_week(own.last_day)
        start, end = weeks_before(week_start.isoformat(), config.reference_weeks)
        ref = profile(warehouse, between(RAW_PURCHASES, start, end))
        compared_with = f"its {config.reference_weeks} weeks before {week_start} (no earlier load recorded)"
        if ref.rows:
            figures += compare(profile(warehouse, between(RAW_PURCHASES, week_start, week_end), ref.price_edges),
                               ref, bounds)
        else:
            compared_with = "nothing (no earlier load recorded, no weeks before the last one)"
    figures += unknown_figures(unknowns(warehouse, all_purchases(warehouse)), bounds, "raw and landed lines")
    return _result(figures, compared_with, metadata)


@asset_check(
    asset=TRANSACTIONS.name,
    description="WARN when this raw load differs from the previous one: rows per day, price, items per basket, "
                "channel mix; and purchases (raw or landed) whose customer or article the raw tables lack.",
)
def raw_load_drift(context: AssetCheckExecutionContext, config: LoadDriftConfig,
                   warehouse: Warehouse) -> AssetCheckResult:
    load_id = raw_load_id(warehouse)
    return check_raw_load(warehouse, config, load_id, recorded_reference(context.instance, load_id))


# --- landed files ------------------------------------------------------------------------------------

def check_landed_load(warehouse, config: LoadDriftConfig, load_id: str) -> AssetCheckResult:
    """Compare one landed load with the ``reference_weeks`` weeks of purchases before its first day."""
    bounds = config.bounds()
    source = landed_purchases(load_id=load_id)
    rows, first, _ = day_span(warehouse, source)
    if rows == 0:
        return AssetCheckResult(
            passed=False, severity=AssetCheckSeverity.WARN, metadata={"load_id": load_id},
            description=f"load {load_id} has no lines in the landed table (quarantined, or not loaded)")
    start, end = weeks_before(first, config.reference_weeks)
    ref = profile(warehouse, between(all_purchases(warehouse, exclude_load_id=load_id), start, end))
    figures: list[Figure] = []
    if ref.rows:
        compared_with = f"the {config.reference_weeks} weeks before {first} ({start} .. {end - timedelta(days=1)})"
        figures += compare(profile(warehouse, source, ref.price_edges), ref, bounds)
    else:
        compared_with = f"nothing (no purchases in the {config.reference_weeks} weeks before {first})"
    figures += unknown_figures(unknowns(warehouse, source), bounds, "lines of this load")
    return _result(figures, compared_with, {"load_id": load_id})


def latest_landed_load(warehouse) -> str | None:
    if not has_landed_table(warehouse):
        return None
    latest = warehouse.query(f"select load_id from {LANDING_SCHEMA}.{LANDED_TRANSACTIONS.name} "
                             "order by loaded_at desc, load_id limit 1")
    return str(latest.iloc[0, 0]) if len(latest) else None


# Not partitioned itself (partitioned checks are a preview feature of Dagster): in the landing run it
# checks the run's partition, i.e. the file just appended; run on its own, the latest landed file.
@asset_check(
    asset="landed_transactions",
    description="WARN when a landed file differs from the weeks before it: rows per day, price, items per "
                "basket, channel mix, unknown customers or articles.",
)
def landed_load_drift(context: AssetCheckExecutionContext, config: LoadDriftConfig,
                      warehouse: Warehouse) -> AssetCheckResult:
    load_id = context.partition_key if context.has_partition_key else latest_landed_load(warehouse)
    if load_id is None:
        return AssetCheckResult(passed=True, severity=AssetCheckSeverity.WARN, description="no file has landed yet")
    return check_landed_load(warehouse, config, load_id)


LOAD_CHECKS = [raw_load_drift, landed_load_drift]
