"""Evaluation pieces on hand-made inputs: slices, MRED, embedding tests, baseline, the gate."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recs_assets.evaluation.gate import promotion_decision
from recs_assets.evaluation.slices import latent_diversity, less_wrong, mred, miss_rates, pair_misses


def test_pair_misses_and_mred_hand_computed():
    recommended = pd.DataFrame({"customer_id": ["a", "b"], "items": [[1, 2], [3, 4]]})
    truth = pd.DataFrame({
        "customer_id": ["a", "a", "b", "b"], "article_id": [1, 5, 3, 4], "band": ["young", "young", "old", "old"],
    })
    pairs = pair_misses(recommended, truth, k=2)
    assert pairs["miss"].tolist() == [False, True, False, False]
    assert miss_rates(pairs, "band") == {"old": 0.0, "young": 0.5}
    assert mred(pairs, "band") == pytest.approx((abs(0 - 0.25) + abs(0.5 - 0.25)) / 2)
    assert pair_misses(recommended, truth, k=1)["miss"].tolist() == [False, True, False, True]


def test_less_wrong_and_latent_diversity():
    emb = {1: np.array([1.0, 0.0]), 2: np.array([0.0, 1.0]), 3: np.array([1.0, 1.0])}
    # top item 1, bought items 2 and 3: closest is 3 at cos 45° ≈ 0.7071
    assert less_wrong(np.array([1]), [[2, 3]], emb) == pytest.approx(np.sqrt(0.5))
    assert latent_diversity([[1, 2]], emb) == pytest.approx(1.0)  # orthogonal: distance 1
    assert latent_diversity([[1, 1]], emb) == pytest.approx(0.0)
    assert np.isnan(less_wrong(np.array([9]), [[2]], emb))  # unknown items are skipped


def _loop_reference(lists, truth, top1, missed_truth, emb, popularity, k):
    """The per-user loops these functions replaced (the oracle for the vectorised ones)."""
    unit = {i: v / (np.linalg.norm(v) or 1) for i, v in emb.items()}
    top = {c: set(items[:k]) for c, items in zip(lists["customer_id"], lists["items"])}
    misses = [a not in top.get(c, set()) for c, a in zip(truth["customer_id"], truth["article_id"])]
    wrong = [max(unit[b] @ unit[f] for b in bought if b in unit) for f, bought in zip(top1, missed_truth)
             if f in unit and any(b in unit for b in bought)]
    diverse = []
    for items in lists["items"]:
        vecs = [unit[i] for i in items if i in unit]
        if len(vecs) >= 2:
            sims = np.vstack(vecs) @ np.vstack(vecs).T
            diverse.append(1 - (sims.sum() - len(vecs)) / (len(vecs) * (len(vecs) - 1)))
    per_user = [np.mean([popularity.get(i, 0) for i in items[:k]]) for items in lists["items"]]
    bought = truth.groupby("customer_id")["article_id"].agg(set).to_dict()
    return misses, np.mean(wrong), np.mean(diverse), np.mean(per_user) / np.mean(list(popularity.values())), bought


def test_vectorised_slices_equal_the_per_user_loops():
    from recs_assets.core.metrics import popularity_bias_at_k
    from recs_assets.core.metrics import bought_sets

    rng = np.random.default_rng(3)
    customers = [f"c{i}" for i in range(300)]
    lists = pd.DataFrame({"customer_id": customers,  # ragged lists, repeats, items without embeddings
                          "items": [list(rng.integers(0, 60, rng.integers(1, 15))) for _ in customers]})
    truth = pd.DataFrame({"customer_id": rng.choice(customers + ["new"], 900),
                          "article_id": rng.integers(0, 60, 900)})
    emb = {i: rng.normal(size=4).astype(np.float32) for i in range(50)}
    emb[7] = np.zeros(4, dtype=np.float32)  # a zero vector stays zero
    popularity = {i: int(rng.integers(0, 100)) for i in range(55)}
    top1 = rng.integers(0, 60, 200)
    missed_truth = [list(rng.integers(0, 60, rng.integers(0, 5))) for _ in top1]
    misses, wrong, diverse, bias, bought = _loop_reference(lists, truth, top1, missed_truth, emb, popularity, 12)
    assert pair_misses(lists, truth, 12)["miss"].tolist() == misses
    assert less_wrong(top1, missed_truth, emb) == pytest.approx(wrong, rel=1e-5)
    assert latent_diversity(lists["items"].tolist(), emb, batch=64) == pytest.approx(diverse, rel=1e-5)
    assert popularity_bias_at_k(lists["items"].tolist(), popularity, 12) == pytest.approx(bias)
    assert bought_sets(truth) == bought


def test_gate_needs_lift_and_bounded_slices():
    model, base = {"map_at_k": 0.21}, {"popularity": {"map_at_k": 0.20}}
    bounds = {"age_band": 0.1}
    assert not promotion_decision(model, base, {"age_band": 0.05}, "map_at_k", 0.10, bounds).passed
    ok = promotion_decision(model, base, {"age_band": 0.05, "other": 0.9}, "map_at_k", 0.04, bounds)
    assert ok.passed and any("not gated" in r for r in ok.reasons)
    skewed = promotion_decision(model, base, {"age_band": 0.2}, "map_at_k", 0.0, bounds)
    assert not skewed.passed and skewed.reasons == ["MRED age_band: 0.2000 (bound 0.1000)"]


@pytest.mark.parametrize("position", [0, 1, 2])
def test_a_nan_baseline_in_any_position_fails_the_gate(position):
    names = ["als", "popularity", "repurchase"]
    base = {n: {"map_at_k": 0.1} for n in names}
    base[names[position]]["map_at_k"] = float("nan")
    decision = promotion_decision({"map_at_k": 0.5}, base, {}, "map_at_k", 0.1, {})
    assert not decision.passed and names[position] in decision.reasons[0]
    assert not promotion_decision({"map_at_k": float("nan")}, {"b": {"map_at_k": 0.1}}, {}, "map_at_k", 0.1, {}).passed


def test_the_ranked_list_must_not_lose_to_its_own_input():
    base = {"popularity": {"map_at_k": 0.10}}
    beaten = promotion_decision({"map_at_k": 0.30}, base, {}, "map_at_k", 0.1, {}, inputs={"two_tower": {"map_at_k": 0.31}})
    assert not beaten.passed and "two_tower" in beaten.reasons[0]
    assert promotion_decision({"map_at_k": 0.30}, base, {}, "map_at_k", 0.1, {}, inputs={"two_tower": {"map_at_k": 0.30}}).passed
    with pytest.raises(ValueError, match="negative"):
        promotion_decision({"map_at_k": 0.30}, base, {}, "map_at_k", -0.1, {})


def test_the_interval_is_required_above_one_only_by_policy():
    base = {"popularity": {"map_at_k": 0.10}}
    args = ({"map_at_k": 0.30}, base, {}, "map_at_k", 0.1, {})
    assert promotion_decision(*args, interval=(0.95, 4.0)).passed
    refused = promotion_decision(*args, interval=(0.95, 4.0), require_interval_above_one=True)
    assert not refused.passed and "lower bound" in refused.reasons[0]
    assert promotion_decision(*args, interval=(1.2, 4.0), require_interval_above_one=True).passed


def test_mred_leaves_out_slices_too_small_to_judge():
    pairs = pd.DataFrame({"band": ["a"] * 4 + ["b"], "miss": [False, False, True, True, True]})
    assert mred(pairs, "band", min_pairs=1) == pytest.approx((abs(0.5 - 0.6) + abs(1.0 - 0.6)) / 2)
    assert mred(pairs, "band", min_pairs=2) == pytest.approx(abs(0.5 - 0.6))
    assert np.isnan(mred(pairs, "band", min_pairs=10))
    decision = promotion_decision({"m": 1.0}, {"b": {"m": 0.5}}, {"band": float("nan")}, "m", 0.0, {"band": 0.1})
    assert decision.passed and "no slice large enough" in decision.reasons[-1]


def test_item_popularity_mred_leaves_out_articles_no_list_could_hold():
    """Articles first sold in the held-out week ('new') were unknown when the lists were made: their
    misses must not count against the model (they made MRED 0.25 here where every known slice is equal)."""
    import pandas as pd

    pairs = pd.DataFrame({"item_popularity": ["q1", "q1", "q2", "q2", "new", "new"],
                          "miss": [True, False, True, False, True, True]})
    assert mred(pairs, "item_popularity") == pytest.approx(0.0)
    assert miss_rates(pairs, "item_popularity")["new"] == 1.0  # still reported


def test_reclist_keeps_its_table_in_the_report_not_on_stdout(tmp_path, capsys):
    from recs_assets.evaluation.scoring import truth_with_slices
    from recs_assets.evaluation.suite import EvaluationData, PurchaseRecList

    bought = pd.DataFrame({"customer_id": ["a", "a", "b"], "article_id": [1, 2, 3], "age": [30, 30, None],
                           "product_group_name": ["x", "y", "x"]})
    popularity = pd.Series({1: 5, 2: 1, 3: 2, 4: 9})
    truth = truth_with_slices(bought, pd.Series({"a": 3}), popularity)
    lists = pd.DataFrame({"customer_id": ["a", "b"], "items": [[1, 4], [4, 3]], "scores": [[2.0, 1.0], [2.0, 1.0]]})
    suite = PurchaseRecList(EvaluationData(lists, truth, 4, popularity.to_dict(), k=2, min_slice_pairs=1), "m", tmp_path)
    suite()
    assert capsys.readouterr().out == ""
    table = (suite.report_dir / "results" / "table.txt").read_text()
    assert "map_at_k" in table and "mred" in table
    assert suite.results()["hit_rate_at_k"] == 1.0  # a's list holds 1, b's holds 3


def test_map_interval_pairs_the_same_buyers_and_matches_the_reported_map():
    from recs_assets.evaluation.comparison import accuracy, map_interval

    truth = pd.DataFrame({"customer_id": ["a", "a", "b", "c"], "article_id": [1, 2, 3, 4]})
    good = pd.DataFrame({"customer_id": ["c", "b", "a", "z"], "items": [[4, 9], [9, 3], [1, 2], [1, 1]]})
    poor = pd.DataFrame({"customer_id": ["a", "b", "c"], "items": [[9, 1], [9, 8], [4, 9]]})
    interval = map_interval(good, poor, truth, k=2, resamples=200)
    assert interval.n_users == 3  # the buyers of the week only, whatever else the lists hold
    assert interval.ratio == pytest.approx(accuracy(good, truth, 2)["map_at_k"] / accuracy(poor, truth, 2)["map_at_k"])
    assert interval.ratio_low <= interval.ratio <= interval.ratio_high
