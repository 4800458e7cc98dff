"""The code location loads in both environments, with the lineage the product promises."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXPECTED_ASSETS = {
    "raw_customers", "raw_articles", "raw_transactions", "landed_transactions",
    "stg_customers", "stg_articles", "stg_transactions",
    "transactions_dedup", "split_boundaries", "customer_activity", "transactions_enriched",
    "transactions_split", "train_transactions", "validation_transactions", "test_transactions",
    "nvt_workflow", "transformed_train", "transformed_validation", "transformed_test",
    "trained_model", "best_model", "history_candidates", "copurchase_candidates", "popularity_candidates",
    "retrieval_candidates", "als_candidates", "candidates", "tuned_baselines", "ranker", "evaluation",
    "recommendations", "served_recommendations", "live_list_backtest",
}

_PROBE = """
import json
from recs_assets import defs
g = defs.resolve_asset_graph()
keys = {k.to_user_string() for k in g.get_all_asset_keys()}
deps = {k.to_user_string(): sorted(p.to_user_string() for p in g.get(k).parent_keys) for k in g.get_all_asset_keys()}
resources = {k: type(v).__name__ for k, v in defs.resources.items()}
import sys
heavy = [m for m in ("tensorflow", "nvtabular", "merlin", "wandb", "lightgbm", "implicit") if m in sys.modules]
partitions = defs.get_assets_def("trained_model").partitions_def.get_partition_keys()
automation = {
    "sensors": {s.name: s.default_status.value for s in defs.sensors},
    "schedules": {s.name: [s.default_status.value, s.cron_schedule] for s in defs.schedules},
    "conditions": {k.to_user_string(): g.get(k).automation_condition is not None for k in g.get_all_asset_keys()},
}
print(json.dumps({"keys": sorted(keys), "deps": deps, "resources": resources, "heavy": heavy,
                  "partitions": partitions, "checks": len(list(g.asset_check_keys)), **automation}))
"""


@functools.lru_cache(maxsize=None)  # one load per environment for the whole module (each takes seconds)
def _load(env: str) -> dict:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SNOWFLAKE_")}
    environ["RECS_ENV"] = env
    out = subprocess.run([sys.executable, "-c", _PROBE], env=environ, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("env,warehouse", [("local", "DuckDBWarehouse"), ("prod", "SnowflakeWarehouse")])
def test_definitions_load(env, warehouse):
    loaded = _load(env)  # prod: no SNOWFLAKE_* set and no network, yet it loads
    assert set(loaded["keys"]) == EXPECTED_ASSETS
    assert loaded["resources"]["warehouse"] == warehouse
    assert loaded["resources"]["dbt"] == "DbtCliResource"
    assert loaded["resources"]["cache"] == {"local": "SQLiteCache", "prod": "DynamoDBCache"}[env]
    assert loaded["resources"]["model_store"] == {"local": "LocalModelStore", "prod": "S3ModelStore"}[env]
    assert loaded["checks"] >= 30
    assert loaded["resources"]["landing"] == {"local": "LocalLandingZone", "prod": "S3LandingZone"}[env]
    assert loaded["resources"]["promotion"] == "PromotionPolicy"


def test_the_gate_margin_is_the_deployments(monkeypatch):
    """Runs launched by automation carry no run config: the gate's margin comes from the environment."""
    from recs_assets.environment import build_resources

    monkeypatch.delenv("RECS_GATE_MIN_LIFT", raising=False)
    assert build_resources("local")["promotion"].min_relative_lift == 0.1
    monkeypatch.setenv("RECS_GATE_MIN_LIFT", "0.05")
    assert build_resources("prod")["promotion"].min_relative_lift == 0.05
    monkeypatch.setenv("RECS_GATE_MIN_LIFT", "ten percent")
    with pytest.raises(ValueError, match="RECS_GATE_MIN_LIFT='ten percent' is not a number"):
        build_resources("local")


@pytest.mark.parametrize("raw", ["-0.2", "nan"])
def test_a_negative_gate_margin_is_refused(monkeypatch, raw):
    """A negative margin would approve a list that loses to the strongest baseline."""
    from pydantic import ValidationError

    from recs_assets.environment import build_resources
    from recs_assets.resources.promotion_policy import PromotionPolicy

    monkeypatch.setenv("RECS_GATE_MIN_LIFT", raw)
    with pytest.raises(ValueError, match=f"RECS_GATE_MIN_LIFT='{raw}' must be a fraction ≥ 0"):
        build_resources("local")
    with pytest.raises(ValidationError):
        PromotionPolicy(min_relative_lift=-0.2)


def test_sensors_and_the_weekly_schedule_are_on_by_default():
    loaded = _load("local")
    assert loaded["sensors"] == {"landing_sensor": "RUNNING", "automation_sensor": "RUNNING",
                                 "backtest_sensor": "RUNNING"}
    assert loaded["schedules"] == {"weekly_retraining": ["RUNNING", "0 4 * * 1"]}
    automated = {k for k, on in loaded["conditions"].items() if on}
    # raw loads are started by people or the landing sensor; backtest weeks by the backtest sensor
    assert automated == EXPECTED_ASSETS - {"raw_customers", "raw_articles", "raw_transactions", "landed_transactions",
                                           "live_list_backtest"}


def test_loading_definitions_does_not_import_tensorflow_or_merlin():
    loaded = _load("local")
    assert loaded["heavy"] == []


def test_partitions_come_from_the_grid():
    from recs_assets.training.grid import GRID

    assert _load("local")["partitions"] == [p.key for p in GRID]
    assert GRID[0].key == "lr0.005-bs1024-ep3-d64"


def test_serving_waits_for_the_evaluation():
    deps = _load("local")["deps"]
    assert set(deps["recommendations"]) == {"evaluation", "ranker", "candidates", "tuned_baselines"}
    assert set(deps["evaluation"]) == {"ranker", "candidates", "tuned_baselines"}
    assert {"tuned_baselines", "best_model"} <= set(deps["candidates"])
    assert set(deps["tuned_baselines"]) == {"transactions_dedup", "split_boundaries", "stg_articles", "stg_customers"}
    assert deps["ranker"] == ["candidates"]
    assert {"best_model", "transactions_dedup", "split_boundaries"} <= set(deps["retrieval_candidates"])
    assert deps["served_recommendations"] == ["recommendations"]


def test_dbt_sources_are_the_raw_assets():
    deps = _load("local")["deps"]
    assert deps["stg_transactions"] == ["landed_transactions", "raw_transactions"]
    assert deps["stg_customers"] == ["raw_customers"]
    assert set(deps["transactions_enriched"]) == {"customer_activity", "stg_articles", "stg_customers", "transactions_dedup"}


def test_unknown_environment_is_refused():
    with pytest.raises(subprocess.CalledProcessError) as err:
        _load("staging")
    assert "RECS_ENV='staging' is not one of" in err.value.stderr


def test_make_python_and_dbt_agree_on_the_default_data_folder(tmp_path):
    """The default warehouse is the same file whether Make, Python or dbt run by hand (from the dbt
    project, as documented) picks it: they used to name three different ones."""
    from recs_assets.environment import DBT_PROJECT_DIR, REPO_ROOT

    env = {k: v for k, v in os.environ.items() if k not in ("RECS_DATA_DIR", "RECS_DUCKDB_PATH", "DAGSTER_HOME")}
    python = subprocess.run([sys.executable, "-c", "from recs_assets.environment import duckdb_path; print(duckdb_path())"],
                            env=env, capture_output=True, text=True, check=True).stdout.strip()
    make = subprocess.run(["make", "--no-print-directory", "--eval", "show: ; @echo $(RECS_DATA_DIR)", "show"],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True, check=True).stdout.strip()
    dbt = subprocess.run([sys.executable, "-c", (
        "import os; from dbt_common.context import set_invocation_context; set_invocation_context(os.environ)\n"
        "from dbt.config.profile import read_profile; from dbt.config.renderer import ProfileRenderer\n"
        "print(ProfileRenderer({}).render_data(read_profile('.')['recs_assets']['outputs']['duckdb'])['path'])")],
        cwd=DBT_PROJECT_DIR, env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert python == str((DBT_PROJECT_DIR / dbt).resolve()) == str(Path(make) / "warehouse.duckdb")


def test_a_missing_manifest_is_built_locally_and_named_in_production(tmp_path):
    import shutil

    from recs_assets.environment import DBT_PROJECT_DIR
    from recs_assets.transform.project import ensure_manifest

    project = tmp_path / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    with pytest.raises(RuntimeError, match="manifest.json is missing: run `make manifest`"):
        ensure_manifest(project, "duckdb", build=False)
    assert ensure_manifest(project, "duckdb", build=True).exists()
