"""Candidate sources, their union and recall, and the cut-offs, on hand-made purchases."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest

from recs_assets.candidates.generators import SourceSizes, copurchase, history, popularity, sql_candidates
from recs_assets.candidates.pool import candidate_recall, union
from recs_assets.candidates.purchase_log import PurchaseLog
from recs_assets.candidates.windows import cutoffs

CUTOFF = date(2020, 1, 10)


def make_log(rows, ages=None) -> PurchaseLog:
    purchases = pd.DataFrame(rows, columns=["customer_id", "article_id", "t_dat"]).assign(price=1.0, quantity=1)
    articles = pd.DataFrame({"article_id": sorted(purchases["article_id"].unique())}).assign(
        product_type_no=1, colour_group_code=1, index_group_no=1, garment_group_no=1, product_group_name="g")
    customers = pd.DataFrame({"customer_id": sorted(purchases["customer_id"].unique())})
    customers["age"] = customers["customer_id"].map(ages or {}).astype("float")
    return PurchaseLog.from_frames(purchases, articles, customers)


def targets(log: PurchaseLog, *customers: str) -> None:
    log.register("targets", pd.DataFrame({"customer_id": list(customers)}))


def test_history_puts_a_repurchase_first_and_ignores_the_cutoff_day():
    log = make_log([
        ("a", 1, "2020-01-01"), ("a", 1, "2020-01-05"), ("a", 2, "2020-01-08"),
        ("a", 3, "2020-01-10"),  # on the cut-off day: the label week, never a candidate
    ])
    targets(log, "a")
    got = history(log, CUTOFF)
    assert got.sort_values("source_rank")["article_id"].tolist() == [1, 2]  # bought twice beats more recent
    assert got.loc[got["article_id"] == 1, "source_score"].item() == pytest.approx(2 / (1 + 5 / 7))


def test_copurchase_finds_the_pair_bought_by_other_customers():
    log = make_log([
        ("b", 1, "2020-01-02"), ("b", 3, "2020-01-03"),  # b bought 1 and 3
        ("c", 1, "2020-01-02"), ("c", 3, "2020-01-04"), ("c", 4, "2020-01-04"),
        ("d", 1, "2020-01-09"),  # d bought 1: 3 (bought with 1 twice) should lead
        ("e", 5, "2020-01-10"), ("e", 1, "2020-01-10"),  # on the cut-off day: must not create a pair
    ])
    targets(log, "d")
    got = copurchase(log, CUTOFF).sort_values("source_rank")
    assert got["customer_id"].unique().tolist() == ["d"]
    assert got["article_id"].tolist() == [3, 4]
    assert 5 not in got["article_id"].tolist()


def test_popularity_overall_and_by_age_band():
    log = make_log([
        ("old1", 7, "2020-01-08"), ("old2", 7, "2020-01-09"), ("young1", 8, "2020-01-08"),
        ("young2", 9, "2020-01-09"), ("young3", 9, "2020-01-09"), ("x", 9, "2019-12-01"),  # too old to count
    ], ages={"old1": 61, "old2": 65, "young1": 21, "young2": 24, "young3": 22})
    targets(log, "young1", "x")
    got = popularity(log, CUTOFF, SourceSizes(popularity=2))
    overall = got[(got["source"] == "popularity") & (got["customer_id"] == "x")].sort_values("source_rank")
    assert overall["article_id"].tolist() == [7, 9]  # 2 each in the last 7 days; ties to the lower id
    band = got[(got["source"] == "popularity_age")]
    assert band["customer_id"].unique().tolist() == ["young1"]  # x has no age: no age-band list
    assert band.sort_values("source_rank")["article_id"].tolist() == [9, 8]


def test_union_and_recall_hand_computed():
    log = make_log([("a", 1, "2020-01-01"), ("a", 1, "2020-01-02"), ("b", 2, "2020-01-09"), ("a", 2, "2020-01-09")])
    found = sql_candidates(log, pd.Series(["a"]), CUTOFF, SourceSizes(popularity=1))
    pool = union(found)
    assert set(pool["article_id"]) == {1, 2}
    row = pool.set_index("article_id").loc[1]
    # a bought 1 and 2 together: each is the other's co-purchase; 2 is last week's best seller
    assert row["history_rank"] == 1 and row["copurchase_rank"] == 1 and pd.isna(row["popularity_rank"])
    assert row["n_sources"] == 2 and pool.set_index("article_id").loc[2, "popularity_rank"] == 1
    labels = pd.DataFrame({"customer_id": ["a", "a", "zz"], "article_id": [1, 9, 1]})  # zz has no candidates
    recall = candidate_recall(found, labels)
    assert recall["label_pairs"] == 2 and recall["union"] == 0.5 and recall["history"] == 0.5
    assert recall["retrieval"] == 0.0 and recall["candidates_per_customer"] == 2.0


def test_cutoffs_walk_back_weekly_from_validation():
    cuts = cutoffs("2020-09-09", "2020-09-16", "2020-09-22", fit_weeks=2)
    assert cuts.fit == (date(2020, 8, 26), date(2020, 9, 2))
    assert (cuts.validation, cuts.test, cuts.serve, cuts.label_days) == (
        date(2020, 9, 9), date(2020, 9, 16), date(2020, 9, 23), 7)
    with pytest.raises(ValueError, match="out of order"):
        cutoffs("2020-09-16", "2020-09-09", "2020-09-22")


def test_purchase_log_names_a_missing_column():
    with pytest.raises(ValueError, match=r"purchases is missing column\(s\) \['quantity'\]"):
        PurchaseLog.from_frames(pd.DataFrame(columns=["customer_id", "article_id", "t_dat", "price"]),
                                pd.DataFrame(), pd.DataFrame())


def _random_log(customers: int = 60, seed: int = 3) -> PurchaseLog:
    import numpy as np

    rng = np.random.default_rng(seed)
    rows = [(f"c{c:03d}", int(rng.integers(1, 25)), str(date(2020, 1, 1 + int(rng.integers(0, 20)))))
            for c in range(customers) for _ in range(int(rng.integers(2, 8)))]
    return make_log(rows, ages={f"c{c:03d}": 20 + c % 50 for c in range(customers)})


def test_chunks_of_customers_give_the_same_candidates_and_recall_as_one_pass():
    from recs_assets.candidates.pool import recall_counts, recall_from_counts
    from recs_assets.candidates.stage import generate, window_labels, window_targets

    log = _random_log()
    cuts = cutoffs("2020-01-14", "2020-01-17", "2020-01-20", fit_weeks=1)
    everyone = window_targets(log, cuts)
    labels = window_labels(log, cuts)

    def run(chunk):
        out = {}
        for name, _, table in generate(log, cuts, everyone, None, chunk_customers=chunk):
            out.setdefault(name, []).append(log.query(f"select * from {table}"))
        return {name: pd.concat(parts, ignore_index=True) for name, parts in out.items()}, out

    whole, _ = run(10_000)
    chunked, parts = run(7)
    assert len(parts["serve"]) == -(-len(everyone["serve"]) // 7) > 1
    for name in whole:
        key = ["customer_id", "article_id", "source"]
        pd.testing.assert_frame_equal(whole[name].sort_values(key).reset_index(drop=True),
                                      chunked[name].sort_values(key).reset_index(drop=True), obj=name)
    for name in labels:
        one = candidate_recall(whole[name], labels[name])
        summed = recall_from_counts([recall_counts(p, labels[name]) for p in parts[name]])
        assert summed == pytest.approx(one, nan_ok=True)


def test_purchases_are_stored_in_customer_order_and_every_window_lists_its_customers_in_that_order():
    """What makes a chunk of customers read a narrow range of the log (a speed property, checked here
    because nothing else would notice it gone): purchases sorted by customer code, targets by id."""
    import numpy as np

    from recs_assets.candidates.stage import window_targets

    rows = [(f"c{c:03d}", 1 + c % 7, "2020-01-0" + str(1 + c % 9)) for c in (5, 3, 9, 1, 3, 7, 2, 5)]
    log = make_log(rows)
    codes = log.con.execute("select cix from purchases").fetchnumpy()["cix"]
    given = [int(r[0][1:]) for r in rows]
    assert not np.all(np.diff(given) >= 0)  # handed over out of order
    assert len(codes) == len(rows) and bool(np.all(np.diff(codes) >= 0))
    ids = log.query("select customer_id, article_id, t_dat from purchases_with_ids order by all")
    assert list(ids.itertuples(index=False, name=None)) == sorted((c, a, pd.Timestamp(d)) for c, a, d in rows)
    for name, customers in window_targets(_random_log(), cutoffs("2020-01-14", "2020-01-17", "2020-01-20", 1)).items():
        assert list(customers) == sorted(customers) and len(customers) > 1, name


def test_fitting_windows_are_sampled_the_same_way_every_time_and_test_and_serve_never():
    from recs_assets.candidates.stage import sample, window_targets

    log = _random_log(customers=200)
    cuts = cutoffs("2020-01-14", "2020-01-17", "2020-01-20", fit_weeks=1)
    everyone, capped = window_targets(log, cuts), window_targets(log, cuts, max_fit_customers=10)
    for name in everyone:
        if name.startswith("fit_") or name == "validation":
            assert len(capped[name]) == 10 < len(everyone[name]) and set(capped[name]) <= set(everyone[name])
        else:
            assert set(capped[name]) == set(everyone[name])
    shuffled = everyone["validation"].sample(frac=1.0, random_state=1)
    assert set(sample(shuffled, 10)) == set(capped["validation"])  # the id decides, not the order
    assert set(sample(everyone["validation"], 11)) > set(capped["validation"])  # a larger cap keeps the smaller


def _pool_key(data="data", config=None, partition="p", cuts=None, als=None):
    """The key the candidate asset gives a pool (``pool_key``, which the asset calls)."""
    from recs_assets.artifacts import ModelRef
    from recs_assets.candidates.assets import CandidatesConfig, pool_key

    cuts = cuts or cutoffs("2020-09-08", "2020-09-15", "2020-09-21", fit_weeks=5)
    return pool_key(data, config or CandidatesConfig(), als or {}, cuts, ModelRef(features="x", partition=partition, uri=""))


def test_a_setting_that_changes_the_pool_changes_its_key_and_the_chunk_size_does_not():
    from recs_assets.candidates.assets import CandidatesConfig

    base = _pool_key()
    assert _pool_key(config=CandidatesConfig(chunk_customers=7)) == base
    for changed in (CandidatesConfig(history_n=21), CandidatesConfig(retrieval_n=31), CandidatesConfig(max_fit_customers=5)):
        assert _pool_key(config=changed) != base
    assert _pool_key(data="other") != base
    assert _pool_key(partition="q") != base
    assert _pool_key(als={"factors": 64}) != base


def test_moving_any_cut_off_alone_changes_the_pool_key():
    """test_start moves neither the purchases nor the two-tower (trained before validation): only the
    cut-off days tell the pools apart."""
    from recs_assets.candidates.assets import CandidatesConfig

    base = _pool_key(cuts=cutoffs("2020-09-08", "2020-09-15", "2020-09-21", fit_weeks=5))
    assert _pool_key(cuts=cutoffs("2020-09-08", "2020-09-15", "2020-09-21", fit_weeks=5)) == base
    for moved in (cutoffs("2020-09-08", "2020-09-16", "2020-09-21", fit_weeks=5),  # test_start alone
                  cutoffs("2020-09-07", "2020-09-15", "2020-09-21", fit_weeks=5),  # validation_start alone
                  cutoffs("2020-09-08", "2020-09-15", "2020-09-22", fit_weeks=5)):  # one more day of data (serve)
        assert _pool_key(cuts=moved) != base
    # fit_weeks is a setting and moves the fitting windows: either way a new key
    assert _pool_key(config=CandidatesConfig(fit_weeks=4), cuts=cutoffs("2020-09-08", "2020-09-15", "2020-09-21", 4)) != base
