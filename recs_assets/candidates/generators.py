"""The SQL candidate sources. Each proposes, for the customers of ``targets`` (a table with a
``customer_id`` column) and a cut-off day, rows (customer_id, article_id, source, source_rank,
source_score), reading only purchases strictly before the cut-off. Set-based: no Python per customer.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from recs_assets.candidates.purchase_log import PurchaseLog

COLUMNS = ["customer_id", "article_id", "source", "source_rank", "source_score"]
# The target customers with their integer code (``PurchaseLog``'s ``cix``): every join, grouping and
# window below runs on the code, the id string is joined back at the end.
_TARGET_CODES = "t as materialized (select t.customer_id, k.cix from targets t join customer_codes k using (customer_id))"


@dataclass(frozen=True)
class SourceSizes:
    """How many candidates each source may propose per customer, and its look-back windows."""

    history: int = 20
    copurchase: int = 20
    copurchase_seed_items: int = 10  # the customer's most recent distinct articles seed co-purchase
    copurchase_neighbours: int = 30  # kept per article
    copurchase_lookback_days: int = 84  # co-purchase pairs come from this many days before the cut-off
    copurchase_items_per_customer: int = 30  # a customer's pairs: their last N distinct articles only
    popularity: int = 12
    popularity_days: int = 7


def popular_before(log: PurchaseLog, cutoff, k: int, days: int = 7) -> list:
    """The k most bought articles in the ``days`` days before ``cutoff`` (ties: lower article id)."""
    return log.query(
        "select article_id from purchases where t_dat < $cutoff and t_dat >= $cutoff - to_days($days)"
        " group by 1 order by count(*) desc, article_id limit $k",
        cutoff=pd.Timestamp(cutoff).date(), days=days, k=k,
    )["article_id"].tolist()


def _cut(cutoff) -> dict:
    return {"cutoff": pd.Timestamp(cutoff).date()}


def _run(log: PurchaseLog, sql: str, cutoff, into: str | None):
    """The query's rows as a DataFrame, or appended to table ``into`` inside the log (no round trip
    through pandas: a serving chunk is millions of rows)."""
    params = _cut(cutoff) if "$cutoff" in sql else {}
    if into is None:
        return log.query(sql, **params)
    log.con.execute(f"insert into {into} select {', '.join(COLUMNS)} from ({sql})", params or None)
    return into


def history(log: PurchaseLog, cutoff, sizes: SourceSizes = SourceSizes(), into: str | None = None):
    """The customer's own past purchases, most often bought first, then most recent (on purchase data
    frequency first is the stronger order).
    Score: times bought / (1 + weeks since the last purchase)."""
    return _run(log, f"""
        with {_TARGET_CODES}, ui as (
            select p.cix, p.article_id, count(*) as n, max(p.t_dat) as last_day
            from purchases p join t using (cix)
            where p.t_dat < $cutoff
            group by 1, 2
        ), ranked as (
            select cix, article_id,
                   row_number() over (partition by cix order by n desc, last_day desc, article_id) as source_rank,
                   n / (1.0 + date_diff('day', last_day, $cutoff) / 7.0) as source_score
            from ui qualify source_rank <= {int(sizes.history)}
        )
        select t.customer_id, r.article_id, 'history' as source, r.source_rank, r.source_score
        from ranked r join t using (cix)
    """, cutoff, into)


def copurchase_neighbours(log: PurchaseLog, cutoff, sizes: SourceSizes = SourceSizes()) -> str:
    """Article → its top co-purchased articles as of ``cutoff``, as a table in the log (built once per
    cut-off and reused by every chunk of customers); returns the table's name.

    Pairs: two distinct articles bought by one customer within the look-back window (each customer's
    last ``copurchase_items_per_customer`` articles there, which bounds the self-join). Similarity:
    cosine, co-buyers / sqrt(buyers_a · buyers_b); each article keeps its top neighbours."""
    table = f"neighbours_{pd.Timestamp(cutoff):%Y%m%d}_{sizes.copurchase_lookback_days}_{sizes.copurchase_neighbours}"
    if table in log.tables():
        return table
    log.con.execute(f"""
        create temp table {table} as
        with window_items as (
            select cix, article_id, max(t_dat) as last_day
            from purchases
            where t_dat < $cutoff and t_dat >= $cutoff - to_days({int(sizes.copurchase_lookback_days)})
            group by 1, 2
        ), capped as materialized (
            select cix, article_id from (
                select *, row_number() over (partition by cix order by last_day desc, article_id) as r
                from window_items
            ) where r <= {int(sizes.copurchase_items_per_customer)}
        ), buyers as (
            select article_id, count(*) as n from capped group by 1
        ), pairs as (
            select a.article_id as a, b.article_id as b, count(*) as co
            from capped a join capped b on a.cix = b.cix and a.article_id <> b.article_id
            group by 1, 2
        )
        select a, b, sim from (
            select p.a, p.b, p.co / sqrt(na.n * nb.n) as sim,
                   row_number() over (partition by p.a order by p.co / sqrt(na.n * nb.n) desc, p.b) as r
            from pairs p join buyers na on na.article_id = p.a join buyers nb on nb.article_id = p.b
        ) where r <= {int(sizes.copurchase_neighbours)}
    """, _cut(cutoff))
    return table


def copurchase(log: PurchaseLog, cutoff, sizes: SourceSizes = SourceSizes(), into: str | None = None):
    """Articles bought by the same customers as the customer's recent purchases (item-to-item): a
    customer's score for an article is the sum of its similarities (``copurchase_neighbours``) to
    their ``copurchase_seed_items`` latest articles."""
    neighbours = copurchase_neighbours(log, cutoff, sizes)
    return _run(log, f"""
        with {_TARGET_CODES}, seeds as (
            select cix, article_id from (
                select p.cix, p.article_id,
                       row_number() over (partition by p.cix order by max(p.t_dat) desc, p.article_id) as r
                from purchases p join t using (cix)
                where p.t_dat < $cutoff
                group by 1, 2
            ) where r <= {int(sizes.copurchase_seed_items)}
        ), scored as (
            -- rounded: a float sum's last bits depend on the order DuckDB's threads add in, and ties
            -- must break on the article id the same way on every run and in every chunk
            select s.cix, n.b as article_id, round(sum(n.sim), 9) as source_score
            from seeds s join {neighbours} n on n.a = s.article_id
            group by 1, 2
        ), top as (
            select cix, article_id, source_score,
                   row_number() over (partition by cix order by source_score desc, article_id) as source_rank
            from scored qualify source_rank <= {int(sizes.copurchase)}
        )
        select t.customer_id, top.article_id, 'copurchase' as source, top.source_rank, top.source_score
        from top join t using (cix)
    """, cutoff, into)


def best_sellers(log: PurchaseLog, cutoff, sizes: SourceSizes = SourceSizes()) -> str:
    """The ``popularity`` best sellers of the ``popularity_days`` before ``cutoff``, overall (band
    NULL) and per 10-year age band, as a table in the log built once per cut-off (band, article_id,
    r, score); returns its name."""
    table = f"best_sellers_{pd.Timestamp(cutoff):%Y%m%d}_{sizes.popularity_days}_{sizes.popularity}"
    if table in log.tables():
        return table
    log.con.execute(f"""
        create temp table {table} as
        with recent as (
            select p.article_id, floor(c.age / 10) as band
            from purchases p left join customers c using (cix)
            where p.t_dat < $cutoff and p.t_dat >= $cutoff - to_days({int(sizes.popularity_days)})
        ), overall as (
            select null::double as band, article_id, count(*) as score,
                   row_number() over (order by count(*) desc, article_id) as r
            from recent group by 2
        ), by_band as (
            select band, article_id, count(*) as score,
                   row_number() over (partition by band order by count(*) desc, article_id) as r
            from recent where band is not null group by 1, 2
        )
        select * from overall where r <= {int(sizes.popularity)}
        union all
        select * from by_band where r <= {int(sizes.popularity)}
    """, _cut(cutoff))
    return table


def popularity(log: PurchaseLog, cutoff, sizes: SourceSizes = SourceSizes(), into: str | None = None):
    """The best sellers of the ``popularity_days`` before the cut-off, for every target customer
    (source ``popularity``), and the best sellers among the customer's 10-year age band when the age
    is known (source ``popularity_age``). Score: purchases in the window."""
    table = best_sellers(log, cutoff, sizes)
    return _run(log, f"""
        select t.customer_id, o.article_id, 'popularity' as source, o.r as source_rank, o.score as source_score
        from targets t cross join {table} o where o.band is null
        union all
        select t.customer_id, b.article_id, 'popularity_age', b.r, b.score
        from targets t join customers c using (customer_id) join {table} b on b.band = floor(c.age / 10)
    """, cutoff, into)


SQL_SOURCES = {"history": history, "copurchase": copurchase, "popularity": popularity}


def sql_candidates(log: PurchaseLog, targets: pd.Series, cutoff, sizes: SourceSizes = SourceSizes(),
                   into: str | None = None):
    """Every SQL source's candidates for ``targets`` (customer ids) as of ``cutoff``: a DataFrame, or,
    with ``into``, a new table of that name in the log (returned)."""
    log.register("targets", pd.DataFrame({"customer_id": pd.Series(targets).drop_duplicates().to_numpy()}))
    if into is not None:
        log.con.execute(f"create or replace temp table {into} (customer_id varchar, article_id bigint,"
                        " source varchar, source_rank integer, source_score double)")
        for source in SQL_SOURCES.values():
            source(log, cutoff, sizes, into=into)
        return into
    frames = [source(log, cutoff, sizes) for source in SQL_SOURCES.values()]
    out = pd.concat(frames, ignore_index=True)[COLUMNS]
    return out.astype({"source_rank": "int32", "source_score": "float64"})
