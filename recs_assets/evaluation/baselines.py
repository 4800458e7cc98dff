"""Baselines scored beside the served list on the same users and metrics: the lists a retailer can
compute without a model (popularity; what you bought before, then what is popular) and one
collaborative filter (implicit's ALS, hiding what the customer already bought)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from recs_assets.candidates.purchase_log import PurchaseLog


def popular_before(log: PurchaseLog, cutoff, k: int, days: int = 7) -> list:
    """The k most bought articles in the ``days`` days before ``cutoff`` (ties: lower article id)."""
    return log.query(
        "select article_id from purchases where t_dat < $cutoff and t_dat >= $cutoff - to_days($days)"
        " group by 1 order by count(*) desc, article_id limit $k",
        cutoff=pd.Timestamp(cutoff).date(), days=days, k=k,
    )["article_id"].tolist()


def repurchase_then_popular(log: PurchaseLog, customers, cutoff, k: int) -> pd.DataFrame:
    """customer_id, items, scores: the customer's own purchases before ``cutoff`` (most often bought
    first, then latest), topped up with the last week's best sellers."""
    from recs_assets.candidates.generators import SourceSizes, history
    from recs_assets.ranking.lists import top_lists

    log.register("targets", pd.DataFrame({"customer_id": pd.unique(pd.Series(customers))}))
    own = history(log, cutoff, SourceSizes(history=k))
    return top_lists(own, -own["source_rank"].to_numpy(dtype=float), k, customers, popular_before(log, cutoff, k))


# ALS's iterations, chosen on the validation week (MAP@12 with 15 / 8 / 5 iterations: synthetic scale 0.1
# .0243 / .0246 / .0264; synthetic without repeat purchases, where ALS is the strongest baseline, .0761 /
# .0756 / .0806; Complete Journey .0058 / .0058 / .0057; the test week agrees): more iterations fit the
# purchases no better for the next week, and cost 13.7 s each at H&M's size.
ALS_ITERATIONS = 5


def als_lists(log: PurchaseLog, customers, cutoff, k: int, factors: int = 64, iterations: int = ALS_ITERATIONS,
              seed: int = 7) -> pd.DataFrame:
    """customer_id, items, scores from implicit's ALS fit on purchases before ``cutoff`` (counts as
    confidence), already-bought items filtered (from the best-seller top-up too); customers unseen there
    get the last week's best sellers."""
    import implicit
    from scipy.sparse import csr_matrix
    from threadpoolctl import threadpool_limits

    from recs_assets.ranking.lists import top_lists

    # Integer indices from SQL: np.unique over the 28M customer-id strings of H&M took minutes and GBs.
    day = pd.Timestamp(cutoff).date()
    log.con.execute("""
        create or replace temp table als_users as
        select customer_id, (row_number() over (order by customer_id) - 1)::bigint as u
        from (select distinct customer_id from purchases_with_ids where t_dat < $cutoff)""", {"cutoff": day})
    log.con.execute("""
        create or replace temp table als_items as
        select article_id, (row_number() over (order by article_id) - 1)::bigint as i
        from (select distinct article_id from purchases where t_dat < $cutoff)""", {"cutoff": day})
    pairs = log.query("select u, i, count(*)::float as n from purchases_with_ids join als_users using (customer_id)"
                      " join als_items using (article_id) where t_dat < $cutoff group by 1, 2", cutoff=day)
    n_users = log.con.execute("select count(*) from als_users").fetchone()[0]
    items = log.query("select article_id from als_items order by i")["article_id"].to_numpy()
    matrix = csr_matrix((pairs["n"].to_numpy(dtype=np.float32), (pairs["u"].to_numpy(), pairs["i"].to_numpy())),
                        shape=(n_users, len(items)))
    model = implicit.als.AlternatingLeastSquares(factors=factors, iterations=iterations, random_state=seed,
                                                 calculate_training_loss=False)
    log.register("als_wanted", pd.DataFrame({"customer_id": pd.unique(pd.Series(customers))}))
    wanted = log.query("select customer_id, u from als_users join als_wanted using (customer_id) order by u"
                       ).set_index("customer_id")["u"]
    rows = wanted.to_numpy(dtype=np.int64)
    # implicit runs its own threads; OpenBLAS threads would oversubscribe the cores (recommend for the
    # 96k test buyers at H&M's size: 66 s with them, 47 s without)
    with threadpool_limits(1, "blas"):
        model.fit(matrix, show_progress=False)
        found, scores = model.recommend(rows, matrix[rows], N=k, filter_already_liked_items=True)
    long = pd.DataFrame({"customer_id": np.repeat(wanted.index.to_numpy(dtype=object), found.shape[1]),
                         "article_id": items[found.reshape(-1)], "score": scores.reshape(-1)})
    # implicit pads short results with the lowest float32 (filtered items), not -inf
    long = long[(long["score"] > -1e30) & (found.reshape(-1) >= 0)]
    fill = popular_before(log, cutoff, 2 * k)  # best sellers the customer has not bought yet
    bought = log.query("select distinct customer_id, article_id from purchases_with_ids"
                       " join als_wanted using (customer_id) where t_dat < $cutoff", cutoff=day)
    return top_lists(long, long["score"], k, customers, fill, exclude=bought)
