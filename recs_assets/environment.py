"""Decides, once, where the pipeline runs (``RECS_ENV=local|prod``) and builds that environment's resources.

local (default): DuckDB file under the data folder, dbt target ``duckdb``.
prod: Snowflake through dagster-snowflake (credentials from ``SNOWFLAKE_*`` env vars, read at run
time, never at load), dbt target ``snowflake``.
Asset code never asks where it runs; it only sees the resources built here.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

Environment = Literal["local", "prod"]
ENVIRONMENTS: tuple[Environment, ...] = ("local", "prod")

REPO_ROOT = Path(__file__).resolve().parent.parent
DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"


def current_environment() -> Environment:
    env = os.environ.get("RECS_ENV", "local")
    if env not in ENVIRONMENTS:
        raise ValueError(f"RECS_ENV={env!r} is not one of {ENVIRONMENTS}")
    return env  # type: ignore[return-value]


def data_dir() -> Path:
    """Where local data lives (warehouse file, model store, caches): ``RECS_DATA_DIR`` or ./data."""
    return Path(os.environ.get("RECS_DATA_DIR", REPO_ROOT / "data")).resolve()


def duckdb_path() -> Path:
    return Path(os.environ.get("RECS_DUCKDB_PATH", data_dir() / "warehouse.duckdb")).resolve()


def dbt_target(env: Environment | None = None) -> str:
    return {"local": "duckdb", "prod": "snowflake"}[env or current_environment()]


def build_resources(env: Environment | None = None) -> dict:
    """The resources of one environment, keyed as the assets expect them."""
    from dagster_dbt import DbtCliResource

    env = env or current_environment()
    dbt = DbtCliResource(
        project_dir=str(DBT_PROJECT_DIR), profiles_dir=str(DBT_PROJECT_DIR), target=dbt_target(env)
    )
    if env == "local":
        from recs_assets.resources.warehouse import DuckDBWarehouse

        return {"warehouse": DuckDBWarehouse(path=str(duckdb_path())), "dbt": dbt}

    from dagster import EnvVar
    from dagster_snowflake import SnowflakeResource

    from recs_assets.resources.snowflake_warehouse import SnowflakeWarehouse

    snowflake = SnowflakeResource(
        account=EnvVar("SNOWFLAKE_ACCOUNT"),
        user=EnvVar("SNOWFLAKE_USER"),
        password=EnvVar("SNOWFLAKE_PASSWORD"),
        role=EnvVar("SNOWFLAKE_ROLE"),
        database=EnvVar("SNOWFLAKE_DATABASE"),
        warehouse=EnvVar("SNOWFLAKE_WAREHOUSE"),
    )
    return {"warehouse": SnowflakeWarehouse(snowflake=snowflake), "dbt": dbt}
