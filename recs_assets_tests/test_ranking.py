"""Ranking features without leakage, the ranker on planted data, lists, baselines and the gate."""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from recs_assets.candidates.generators import sql_candidates
from recs_assets.candidates.pool import union
from recs_assets.baselines.lists import als, als_unseen, repurchase_then_popular
from recs_assets.candidates.generators import popular_before
from recs_assets.evaluation.gate import promotion_decision, strongest
from recs_assets.ranking.features import FEATURES, candidate_features, with_labels
from recs_assets.core.lists import top_lists
from recs_assets.ranking.rankers import load_ranker
from recs_assets.ranking.training import fit_ranker, holdout_mask, input_order, permutation_importance
from recs_assets_tests.test_candidates import make_log

CUTOFF = date(2020, 1, 10)


def _features(log, cutoff) -> pd.DataFrame:
    pool = union(sql_candidates(log, pd.Series(["a", "b"]), cutoff))
    return candidate_features(log, pool, cutoff).set_index(["customer_id", "article_id"])[FEATURES]


def test_features_use_nothing_on_or_after_the_cutoff():
    rows = [("a", 1, "2020-01-01"), ("a", 1, "2020-01-06"), ("a", 2, "2020-01-09"), ("b", 2, "2020-01-03"),
            ("b", 3, "2020-01-09")]
    week = [("a", 1, "2020-01-10"), ("b", 1, "2020-01-10"), ("a", 3, "2020-01-12"), ("b", 2, "2020-01-16")]
    before = _features(make_log(rows), CUTOFF)
    with_week = _features(make_log(rows + week), CUTOFF)  # the label week's purchases added
    pd.testing.assert_frame_equal(before, with_week.loc[before.index])
    # the guard really looks at the day: one day later, the label day's purchases show up
    later = _features(make_log(rows + week), CUTOFF + timedelta(days=1))
    assert later.loc[("a", 1), "ui_count"] == 3 and before.loc[("a", 1), "ui_count"] == 2
    assert later.loc[("a", 1), "pop_1w"] > before.loc[("a", 1), "pop_1w"]


def test_feature_values_hand_computed():
    log = make_log([("a", 1, "2020-01-01"), ("a", 1, "2020-01-07"), ("a", 2, "2020-01-09"), ("b", 1, "2020-01-09")])
    f = _features(log, CUTOFF)
    row = f.loc[("a", 1)]
    assert row["ui_count"] == 2 and row["ui_days_since"] == 3 and row["ui_interval"] == 6
    assert row["ui_cycle"] == pytest.approx(0.5) and row["pop_1w"] == 2 and row["item_buyers"] == 2
    assert row["item_repeat_rate"] == pytest.approx(0.5)  # a re-bought 1, b did not
    assert row["c_count"] == 3 and row["c_distinct"] == 2 and row["history_rank"] == 1


def test_candidates_of_a_customer_the_purchase_log_does_not_know_are_named():
    log = make_log([("a", 1, "2020-01-01"), ("b", 2, "2020-01-03"), ("c", 2, "2020-01-04")])
    pool = union(sql_candidates(log, pd.Series(["a", "b"]), CUTOFF))
    assert set(candidate_features(log, pool, CUTOFF)["customer_id"]) == {"a", "b"}
    stranger = pool.head(1).assign(customer_id="nobody")
    with pytest.raises(ValueError, match="1 customer.*not in the purchase log.*nobody"):
        candidate_features(log, pd.concat([pool, stranger], ignore_index=True), CUTOFF)


def _planted(seed: int, windows: int = 4, customers: int = 200, per: int = 30) -> dict[str, pd.DataFrame]:
    """Candidates whose sources' order is noise; what is bought is the one with the highest pop_trend."""
    rng = np.random.default_rng(seed)
    out = {}
    for w in range(windows):
        n = customers * per
        frame = pd.DataFrame(np.nan, index=range(n), columns=FEATURES, dtype="float32")
        frame.insert(0, "customer_id", np.repeat([f"c{i}" for i in range(customers)], per))
        frame.insert(1, "article_id", np.tile(np.arange(per), customers))
        frame["history_rank"] = np.tile(np.arange(1, per + 1), customers).astype("float32")  # uninformative
        frame["pop_trend"] = rng.random(n).astype("float32")
        frame["c_count"] = rng.random(n).astype("float32")
        best = frame.groupby("customer_id")["pop_trend"].transform("max") == frame["pop_trend"]
        out[f"fit_{w}" if w < windows - 1 else "validation"] = frame.assign(label=best.astype("int8"))
    return out


def test_ranker_learns_what_the_input_order_misses(tmp_path):
    windows = _planted(0)
    truth = windows["validation"].loc[windows["validation"]["label"] == 1, ["customer_id", "article_id"]]
    ranker, report = fit_ranker(windows, "validation", truth, fallback=[], kinds=["lightgbm"],
                                search={"lightgbm": [{"num_leaves": 7, "n_estimators": 60}]}, k=12)
    assert report.input_order_map < 0.2  # the planted item sits at a random place in the input order
    assert report.holdout_map > 0.9 and report.holdout_customers > 20
    assert next(iter(ranker.importance())) == "pop_trend" == next(iter(report.importance))
    frame = windows["validation"]
    drops = permutation_importance(ranker, frame, frame.loc[frame["label"] == 1], [], 12)
    assert next(iter(drops)) == "article" and drops["article"] > 0.5  # pop_trend is an article feature
    assert abs(drops["customer"]) < 0.05
    ranker.save(tmp_path)
    frame = windows["validation"]
    np.testing.assert_allclose(load_ranker(tmp_path).score(frame), ranker.score(frame), rtol=1e-6)


def test_the_compiled_ranker_scores_as_lightgbm_does_and_falls_back_without_a_compiler(tmp_path, monkeypatch):
    from recs_assets.ranking.rankers import LightGBMRanker

    rng = np.random.default_rng(5)
    windows = _planted(1)
    for frame in windows.values():  # features with missing values, so splits send NaNs both ways
        for column in ("ui_days_since", "item_price", "age", "c_days_since"):
            values = (rng.random(len(frame)) * 100).astype("float32")
            values[rng.random(len(frame)) < 0.3] = np.nan
            frame[column] = values
        frame["label"] = ((frame["pop_trend"] + 0.4 * rng.random(len(frame)) > 1.0)
                          | (frame["item_price"] < 10)).astype("int8")
    train = pd.concat([f.assign(window=n) for n, f in windows.items() if n != "validation"], ignore_index=True)
    valid = windows["validation"].assign(window="validation")
    LightGBMRanker({"num_leaves": 15, "n_estimators": 60, "min_child_samples": 5}).fit(train, valid).save(tmp_path)
    frame = valid.sample(frac=1.0, random_state=0)  # any row order

    plain = load_ranker(tmp_path, compile_min_rows=10**9)
    expected = plain.score(frame)
    assert plain.engine == "lightgbm" and plain.booster.num_trees() > 10 and np.std(expected) > 0.1
    compiled = load_ranker(tmp_path, compile_min_rows=len(frame))
    np.testing.assert_allclose(compiled.score(frame), expected, rtol=1e-6, atol=1e-9)
    assert compiled.engine == "compiled (treelite)"
    np.testing.assert_allclose(compiled.score(frame.head(7)), expected[:7], rtol=1e-6, atol=1e-9)

    monkeypatch.setenv("CC", str(tmp_path / "no-such-compiler"))
    fallback = load_ranker(tmp_path, compile_min_rows=0)
    np.testing.assert_allclose(fallback.score(frame), expected, rtol=1e-12)
    assert fallback.engine.startswith("lightgbm (compile failed: ") and "no-such-compiler" in fallback.engine


def test_holdout_is_deterministic_and_about_the_share():
    customers = pd.Series([f"c{i}" for i in range(2000)])
    mask = holdout_mask(customers, 0.25)
    assert 0.2 < mask.mean() < 0.3
    np.testing.assert_array_equal(mask, holdout_mask(customers.sample(frac=1, random_state=1).sort_index(), 0.25))


def test_input_order_puts_history_before_retrieval_before_popularity():
    frame = pd.DataFrame({f"{s}_rank": [np.nan] * 3 for s in
                          ("history", "retrieval", "als", "copurchase", "popularity_age", "popularity")})
    frame.loc[0, "popularity_rank"] = 1
    frame.loc[1, ["retrieval_rank", "popularity_rank"]] = [5, 2]
    frame.loc[2, "history_rank"] = 9
    assert np.argsort(-input_order(frame)).tolist() == [2, 1, 0]


def test_top_lists_fill_every_customer_and_keep_scores_descending():
    pairs = pd.DataFrame({"customer_id": ["a", "a", "a", "b"], "article_id": [1, 2, 3, 4]})
    lists = top_lists(pairs, [0.1, 0.9, 0.5, 0.3], 3, customers=["a", "b", "new"], fallback=[2, 7, 8])
    got = lists.set_index("customer_id")
    assert got.loc["a", "items"] == [2, 3, 1]
    assert got.loc["b", "items"] == [4, 2, 7]  # topped up with the fallback
    assert got.loc["new", "items"] == [2, 7, 8]
    assert all(s == sorted(s, reverse=True) for s in got["scores"])


def test_repurchase_then_popular_and_als_on_hand_made_purchases():
    rows = [("a", 1, "2020-01-01"), ("a", 1, "2020-01-02"), ("a", 2, "2020-01-08"), ("b", 3, "2020-01-08"),
            ("b", 3, "2020-01-09"), ("c", 3, "2020-01-09"), ("c", 2, "2020-01-05")]
    log = make_log(rows)
    assert popular_before(log, CUTOFF, 2) == [3, 2]
    lists = repurchase_then_popular(log, ["a", "new"], CUTOFF, 3).set_index("customer_id")["items"]
    assert lists["a"] == [1, 2, 3] and lists["new"] == [3, 2]
    unseen = als_unseen(log, ["a", "b", "new"], CUTOFF, 2, factors=4, iterations=5).set_index("customer_id")["items"]
    assert 1 not in unseen["a"] and 2 not in unseen["a"]  # what a bought is hidden
    assert unseen["new"] == [3, 2]
    seen = als(log, ["a", "new"], CUTOFF, 3, factors=4, regularization=0.01, iterations=15).set_index("customer_id")["items"]
    assert set(seen["a"][:2]) == {1, 2} and seen["new"] == [3, 2]  # without the filter a's own articles come first


def test_gate_compares_with_the_strongest_baseline():
    baselines = {"popularity": {"map_at_k": 0.05}, "repurchase": {"map_at_k": 0.20}, "als": {"map_at_k": 0.10}}
    assert strongest(baselines, "map_at_k") == "repurchase"
    ok = promotion_decision({"map_at_k": 0.23}, baselines, {}, "map_at_k", 0.1, {})
    assert ok.passed and ok.strongest_baseline == "repurchase"
    beats_popularity_only = promotion_decision({"map_at_k": 0.15}, baselines, {}, "map_at_k", 0.1, {})
    assert not beats_popularity_only.passed and "strongest baseline repurchase 0.2000" in beats_popularity_only.reasons[0]
    zero = {"popularity": {"map_at_k": 0.0}}
    assert not promotion_decision({"map_at_k": 0.0}, zero, {}, "map_at_k", 0.1, {}).passed
    assert promotion_decision({"map_at_k": 0.01}, zero, {}, "map_at_k", 0.1, {}).passed
    lower = {"x": {"popularity_bias_at_k": 2.0}, "y": {"popularity_bias_at_k": 4.0}}
    assert strongest(lower, "popularity_bias_at_k") == "x"
    assert promotion_decision({"popularity_bias_at_k": 1.5}, lower, {}, "popularity_bias_at_k", 0.1, {}).passed
    assert not promotion_decision({"popularity_bias_at_k": 1.9}, lower, {}, "popularity_bias_at_k", 0.1, {}).passed


def _fitted_ranker(test_start: str, pool: str | None = None):
    """The RankerRef the ranker asset writes after fitting on a pool cut at ``test_start`` (validation,
    data, model and every setting fixed); ``pool``: that pool's key as a stored value gives it."""
    from recs_assets.artifacts import CandidatesRef, ModelRef, RankerRef, ranker_key
    from recs_assets.candidates.assets import CandidatesConfig, pool_key
    from recs_assets.candidates.windows import cutoffs
    from recs_assets.ranking.assets import RankerConfig, ranker_settings

    model = ModelRef(features="x", partition="p", uri="")
    cuts = cutoffs("2020-09-08", test_start, "2020-09-21", fit_weeks=5)
    candidates = CandidatesRef(key=pool or pool_key("data", CandidatesConfig(), {}, cuts, model), uri="",
                               windows={name: day.isoformat() for name, day in cuts.all().items()},
                               label_days=cuts.label_days, recall={}, model=model, parts={})
    return RankerRef(key=ranker_key(candidates, "lightgbm", ranker_settings(RankerConfig(), candidates)), uri="",
                     kind="lightgbm", params={}, candidates_key=candidates.key, holdout_map=0.2, input_order_map=0.1)


def test_an_evaluation_approves_no_ranker_fitted_at_other_cut_offs():
    """What is served needs ``evaluation.approves(ranker)``, bound to the ranker's key: a ranker refitted
    after test_start moved alone (same purchases, model and settings) must not pass on the old verdict."""
    from recs_assets.artifacts import EvaluationRef, Gate

    def passed(ranker):
        return EvaluationRef(lists={}, modelled_customers={}, mred={}, slices={}, candidate_recall={},
                             gate=Gate(True, [], "popularity", 1.5), k=12, ranker_key=ranker.key, model_key="m",
                             report_uri="", test_buyers=1, modelled_buyers=1)

    evaluation = passed(_fitted_ranker("2020-09-15"))
    assert evaluation.approves(_fitted_ranker("2020-09-15")) is None  # the same weeks refitted: still approved
    refused = evaluation.approves(_fitted_ranker("2020-09-16"))
    assert refused is not None and "has not passed the promotion gate" in refused
    # A pool stored by earlier code has no days in its key, so it keeps it when test_start moves; the
    # ranker's own key still tells the weeks apart.
    stored = "candidates/data-1234abcd-models_x_p"
    on_stored = passed(_fitted_ranker("2020-09-15", pool=stored))
    assert on_stored.approves(_fitted_ranker("2020-09-15", pool=stored)) is None
    assert on_stored.approves(_fitted_ranker("2020-09-16", pool=stored)) is not None


def test_labels_mark_the_bought_pairs():
    features = pd.DataFrame({"customer_id": ["a", "a"], "article_id": [1, 2]})
    labelled = with_labels(features, pd.DataFrame({"customer_id": ["a", "a"], "article_id": [2, 2]}))
    assert labelled["label"].tolist() == [0, 1]


@pytest.mark.slow
def test_merlin_ranker_learns_the_planted_signal_and_reloads(tmp_path):
    windows = _planted(1, windows=2, customers=120, per=20)
    truth = windows["validation"].loc[windows["validation"]["label"] == 1, ["customer_id", "article_id"]]
    ranker, report = fit_ranker(windows, "validation", truth, fallback=[], kinds=["merlin"],
                                search={"merlin": [{"epochs": 4, "batch_size": 512, "learning_rate": 0.01}]}, k=12)
    assert report.holdout_map > report.input_order_map + 0.2
    assert report.importance_kind.startswith("holdout MAP drop") and next(iter(report.importance)) == "article"
    ranker.save(tmp_path)
    frame = windows["validation"].head(500)
    np.testing.assert_allclose(load_ranker(tmp_path).score(frame), ranker.score(frame), rtol=1e-5, atol=1e-6)
