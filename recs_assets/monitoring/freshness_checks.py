"""Freshness checks, evaluated every hour by declarative automation (``automation_sensor``, on under
``make dev`` and in production) and after each materialization of their asset:

- ``live_version_freshness`` on ``served_recommendations``: the age of the live version in the cache
  (when it was first published), not of the asset's last run; warns after 7 days, fails after 8.
- ``purchases_freshness`` on ``raw_transactions``: days since the last load of purchases (raw or landed)
  warn after 8 (files land weekly); the latest purchase day is shown, and judged when configured.

They supplement the ``FreshnessPolicy`` on ``served_recommendations``, which only sees materializations.
"""

import time
from datetime import date, datetime, timezone

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AutomationCondition,
    Config,
    MetadataValue,
    asset_check,
)
from pydantic import Field, model_validator

from recs_assets.ingest.schema import LANDED_TRANSACTIONS, LANDING_SCHEMA, RAW_SCHEMA, TRANSACTIONS
from recs_assets.monitoring.data_drift import has_landed_table
from recs_assets.monitoring.freshness import epoch, judge_age, when
from recs_assets.resources.warehouse import Warehouse
from recs_assets.serving.cache import CacheUnavailable, RecommendationCache

# Freshness changes while nothing runs, so these checks run on the clock; a cron tick requests them once.
HOURLY = AutomationCondition.cron_tick_passed("0 * * * *").with_label("hourly")


class LiveVersionFreshnessConfig(Config):
    """How old the live version may be (days since it was published)."""

    warn_days: float = Field(7.0, ge=0, description="The weekly schedule retrains on Mondays: a week, then warn")
    fail_days: float = Field(8.0, ge=0)

    @model_validator(mode="after")
    def _ordered(self):
        if self.fail_days < self.warn_days:
            raise ValueError(f"fail_days={self.fail_days} must not be below warn_days={self.warn_days}")
        return self


class PurchasesFreshnessConfig(Config):
    """How old the purchase data may be."""

    max_days_since_load: float = Field(8.0, ge=0, description="Days since the last raw or landed load")
    max_purchase_lag_days: float | None = Field(
        None, ge=0, description="Days from the latest purchase day to today; off by default (historical data"
        " sets such as H&M's end years ago)")


def check_live_version(cache, config: LiveVersionFreshnessConfig, now: float) -> AssetCheckResult:
    """The live version's age: WARN beyond ``warn_days``, ERROR beyond ``fail_days``."""
    try:
        version = cache.current_version()
        # a flip between the two reads gives the newer version's time: fresher, never falsely stale
        live = cache.fallback() if version else None
    except CacheUnavailable as err:
        return AssetCheckResult(passed=False, severity=AssetCheckSeverity.WARN,
                                description=f"the cache cannot say what is live: {err}",
                                metadata={"cache": cache.describe()})
    if live is None:
        return AssetCheckResult(passed=False, severity=AssetCheckSeverity.WARN,
                                description=f"nothing is published in {cache.describe()}",
                                metadata={"cache": cache.describe()})
    published = float(live["created_at"])
    age = judge_age(published, now, config.warn_days, config.fail_days)
    bound = {"fresh": f"within {config.warn_days} days", "warn": f"older than {config.warn_days} days",
             "fail": f"older than {config.fail_days} days"}[age.verdict]
    return AssetCheckResult(
        passed=age.fresh,
        severity=AssetCheckSeverity.ERROR if age.verdict == "fail" else AssetCheckSeverity.WARN,
        description=f"live version {version} was published {when(published)}: {bound}",
        metadata={"version": version, "model_version": str(live.get("model_version")),
                  "published_at": MetadataValue.timestamp(published), "age_days": round(age.days, 3),
                  "warn_days": config.warn_days, "fail_days": config.fail_days, "cache": cache.describe()},
    )


@asset_check(
    asset="served_recommendations",
    automation_condition=HOURLY,
    description="Age of the live version in the cache (since it was published, not since the asset last ran): "
                "WARN after 7 days, ERROR after 8.",
)
def live_version_freshness(config: LiveVersionFreshnessConfig, cache: RecommendationCache) -> AssetCheckResult:
    return check_live_version(cache, config, time.time())


def _latest(warehouse, table: str) -> tuple:
    row = warehouse.query(f"select max(loaded_at) as loaded_at, max(t_dat) as last_day from {table}").iloc[0]
    return tuple(None if v is None or v != v else v for v in row)  # NaT/NaN (empty table) -> None


def _raw_loaded(warehouse) -> bool:
    return warehouse.has_table(RAW_SCHEMA, TRANSACTIONS.name)


def check_purchases(warehouse, config: PurchasesFreshnessConfig, now: float) -> AssetCheckResult:
    """Days since the last load of purchases, raw or landed (and, when configured, since the latest purchase)."""
    try:
        loaded = _raw_loaded(warehouse)
    except Exception as err:  # noqa: BLE001 - on the clock before any load (no DuckDB file yet), or unreachable
        return AssetCheckResult(passed=False, severity=AssetCheckSeverity.WARN,
                                description=f"cannot read {warehouse.describe()}: {err}")
    if not loaded:
        return AssetCheckResult(passed=False, severity=AssetCheckSeverity.WARN,
                                description=f"no purchases loaded in {warehouse.describe()} yet")
    latest = [_latest(warehouse, f"{RAW_SCHEMA}.{TRANSACTIONS.name}")]
    if has_landed_table(warehouse):
        latest.append(_latest(warehouse, f"{LANDING_SCHEMA}.{LANDED_TRANSACTIONS.name}"))
    loads = [epoch(loaded) for loaded, _ in latest if loaded is not None]
    days = [d.date() if hasattr(d, "date") else date.fromisoformat(str(d)[:10]) for _, d in latest if d is not None]
    last_load, last_day = max(loads), max(days)
    age = judge_age(last_load, now, config.max_days_since_load)
    today = datetime.fromtimestamp(now, tz=timezone.utc).date()
    lag = (today - last_day).days
    problems = [] if age.fresh else [f"last load {when(last_load)}, older than {config.max_days_since_load} days"]
    if config.max_purchase_lag_days is not None and lag > config.max_purchase_lag_days:
        problems.append(f"latest purchase {last_day}, {lag} days ago (more than {config.max_purchase_lag_days})")
    return AssetCheckResult(
        passed=not problems,
        severity=AssetCheckSeverity.WARN,
        description="; ".join(problems) or f"last load {when(last_load)}, latest purchase {last_day}",
        metadata={"last_load": MetadataValue.timestamp(last_load), "days_since_load": round(age.days, 3),
                  "latest_purchase_day": last_day.isoformat(), "days_since_latest_purchase": lag,
                  "max_days_since_load": config.max_days_since_load,
                  "max_purchase_lag_days": ("off" if config.max_purchase_lag_days is None
                                            else config.max_purchase_lag_days)},
    )


@asset_check(
    asset=TRANSACTIONS.name,
    automation_condition=HOURLY,
    description="Days since purchases were last loaded (raw or landed): WARN after 8.",
)
def purchases_freshness(config: PurchasesFreshnessConfig, warehouse: Warehouse) -> AssetCheckResult:
    return check_purchases(warehouse, config, time.time())


FRESHNESS_CHECKS = [live_version_freshness, purchases_freshness]
