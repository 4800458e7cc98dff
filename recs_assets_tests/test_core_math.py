"""Top-k and ranking metrics against brute force and hand-computed cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from recs_assets.core.metrics import ndcg_at_k, recall_at_k
from recs_assets.core.topk import top_k


def test_top_k_matches_brute_force_on_random_embeddings():
    rng = np.random.default_rng(0)
    queries, items = rng.normal(size=(1000, 16)), rng.normal(size=(300, 16))
    indices, scores = top_k(queries, items, k=10, block_size=128)
    brute = np.argsort(-(queries @ items.T), axis=1, kind="stable")[:, :10]
    np.testing.assert_array_equal(indices, brute)
    np.testing.assert_allclose(scores, np.take_along_axis(queries @ items.T, brute, axis=1), rtol=1e-5)


def test_top_k_breaks_ties_by_lower_index_and_caps_k():
    queries = np.array([[1.0, 0.0]])
    items = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    indices, _ = top_k(queries, items, k=5)
    assert indices.tolist() == [[0, 2, 1]]


def test_top_k_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="shapes do not match"):
        top_k(np.ones((2, 3)), np.ones((4, 5)), k=2)


def test_recall_with_several_true_items_and_empty_users():
    recommended = np.array([[1, 2, 3], [4, 5, 6], [7, 8, 9]])
    relevant = [{2, 10}, set(), {9, 7, 11, 12}]  # the empty user is skipped
    # user 1: 1 of 2 found; user 3: 2 of 4 found
    assert recall_at_k(recommended, relevant, k=3) == pytest.approx((1 / 2 + 2 / 4) / 2)
    assert recall_at_k(recommended, relevant, k=1) == pytest.approx((0 + 1 / 4) / 2)


def test_ndcg_hand_computed():
    recommended = np.array([[1, 2, 3]])
    # hit at rank 2 only: DCG = 1/log2(3); IDCG with 2 relevant items = 1 + 1/log2(3)
    expected = (1 / math.log2(3)) / (1 + 1 / math.log2(3))
    assert ndcg_at_k(recommended, [{2, 99}], k=3) == pytest.approx(expected)
    assert ndcg_at_k(np.array([[5, 6]]), [{5, 6}], k=2) == pytest.approx(1.0)


def test_metrics_without_any_relevant_items_are_nan():
    assert math.isnan(recall_at_k(np.array([[1]]), [set()], k=1))


def test_map_at_k_follows_the_kaggle_definition():
    from recs_assets.core.metrics import map_at_k

    # hits at ranks 1 and 3 of 3 relevant: AP = (1/1 + 2/3) / min(3, k=4)
    assert map_at_k(np.array([[1, 9, 2, 8]]), [{1, 2, 3}], k=4) == pytest.approx((1 + 2 / 3) / 3)
    # more relevant than k: divide by k
    assert map_at_k(np.array([[1, 2]]), [{1, 2, 3, 4}], k=2) == pytest.approx(1.0)
    assert map_at_k(np.array([[7, 8]]), [{1}], k=2) == 0.0


def test_map_at_k_counts_a_repeated_item_once():
    """[1, 1, 1] against {1, 2}: one hit at rank 1, AP = 1/2 (counting every repeat gave 1.5)."""
    from recs_assets.core.metrics import average_precisions, map_at_k

    assert map_at_k(np.array([[1, 1, 1]]), [{1, 2}], k=3) == pytest.approx(0.5)
    assert map_at_k(np.array([[1, 1, 2]]), [{1, 2}], k=3) == pytest.approx((1 + 2 / 3) / 2)
    assert average_precisions(np.array([[1, 9], [7, 8], [5, 5]]), [{1}, set(), {8}], k=2).tolist() == [1.0, 0.0]


def test_hit_rate_mrr_coverage_and_popularity_bias():
    from recs_assets.core.metrics import coverage_at_k, hit_rate_at_k, mrr_at_k, popularity_bias_at_k

    recs = np.array([[1, 2, 3], [4, 5, 6]])
    relevant = [{3}, {7}]
    assert hit_rate_at_k(recs, relevant, k=3) == 0.5
    assert mrr_at_k(recs, relevant, k=3) == pytest.approx((1 / 3 + 0) / 2)
    assert mrr_at_k(recs, relevant, k=2) == 0.0
    assert coverage_at_k(recs, catalogue_size=12, k=2) == pytest.approx(4 / 12)
    popularity = {1: 10, 2: 10, 3: 10, 4: 0, 5: 0, 6: 0}  # catalogue mean 5
    assert popularity_bias_at_k(recs, popularity, k=3) == pytest.approx(((10 + 0) / 2) / 5)


def test_top_k_excludes_given_items_per_query():
    queries = np.array([[1.0], [1.0]])
    items = np.array([[3.0], [2.0], [1.0]])
    indices, scores = top_k(queries, items, k=2, exclude=[np.array([0]), np.array([], dtype=int)])
    assert indices.tolist() == [[1, 2], [0, 1]]
    assert scores[0].tolist() == [2.0, 1.0]


def test_faiss_top_k_agrees_with_numpy_including_exclusions():
    from recs_assets.core.topk import top_k_faiss

    rng = np.random.default_rng(4)
    queries, items = rng.normal(size=(500, 8)).astype(np.float32), rng.normal(size=(60, 8)).astype(np.float32)
    exclude = [rng.choice(60, size=rng.integers(0, 10), replace=False) for _ in range(500)]
    ours, our_scores = top_k(queries, items, k=12, exclude=exclude)
    theirs, their_scores = top_k_faiss(queries, items, k=12, block_size=128, exclude=exclude)
    np.testing.assert_array_equal(theirs, ours)
    np.testing.assert_allclose(their_scores, our_scores, rtol=1e-4)


@pytest.mark.parametrize("engine", ["numpy", "faiss"])
def test_excluded_items_never_appear_even_when_few_remain(engine):
    """A customer who bought nearly the whole catalogue: the slots left are empty (-1, -inf), never an
    excluded item (faiss put them back) and never a -inf score on a real item."""
    from recs_assets.core.topk import top_k_faiss

    fn = top_k_faiss if engine == "faiss" else top_k
    queries, items = np.array([[1.0], [1.0]], dtype=np.float32), np.array([[3.0], [2.0], [1.0]], dtype=np.float32)
    indices, scores = fn(queries, items, k=3, exclude=[np.array([0, 1]), np.array([0, 1, 2])])
    assert indices.tolist() == [[2, -1, -1], [-1, -1, -1]]
    assert scores[0, 0] == 1.0 and np.isneginf(scores[0, 1:]).all() and np.isneginf(scores[1]).all()


def test_ties_at_the_cut_off_keep_the_lower_index():
    """Six items tie; k=3 must keep items 0, 1, 2 (argpartition keeps an arbitrary three)."""
    queries = np.ones((50, 1))
    items = np.r_[np.full((6, 1), 1.0), np.full((20, 1), 0.5), np.full((3, 1), 2.0)]
    indices, _ = top_k(queries, items, k=5)
    assert (indices == [26, 27, 28, 0, 1]).all()


def test_ranked_lists_drop_the_empty_slots():
    from recs_assets.retrieval.towers import Ranked

    ranked = Ranked(np.array(["a"]), np.array([[7, 7]]), np.array([[0.5, -np.inf]]), np.array([7]), np.ones((1, 1)))
    assert ranked.lists()["items"].tolist() == [[7]] and ranked.lists()["scores"].tolist() == [[0.5]]
    assert ranked.long()["article_id"].tolist() == [7]
