"""implicit's ALS over the purchase log: fitted as of a cut-off, then each customer's top k, or the score of
any (customer, article) pair. A baseline (``baselines.lists``) and a candidate source with a ranking
feature (``candidates.assets``) share it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from recs_assets.candidates.generators import popular_before
from recs_assets.candidates.purchase_log import PurchaseLog
from recs_assets.core.lists import top_lists

ALS_SETTINGS = ("factors", "regularization", "alpha", "iterations")


@dataclass
class AlsFit:
    """implicit's ALS fitted on the purchases before a cut-off (counts as confidence)."""

    model: object
    users: pd.Series  # customer_id -> row of the matrix
    items: np.ndarray  # column -> article_id
    matrix: object  # the user × item confidence matrix (csr)
    cutoff: object


def fit_als(log: PurchaseLog, cutoff, factors: int = 64, regularization: float = 0.01, alpha: float = 1.0,
            iterations: int = 15, max_users: int | None = None, keep=(), seed: int = 7) -> AlsFit:
    """ALS on purchases before ``cutoff``; with ``max_users``, on the purchases of at most that many
    customers (those of ``keep`` and a deterministic hash sample of the rest): the tuning search's cost."""
    import implicit
    from scipy.sparse import csr_matrix
    from threadpoolctl import threadpool_limits

    day = pd.Timestamp(cutoff).date()
    log.register("als_keep", pd.DataFrame({"customer_id": pd.Series(list(keep), dtype=object)}))
    sampled = "" if max_users is None else (
        f" where customer_id in (select customer_id from als_keep) or hash(customer_id) % 1000000 <"
        f" (select 1000000.0 * {int(max_users)} / greatest(count(distinct cix), 1) from purchases where t_dat < $cutoff)")
    # Integer indices from SQL: np.unique over the 28M customer-id strings of H&M took minutes and GBs.
    log.con.execute(f"""
        create or replace temp table als_users as
        select cix, customer_id, (row_number() over (order by cix) - 1)::bigint as u from (
            select k.cix, k.customer_id from customer_codes k semi join
            (select cix from purchases where t_dat < $cutoff) using (cix) {sampled})""", {"cutoff": day})
    log.con.execute("""
        create or replace temp table als_items as
        select article_id, (row_number() over (order by article_id) - 1)::bigint as i
        from (select distinct article_id from purchases where t_dat < $cutoff)""", {"cutoff": day})
    pairs = log.query("select u, i, count(*)::float as n from purchases join als_users using (cix)"
                      " join als_items using (article_id) where t_dat < $cutoff group by 1, 2", cutoff=day)
    users = log.query("select customer_id, u from als_users order by u").set_index("customer_id")["u"]
    items = log.query("select article_id from als_items order by i")["article_id"].to_numpy()
    matrix = csr_matrix((alpha * pairs["n"].to_numpy(dtype=np.float32), (pairs["u"].to_numpy(), pairs["i"].to_numpy())),
                        shape=(len(users), len(items)))
    model = implicit.als.AlternatingLeastSquares(factors=factors, regularization=regularization,
                                                 iterations=iterations, random_state=seed,
                                                 calculate_training_loss=False)
    # implicit runs its own threads; OpenBLAS threads would oversubscribe the cores
    with threadpool_limits(1, "blas"):
        model.fit(matrix, show_progress=False)
    return AlsFit(model, users, items, matrix, cutoff)


# ALS's lists come from this many best-selling articles of the fit's data: scoring a whole catalogue of H&M's
# size for every customer costs minutes, and articles outside the best sellers hardly reach an ALS top 12.
ALS_MAX_ITEMS = 20_000


def best_selling(fit: AlsFit, n: int | None) -> np.ndarray | None:
    """Column indices of the fit's ``n`` most bought articles (None: every article)."""
    if n is None or n >= len(fit.items):
        return None
    sold = np.asarray(fit.matrix.sum(axis=0)).ravel()
    return np.sort(np.argsort(-sold, kind="stable")[:n])


def als_recommend(log: PurchaseLog, fit: AlsFit, customers, k: int, hide_bought: bool,
                  max_items: int | None = ALS_MAX_ITEMS) -> pd.DataFrame:
    """Each customer's top k of ``fit`` among its ``max_items`` best sellers (``hide_bought``: never an
    article they bought before the cut-off, from the best-seller top-up neither); customers unseen by the
    fit get best sellers."""
    from threadpoolctl import threadpool_limits

    customers = pd.Series(pd.unique(pd.Series(customers, dtype=object)), dtype=object)
    wanted = fit.users[fit.users.index.intersection(pd.Index(customers))].sort_values()
    rows = wanted.to_numpy(dtype=np.int64)
    with threadpool_limits(1, "blas"):
        found, scores = fit.model.recommend(rows, fit.matrix[rows], N=k, filter_already_liked_items=hide_bought,
                                            items=best_selling(fit, max_items))
    found, scores = np.atleast_2d(found), np.atleast_2d(scores)
    long = pd.DataFrame({"customer_id": np.repeat(wanted.index.to_numpy(dtype=object), found.shape[1]),
                         "article_id": fit.items[np.maximum(found.reshape(-1), 0)], "score": scores.reshape(-1)})
    # implicit pads short results with the lowest float32 (filtered items) and index -1, not -inf
    long = long[(long["score"] > -1e30) & (found.reshape(-1) >= 0)]
    if not hide_bought:
        return top_lists(long, long["score"], k, customers, popular_before(log, fit.cutoff, k))
    log.register("als_wanted", pd.DataFrame({"customer_id": customers}))
    bought = log.query("select distinct customer_id, article_id from purchases_with_ids join als_wanted"
                       " using (customer_id) where t_dat < $cutoff", cutoff=pd.Timestamp(fit.cutoff).date())
    return top_lists(long, long["score"], k, customers, popular_before(log, fit.cutoff, 2 * k), exclude=bought)


def als_candidates(fit: AlsFit, customers, n: int, max_items: int | None = ALS_MAX_ITEMS) -> pd.DataFrame:
    """The ALS source: each customer's ``n`` best-scored articles they have not bought (the history
    source proposes those), rows of ``generators.COLUMNS``; customers the fit does not know get none.
    ``max_items``: only among the articles bought most often in the fit's data (bounds the cost at a
    large catalogue)."""
    from threadpoolctl import threadpool_limits

    from recs_assets.candidates.generators import COLUMNS

    wanted = fit.users[fit.users.index.intersection(pd.Index(pd.unique(pd.Series(customers, dtype=object))))]
    if wanted.empty:
        return pd.DataFrame(columns=COLUMNS)
    rows = wanted.to_numpy(dtype=np.int64)
    with threadpool_limits(1, "blas"):
        found, scores = fit.model.recommend(rows, fit.matrix[rows], N=n, filter_already_liked_items=True,
                                            items=best_selling(fit, max_items))
    found, scores = np.atleast_2d(found), np.atleast_2d(scores)
    ok = (found.reshape(-1) >= 0) & (scores.reshape(-1) > -1e30)
    return pd.DataFrame({
        "customer_id": np.repeat(wanted.index.to_numpy(dtype=object), found.shape[1])[ok],
        "article_id": fit.items[np.maximum(found.reshape(-1), 0)][ok],
        "source": "als",
        "source_rank": np.tile(np.arange(1, found.shape[1] + 1), len(rows))[ok],
        "source_score": scores.reshape(-1)[ok].astype("float64"),
    })[COLUMNS]


def pair_scores(fit: AlsFit, customers, articles) -> np.ndarray:
    """ALS's score (user · item factors) of each (customer, article) pair; NaN where the fit knows
    neither the customer nor the article."""
    users = fit.users.index.get_indexer(pd.Index(np.asarray(customers, dtype=object)))
    users = np.where(users >= 0, fit.users.to_numpy()[np.maximum(users, 0)], -1)
    items = pd.Index(fit.items).get_indexer(np.asarray(articles))
    out = np.full(len(users), np.nan, dtype=np.float32)
    ok = (users >= 0) & (items >= 0)
    uf, itf = np.asarray(fit.model.user_factors), np.asarray(fit.model.item_factors)
    out[ok] = np.einsum("ij,ij->i", uf[users[ok]], itf[items[ok]])
    return out
