"""The evaluation asset on a really trained model, and the gate blocking an untrained one."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from dagster import FilesystemIOManager, asset, materialize

from recs_assets.features.workflow import read_transformed
from recs_assets.serving.cache import Recommendation, SQLiteCache
from recs_assets_tests.helpers import all_assets, metadata


@pytest.fixture(scope="module")
def evaluated(trained_pipeline):
    p = trained_pipeline
    result = materialize(all_assets(), selection=["evaluation"], resources=p["resources"], instance=p["instance"],
                         raise_on_error=False)
    return result


def _gate(result):
    [check] = [e.event_specific_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
    return check


def test_trained_model_passes_the_gate_and_beats_the_baseline(evaluated):
    gate = _gate(evaluated)
    assert gate.passed, gate.metadata["reasons"].value
    assert evaluated.success
    value = evaluated.output_for_node("evaluation")
    assert value["model"]["map_at_k"] > value["baseline"]["map_at_k"]
    assert value["model"]["coverage_at_k"] > value["baseline"]["coverage_at_k"]  # one list vs personal lists


def test_reclist_report_is_stored_for_model_and_baseline(evaluated):
    value = evaluated.output_for_node("evaluation")
    reports = sorted(Path(value["report_uri"]).glob("PurchaseRecList/*/*/results/report.json"))
    assert {r.parts[-4] for r in reports} == {"model", "baseline"}
    report = json.loads(reports[0].read_text())
    names = {t["name"] for t in report["data"]}
    assert {"recall_at_k", "map_at_k", "less_wrong", "latent_diversity", "mred", "miss_rate_by_age_band"} <= names
    plots = list(Path(value["report_uri"]).glob("PurchaseRecList/model/*/plots/*.png"))
    assert len(plots) == 5
    meta = metadata(evaluated, "evaluation")
    assert "| map@12 |" in meta["metrics"] and "data:image/png;base64," in meta["plots"]


def test_gate_blocks_an_untrained_model(trained_pipeline, tmp_path):
    from recs_assets.training.grid import Hyperparameters
    from recs_assets.training.two_tower import save_model, train_two_tower

    p = trained_pipeline
    store = p["resources"]["model_store"]
    [features] = Path(store.root).glob("features/*")
    # learning rate 0: the towers are built and saved but keep their random initial weights
    untrained = train_two_tower(read_transformed(features / "train"),
                                Hyperparameters(learning_rate=0.0, batch_size=4096, epochs=1), seed=0)
    with_model = tmp_path / "untrained"
    save_model(untrained.model, with_model)
    store.publish_dir(with_model, "models/untrained")

    @asset(name="best_model")
    def untrained_best_model():
        return {"model_key": "models/untrained", "partition": "untrained", "workflow": f"workflows/{features.name}"}

    io_dir = tmp_path / "io"
    shutil.copytree(Path(p["root"]) / "io", io_dir)  # keep the shared run's values untouched
    served = SQLiteCache(path=str(tmp_path / "served.sqlite"))
    served.publish("good-version", [Recommendation("u", [1], [1.0])], [1], "previous-model")
    resources = {**p["resources"], "io_manager": FilesystemIOManager(base_dir=str(io_dir)), "cache": served}
    assets = [a for a in all_assets() if "best_model" not in {k.to_user_string() for k in a.keys}]
    result = materialize(
        [*assets, untrained_best_model],
        selection=["best_model", "evaluation", "recommendations", "served_recommendations"],
        resources=resources, instance=p["instance"], raise_on_error=False,
    )
    gate = _gate(result)
    assert not gate.passed and not result.success
    assert any("map_at_k: model" in line for line in gate.metadata["reasons"].value.splitlines())
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert "recommendations" not in materialized and "served_recommendations" not in materialized
    assert served.current_version() == "good-version"  # what is served stays as it is


def test_a_model_trained_on_other_features_is_refused():
    from recs_assets.training.selection import features_mismatch

    assert features_mismatch({"model_key": "m", "workflow": "workflows/a"}, {"key": "workflows/a"}) is None
    reason = features_mismatch({"model_key": "m", "workflow": "workflows/a"}, {"key": "workflows/b"})
    assert "trained on features workflows/a" in reason and "current features are workflows/b" in reason
