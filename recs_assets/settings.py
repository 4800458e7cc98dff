"""Where the pipeline runs and where its files are (ground floor: every stage may read these; nothing
here builds a resource). ``environment`` builds the resources from them."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Literal

from recs_service.settings import ENVIRONMENTS, REPO_ROOT  # the online package defines them; one home

Environment = Literal["local", "prod"]

DBT_PROJECT_DIR = REPO_ROOT / "dbt_project"


def current_environment() -> Environment:
    """``RECS_ENV``, read and checked in one place: the online package, which has to read it too."""
    from recs_service.settings import current_environment as read

    return read()  # type: ignore[return-value]


def data_dir() -> Path:
    """Where local data lives (warehouse, model store, cache, runs): ``RECS_DATA_DIR``, by default
    ./data/synthetic (``make run SOURCE=x`` uses ./data/x); defined once, in the online package."""
    from recs_service.settings import data_dir as default

    return default()


def duckdb_path() -> Path:
    return Path(os.environ.get("RECS_DUCKDB_PATH", data_dir() / "warehouse.duckdb")).resolve()


def dbt_target(env: Environment | None = None) -> str:
    return {"local": "duckdb", "prod": "snowflake"}[env or current_environment()]


def dbt_executable() -> str:
    """The dbt installed beside this Python (works without the venv on PATH), else ``dbt``."""
    beside = Path(sys.executable).with_name("dbt")
    return str(beside) if beside.exists() else "dbt"
