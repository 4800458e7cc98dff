"""Test session set-up: a private data folder, and dbt's manifest built before definitions are imported."""

from __future__ import annotations

import os
import subprocess
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
def moto_endpoint(monkeypatch):
    """A moto server on loopback: boto3 talks real HTTP to it."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    for var, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                       "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(var, value)
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def warehouse(tmp_path):
    from recs_assets.resources.warehouse import DuckDBWarehouse

    return DuckDBWarehouse(path=str(tmp_path / "warehouse.duckdb"))


@pytest.fixture(scope="session")
def trained_pipeline(tmp_path_factory):
    """Raw → marts → features, two trained partitions and best_model, in one shared instance."""
    from dagster import AssetSelection, DagsterInstance, FilesystemIOManager, materialize

    from recs_assets.environment import build_resources
    from recs_assets.ingest.assets import raw_tables
    from recs_assets.resources.model_store import LocalModelStore
    from recs_assets.resources.tracker import ExperimentTracker
    from recs_assets.resources.warehouse import DuckDBWarehouse
    from recs_assets.transform.assets import dbt_marts

    from recs_assets_tests.helpers import TRAINED, all_assets

    assets = all_assets()
    root = tmp_path_factory.mktemp("training")
    resources = {
        **build_resources("local"),
        "warehouse": DuckDBWarehouse(path=str(root / "w.duckdb")),
        "model_store": LocalModelStore(root=str(root / "store")),
        "tracker": ExperimentTracker(dir=str(root), mode="offline"),
        "io_manager": FilesystemIOManager(base_dir=str(root / "io")),
    }
    instance = DagsterInstance.ephemeral()
    run = {"ops": {"raw_tables": {"config": {"scale": 0.001, "seed": 21}}}}
    marts = AssetSelection.assets(raw_tables, dbt_marts)
    assert materialize(assets, selection=marts, resources=resources, instance=instance, run_config=run).success
    features = ["nvt_workflow", "transformed_train", "transformed_validation", "transformed_test"]
    assert materialize(assets, selection=features, resources=resources, instance=instance).success
    trained = {
        key: materialize(assets, selection=["trained_model"], partition_key=key, resources=resources, instance=instance)
        for key in TRAINED
    }
    best = materialize(assets, selection=["best_model"], resources=resources, instance=instance)
    return {"root": root, "resources": resources, "instance": instance, "trained": trained, "best": best}


@pytest.fixture(scope="session")
def staged_pipeline(trained_pipeline):
    """``trained_pipeline`` plus the candidate stage and the ranker (both kinds, no search: the
    search itself is tested on its own), materialized once for the evaluation and serving tests."""
    from dagster import materialize

    from recs_assets_tests.helpers import STAGES, all_assets

    p = trained_pipeline
    run = {"ops": {"ranker": {"config": {"search": False, "kinds": ["lightgbm", "merlin"]}}}}
    staged = materialize(all_assets(), selection=STAGES, resources=p["resources"], instance=p["instance"], run_config=run)
    assert staged.success
    return {**p, "staged": staged}


@pytest.fixture
def fresh_boto_session():
    """boto3's default session, new for this test (event handlers registered on it reach every client
    the code under test creates), and discarded afterwards."""
    import boto3

    boto3.setup_default_session()
    yield boto3.DEFAULT_SESSION
    boto3.DEFAULT_SESSION = None
