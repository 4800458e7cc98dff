"""The typed references assets hand each other: keys, the JSON round trip best_model relies on, and
the rules about which artifacts go together."""

import json

import numpy as np
import pytest

from recs_assets.artifacts import (
    CandidatesRef,
    EvaluationRef,
    Gate,
    ModelRef,
    RankerRef,
    SplitRef,
    TrainedModel,
    WorkflowRef,
    candidates_key,
    features_mismatch,
    ranker_key,
    ranker_mismatch,
    weights_fingerprint,
)

MODEL = ModelRef(features="3-abc", partition="lr0.01-bs1024", uri="/store/models/3-abc/lr0.01-bs1024")


def _candidates(key="candidates/p-1234abcd-models_3-abc_lr0.01-bs1024"):
    return CandidatesRef(key=key, uri="", windows={"test": "2020-09-15"}, label_days=7, recall={}, model=MODEL, parts={})


def _ranker(candidates_key="candidates/p-1234abcd-models_3-abc_lr0.01-bs1024"):
    return RankerRef(key="rankers/x/lightgbm-1", uri="", kind="lightgbm", params={}, candidates_key=candidates_key,
                     holdout_map=0.2, input_order_map=0.1)


def test_every_key_derives_from_the_features_fingerprint():
    workflow = WorkflowRef(fingerprint="3-abc", uri="", fit_rows=3)
    split = SplitRef(features="3-abc", split="train", uri="", rows=3)
    assert (workflow.key, split.key) == ("workflows/3-abc", "features/3-abc/train")
    assert (MODEL.key, MODEL.workflow_key) == ("models/3-abc/lr0.01-bs1024", "workflows/3-abc")
    pool = candidates_key("p", "{}", MODEL)
    assert pool.startswith("candidates/p-") and pool.endswith("models_3-abc_lr0.01-bs1024")
    assert ranker_key(_candidates(pool), "lightgbm", "1") == f"rankers/{pool.split('/', 1)[1]}/lightgbm-1"


def test_a_retrained_model_gets_its_own_key_and_one_written_before_weights_keeps_its_old_one():
    weights = [np.arange(6, dtype=np.float32).reshape(2, 3), np.ones(4, dtype=np.float32)]
    first, same = weights_fingerprint(weights), weights_fingerprint([w.copy() for w in weights])
    retrained = weights_fingerprint([weights[0] + np.float32(1e-6), weights[1]])
    reshaped = weights_fingerprint([weights[0].reshape(3, 2), weights[1]])
    assert first == same and len({first, retrained, reshaped}) == 3  # values and shapes decide
    keys = {ModelRef(features="3-abc", partition="p", uri="", weights=w).key for w in (first, retrained)}
    assert keys == {f"models/3-abc/p/{first}", f"models/3-abc/p/{retrained}"}
    assert candidates_key("p", "{}", ModelRef("3-abc", "p", "", first)) != candidates_key(
        "p", "{}", ModelRef("3-abc", "p", "", retrained))  # hence a new pool, ranker and served version
    written_before = TrainedModel(model=MODEL, params={}, seed=1, metrics={}, train_seconds=1,
                                  examples_per_second=1, final_loss=0, wandb="").to_json()
    del written_before["model"]["weights"]  # a summary in a data folder trained before weights were keyed
    assert TrainedModel.from_json(written_before).model.key == "models/3-abc/lr0.01-bs1024"


def test_a_trained_model_survives_the_metadata_json_round_trip():
    trained = TrainedModel(model=MODEL, params={"learning_rate": 0.01}, seed=42, metrics={"recall_at_12": 0.1},
                           train_seconds=1.5, examples_per_second=10.0, final_loss=0.3, wandb="offline")
    back = TrainedModel.from_json(json.loads(json.dumps(trained.to_json())))
    assert back == trained and back.model.key == MODEL.key
    chosen = back.chosen("highest validation recall_at_12", "recall_at_12")
    assert (chosen.reason, chosen.metric, chosen.model) == ("highest validation recall_at_12", "recall_at_12", MODEL)
    with pytest.raises(TypeError):  # a summary written before models were typed is not one
        TrainedModel.from_json({"model_key": "models/a/b", "workflow": "workflows/a", "model": {}})


def test_a_model_is_used_only_with_the_features_it_was_trained_on():
    assert features_mismatch(MODEL, WorkflowRef(fingerprint="3-abc", uri="", fit_rows=3)) is None
    reason = features_mismatch(MODEL, WorkflowRef(fingerprint="4-def", uri="", fit_rows=4))
    assert "trained on features workflows/3-abc" in reason and "current features are workflows/4-def" in reason


def test_a_ranker_scores_only_its_own_pool_and_is_served_only_once_approved():
    assert ranker_mismatch(_ranker(), _candidates()) is None
    assert "materialize ranker first" in ranker_mismatch(_ranker("candidates/older"), _candidates())

    def evaluation(passed, ranker_key="rankers/x/lightgbm-1"):
        return EvaluationRef(lists={}, modelled_customers={}, mred={}, slices={}, candidate_recall={},
                             gate=Gate(passed=passed, reasons=[], strongest_baseline="als", lift=1.1), k=12,
                             ranker_key=ranker_key, model_key=MODEL.key, report_uri="", test_buyers=1, modelled_buyers=1)

    assert evaluation(True).approves(_ranker()) is None
    assert "has not passed the promotion gate" in evaluation(False).approves(_ranker())
    assert "last evaluation: rankers/y" in evaluation(True, "rankers/y").approves(_ranker())


def test_values_pickled_by_the_code_before_tuned_baselines_still_load_and_decide():
    """Asset values the previous code stored (no intervals, no baseline settings, no list name) keep working."""
    import pickle
    from pathlib import Path

    from recs_assets.serving.assets import champion

    saved = pickle.loads((Path(__file__).parent / "fixtures" / "values_before_tuned_baselines.pkl").read_bytes())
    evaluation, recs = saved["evaluation"], saved["recommendations"]
    assert evaluation.approves(_ranker()) is None and evaluation.baseline_settings is None
    assert all(np.isnan(evaluation.gate.lift_interval)) and evaluation.gate.lift == 1.2
    assert recs.list_name == "ranker" and recs.why == ""
    # what the earlier code published is an approved ranker's version: a failing ranker leaves it live
    assert champion(False, recs.model_version, prefer_fresh_baseline=False) == "keep"
    assert champion(False, recs.model_version, prefer_fresh_baseline=True) == "baseline"
    assert champion(False, "baseline:als:abc", prefer_fresh_baseline=False) == "baseline"
    assert champion(False, None, prefer_fresh_baseline=False) == "baseline"
    assert champion(True, "baseline:als:abc", prefer_fresh_baseline=False) == "ranker"


def test_a_ranker_better_beyond_doubt_is_served_when_nothing_approved_is_live():
    from recs_assets.serving.assets import champion

    approved, unapproved, baseline = "ranker-key", "unapproved:ranker-key", "baseline:als:abc"
    for live in (None, baseline, unapproved):  # nothing approved is live: the better list goes out
        assert champion(False, live, prefer_fresh_baseline=False, ranker_clearly_better=True) == "better"
        assert champion(False, live, prefer_fresh_baseline=False, ranker_clearly_better=False) == "baseline"
    # an approved ranker's version stays live over a ranker that failed its gate, however good
    assert champion(False, approved, prefer_fresh_baseline=False, ranker_clearly_better=True) == "keep"
    assert champion(False, approved, prefer_fresh_baseline=True, ranker_clearly_better=True) == "better"
