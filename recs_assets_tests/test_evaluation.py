"""Candidates → ranker → evaluation on a really trained two-tower: every list side by side, the
RecList report for each, the gate against the strongest tuned baseline, and what is published when the
ranker fails it (the approved live version stays, or the strongest baseline's list is served)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from dagster import materialize

from recs_assets.baselines.lists import FAMILIES
from recs_assets.resources.promotion_policy import PromotionPolicy
from recs_assets.serving.cache import Recommendation, SQLiteCache
from recs_assets_tests.helpers import all_assets, metadata

BASELINES = set(FAMILIES)
LISTS = {"served", "two_tower", *BASELINES}


@pytest.fixture(scope="module")
def evaluated(staged_pipeline):
    p = staged_pipeline
    return materialize(all_assets(), selection=["evaluation"], resources=p["resources"],
                       instance=p["instance"], raise_on_error=False)


def _gate(result):
    [check] = [e.event_specific_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
    return check


def test_every_list_is_scored_on_the_same_buyers_and_the_gate_names_the_strongest_baseline(evaluated):
    value = evaluated.output_for_node("evaluation")
    assert set(value.lists) == LISTS and set(value.modelled_customers) == LISTS
    baselines = {n: value.lists[n]["map_at_k"] for n in BASELINES}
    strongest = max(baselines, key=baselines.get)
    assert value.gate.strongest_baseline == strongest
    served = value.lists["served"]["map_at_k"]
    assert value.gate.lift == pytest.approx(served / baselines[strongest])
    gate = _gate(evaluated)
    assert f"strongest baseline {strongest}" in gate.metadata["reasons"].value
    assert gate.passed == value.gate.passed and evaluated.success  # a failed gate is a failed check, not a failed run
    low, high = value.gate.lift_interval
    assert low <= value.gate.lift <= high and "95 % CI" in metadata(evaluated, "evaluation")["lift_interval_95"]
    assert value.test_buyers >= value.modelled_buyers > 0  # every buyer, and the two-tower's own


def test_candidate_recall_and_the_ranker_report_are_in_the_metadata(staged_pipeline):
    staged = staged_pipeline["staged"]
    candidates = metadata(staged, "candidates")
    assert "| test |" in candidates["candidate_recall"] and "| validation |" in candidates["candidate_recall"]
    recall = staged.output_for_node("candidate_generation", "candidates").recall["test"]
    assert 0 < recall["union"] <= 1 and recall["union"] >= max(recall[s] for s in ("history", "retrieval"))
    ranker = metadata(staged, "ranker")
    assert "| feature |" in ranker["feature_importance"] and "| lightgbm |" in ranker["search"]
    assert "| merlin |" in ranker["search"]  # both kinds fitted, the better kept
    assert 0 < ranker["holdout_map_at_12"] <= 1


def test_reclist_report_and_side_by_side_tables(evaluated):
    value = evaluated.output_for_node("evaluation")
    reports = sorted(Path(value.report_uri).glob("PurchaseRecList/*/*/results/report.json"))
    assert {r.parts[-4] for r in reports} == LISTS
    names = {t["name"] for t in json.loads(reports[0].read_text())["data"]}
    assert {"recall_at_k", "map_at_k", "less_wrong", "latent_diversity", "mred", "miss_rate_by_age_band"} <= names
    meta = metadata(evaluated, "evaluation")
    header = meta["metrics_every_test_buyer"].splitlines()[0]
    assert all(name in header for name in LISTS) and "(strongest baseline)" in header
    assert "| map@12 |" in meta["metrics_modelled_customers"]
    assert meta["plots"].count("data:image/png;base64,") == 4  # one grouped chart per slice family


def test_a_failed_gate_keeps_the_approved_live_version(staged_pipeline, evaluated, tmp_path):
    p = staged_pipeline
    served = SQLiteCache(path=str(tmp_path / "served.sqlite"))
    served.publish("good-version", [Recommendation("u", [1], [1.0])], [1], "rankers/approved-earlier")
    bar = PromotionPolicy(min_relative_lift=100.0)  # a bar no list can clear
    result = materialize(all_assets(), selection=["evaluation", "recommendations", "served_recommendations"],
                         resources={**p["resources"], "cache": served, "promotion": bar},
                         instance=p["instance"], raise_on_error=False)
    gate = _gate(result)
    assert not gate.passed and result.success  # the failed check stays visible; the run itself succeeds
    assert "map_at_k: served" in gate.metadata["reasons"].value
    materialized = {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}
    assert "recommendations" not in materialized and "served_recommendations" not in materialized
    assert served.current_version() == "good-version"  # what is served stays as it is


def test_a_failed_gate_with_nothing_approved_live_serves_the_strongest_baseline(staged_pipeline, evaluated, tmp_path):
    from fastapi.testclient import TestClient

    from recs_service.api import create_app
    from recs_service.caches import SQLiteCache as PlainCache

    p = staged_pipeline
    path = tmp_path / "fresh.sqlite"
    bar = PromotionPolicy(min_relative_lift=5.0, serve_clearly_better=False)
    result = materialize(all_assets(), selection=["evaluation", "recommendations", "served_recommendations"],
                         resources={**p["resources"], "cache": SQLiteCache(path=str(path)), "promotion": bar},
                         instance=p["instance"], raise_on_error=False)
    assert result.success and not _gate(result).passed
    value = result.output_for_node("evaluation")
    strongest = value.gate.strongest_baseline
    recs = result.output_for_node("recommendations")
    assert recs.list_name == strongest and recs.model_version.startswith(f"baseline:{strongest}:")
    assert "failed the promotion gate" in recs.why and "nothing approved was live" in recs.why
    log = p["resources"]["warehouse"].query("select count(distinct customer_id) as n from marts.transactions_dedup")
    assert recs.users == int(log["n"].iloc[0])  # every customer with a purchase has a list
    customer = p["resources"]["warehouse"].query("select min(customer_id) as c from marts.transactions_dedup")["c"].iloc[0]
    client = TestClient(create_app(PlainCache(path=str(path))))
    body = client.get(f"/recommendations/{customer}").json()
    assert body["fallback"] is False and len(body["items"]) == 12 and body["list"] == f"baseline {strongest}"
    assert client.get("/health").json()["list"] == f"baseline {strongest}"


def test_a_failed_gate_serves_the_ranker_when_it_beats_the_baseline_beyond_doubt(staged_pipeline, evaluated, tmp_path):
    p = staged_pipeline
    bar = PromotionPolicy(min_relative_lift=5.0)  # serve_clearly_better is the default
    result = materialize(all_assets(), selection=["evaluation", "recommendations", "served_recommendations"],
                         resources={**p["resources"], "cache": SQLiteCache(path=str(tmp_path / "c.sqlite")),
                                    "promotion": bar},
                         instance=p["instance"], raise_on_error=False)
    assert result.success and not _gate(result).passed
    gate = result.output_for_node("evaluation").gate
    recs = result.output_for_node("recommendations")
    if gate.lift_interval[0] > 1:  # the data decides which list is the better one; both outcomes are pinned
        assert recs.list_name == "ranker" and recs.model_version.startswith("unapproved:")
        assert "beats" in recs.why and "beyond doubt" in recs.why
        assert recs.baseline_name == gate.strongest_baseline
    else:
        assert recs.list_name == gate.strongest_baseline and recs.model_version.startswith("baseline:")


def test_a_model_trained_on_other_features_is_refused():
    from recs_assets.artifacts import ModelRef, WorkflowRef, features_mismatch

    model = ModelRef(features="a", partition="p", uri="")
    assert features_mismatch(model, WorkflowRef(fingerprint="a", uri="", fit_rows=1)) is None
    reason = features_mismatch(model, WorkflowRef(fingerprint="b", uri="", fit_rows=1))
    assert "models/a/p was trained on features workflows/a" in reason and "current features are workflows/b" in reason
