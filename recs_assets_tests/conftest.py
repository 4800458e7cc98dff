"""Test session set-up: a private data folder, and dbt's manifest built before definitions are imported."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def pytest_configure(config: pytest.Config) -> None:
    session_dir = Path(tempfile.mkdtemp(prefix="recs_assets_tests_"))
    os.environ["RECS_DATA_DIR"] = str(session_dir)
    os.environ.pop("RECS_DUCKDB_PATH", None)
    os.environ["RECS_ENV"] = "local"
    from recs_assets.environment import dbt_executable

    dbt = dbt_executable()
    subprocess.run(
        [str(dbt), "parse", "--quiet", "--project-dir", "dbt_project", "--profiles-dir", "dbt_project"],
        cwd=REPO,
        check=True,
    )


@pytest.fixture
def warehouse(tmp_path):
    from recs_assets.resources.warehouse import DuckDBWarehouse

    return DuckDBWarehouse(path=str(tmp_path / "warehouse.duckdb"))
