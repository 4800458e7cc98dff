"""Decides, once, where the pipeline runs (``RECS_ENV=local|prod``) and builds that environment's resources.

local (default): DuckDB file, model store, asset values and offline W&B runs under the data
folder; dbt target ``duckdb``.
prod: Snowflake through dagster-snowflake (credentials from ``SNOWFLAKE_*`` env vars, read at run
time, never at load), dbt target ``snowflake``; artifacts and asset values in S3 (``RECS_S3_BUCKET``,
AWS credentials from the usual AWS env vars); W&B online when ``WANDB_API_KEY`` is set.
Asset code never asks where it runs; it only sees the resources built here.
"""

from __future__ import annotations

import os

# The settings live on the ground floor (``settings``); imported from here too, as they always were.
from recs_assets.settings import (DBT_PROJECT_DIR, ENVIRONMENTS, REPO_ROOT, Environment,  # noqa: E402,F401
                                  current_environment, data_dir, dbt_executable, dbt_target, duckdb_path)


def build_cache(env: Environment | None = None):
    """The recommendation cache resource, from the settings the API reads too (``recs_service.settings``):
    SQLite under the data folder locally, DynamoDB in production."""
    from recs_assets.serving.cache import DynamoDBCache, SQLiteCache
    from recs_service.settings import cache_settings

    kind, kwargs = cache_settings(env or current_environment())
    return SQLiteCache(**kwargs) if kind == "sqlite" else DynamoDBCache(**kwargs)


def build_landing_zone(env: Environment | None = None):
    """Where new transaction files land: ``RECS_LANDING_DIR`` (default data folder/landing) locally,
    ``s3://$RECS_S3_BUCKET/$RECS_LANDING_PREFIX`` (default ``landing/``) in production."""
    from recs_assets.ingest.landing_zone import LocalLandingZone, S3LandingZone

    if (env or current_environment()) == "local":
        return LocalLandingZone(root=os.environ.get("RECS_LANDING_DIR", str(data_dir() / "landing")))
    from dagster import EnvVar

    return S3LandingZone(
        bucket=EnvVar("RECS_S3_BUCKET"),
        prefix=os.environ.get("RECS_LANDING_PREFIX", "landing/"),
        endpoint_url=os.environ.get("RECS_S3_ENDPOINT") or None,
    )


def gate_min_lift() -> float:
    """The promotion gate's required lift over the strongest baseline: ``RECS_GATE_MIN_LIFT`` (a
    fraction: 0.1 = 1.1×), 0.1 by default."""
    raw = os.environ.get("RECS_GATE_MIN_LIFT", "0.1")
    try:
        lift = float(raw)
    except ValueError:
        raise ValueError(f"RECS_GATE_MIN_LIFT={raw!r} is not a number (a fraction, e.g. 0.1 for 1.1x)") from None
    if not lift >= 0:  # negative (or NaN) would approve a list that loses to a baseline
        raise ValueError(f"RECS_GATE_MIN_LIFT={raw!r} must be a fraction ≥ 0 (e.g. 0.1 for 1.1x)")
    return lift


def build_resources(env: Environment | None = None) -> dict:
    """The resources of one environment, keyed as the assets expect them."""
    from dagster_dbt import DbtCliResource

    from recs_assets.resources.dask_cluster import DaskCluster
    from recs_assets.resources.promotion_policy import PromotionPolicy
    from recs_assets.resources.tracker import ExperimentTracker

    env = env or current_environment()
    shared = {
        "landing": build_landing_zone(env),
        # NVTabular on a Dask cluster when RECS_DASK_SCHEDULER is set, in the step otherwise.
        "dask": DaskCluster(scheduler_address=os.environ.get("RECS_DASK_SCHEDULER") or None),
        # The promotion gate's bar, the same everywhere unless RECS_GATE_MIN_LIFT sets another margin.
        "promotion": PromotionPolicy(min_relative_lift=gate_min_lift()),
    }
    dbt = DbtCliResource(
        project_dir=str(DBT_PROJECT_DIR),
        profiles_dir=str(DBT_PROJECT_DIR),
        target=dbt_target(env),
        dbt_executable=dbt_executable(),
    )
    if env == "local":
        from dagster import FilesystemIOManager

        from recs_assets.resources.model_store import LocalModelStore
        from recs_assets.resources.warehouse import DuckDBWarehouse

        return {
            **shared,
            "warehouse": DuckDBWarehouse(path=str(duckdb_path())),
            "dbt": dbt,
            "model_store": LocalModelStore(root=str(data_dir() / "model_store")),
            "tracker": ExperimentTracker(dir=str(data_dir())),  # runs land in data/wandb
            "io_manager": FilesystemIOManager(base_dir=str(data_dir() / "io")),
            "cache": build_cache(env),
        }

    from dagster import EnvVar
    from dagster_aws.s3 import S3PickleIOManager, S3Resource
    from dagster_snowflake import SnowflakeResource

    from recs_assets.resources.model_store import S3ModelStore
    from recs_assets.resources.snowflake_warehouse import SnowflakeWarehouse

    snowflake = SnowflakeResource(
        account=EnvVar("SNOWFLAKE_ACCOUNT"),
        user=EnvVar("SNOWFLAKE_USER"),
        password=EnvVar("SNOWFLAKE_PASSWORD"),
        role=EnvVar("SNOWFLAKE_ROLE"),
        database=EnvVar("SNOWFLAKE_DATABASE"),
        warehouse=EnvVar("SNOWFLAKE_WAREHOUSE"),
    )
    return {
        **shared,
        "warehouse": SnowflakeWarehouse(snowflake=snowflake),
        "dbt": dbt,
        "model_store": S3ModelStore(bucket=EnvVar("RECS_S3_BUCKET"), prefix="recs_assets/artifacts"),
        "tracker": ExperimentTracker(dir="/tmp/recs_assets"),  # online when WANDB_API_KEY is set
        "io_manager": S3PickleIOManager(
            s3_resource=S3Resource(), s3_bucket=EnvVar("RECS_S3_BUCKET"), s3_prefix="recs_assets/io"
        ),
        "cache": build_cache(env),
    }
