"""Ranking features of candidate (customer, article) pairs as of a cut-off day, in SQL.

Every aggregate reads only purchases strictly before the cut-off, so a feature row for a label week
never sees that week (tested by moving the cut-off one day). Labels are the purchases of the
``label_days`` from the cut-off on.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from recs_assets.candidates.pool import SOURCES
from recs_assets.candidates.purchase_log import PurchaseLog

SOURCE_FEATURES = [f"{s}_{x}" for s in SOURCES for x in ("rank", "score")] + ["n_sources", "als_dot"]
PAIR_FEATURES = ["ui_count", "ui_quantity", "ui_days_since", "ui_interval", "ui_cycle", "same_type_count",
                 "same_colour_count"]
ITEM_FEATURES = ["pop_1w", "pop_4w", "pop_12w", "pop_trend", "item_buyers", "item_repeat_rate", "item_price",
                 "item_age_days", "product_type_no", "colour_group_code", "index_group_no", "garment_group_no"]
CUSTOMER_FEATURES = ["age", "c_count", "c_count_4w", "c_distinct", "c_days_since", "c_price", "price_ratio",
                     "c_repeat_share"]
FEATURES = SOURCE_FEATURES + PAIR_FEATURES + ITEM_FEATURES + CUSTOMER_FEATURES

_SQL = """
with k as materialized (
    -- the customer's integer code (PurchaseLog's cix): every join, grouping and the result carry it,
    -- not the id string (H&M's ids are 64 characters: carrying them slowed the whole query)
    select c.* exclude (customer_id), codes.cix from cands c join customer_codes codes using (customer_id)
), mine as materialized (
    select p.* from purchases p semi join (select distinct cix from k) w using (cix) where p.t_dat < $cutoff
), ui as (
    select cix, article_id, count(*) as ui_count, sum(quantity)::bigint as ui_quantity,
           date_diff('day', max(t_dat), $cutoff) as ui_days_since,
           case when count(*) > 1 then date_diff('day', min(t_dat), max(t_dat)) / (count(*) - 1.0) end as ui_interval
    from mine group by 1, 2
), cust as (
    select cix, count(*) as c_count,
           count(*) filter (where t_dat >= $cutoff - to_days(28)) as c_count_4w,
           count(distinct article_id) as c_distinct,
           date_diff('day', max(t_dat), $cutoff) as c_days_since, avg(price) as c_price,
           1.0 - count(distinct article_id) / count(*) as c_repeat_share
    from mine group by 1
), c_type as (
    select m.cix, a.product_type_no, count(*) as n
    from mine m join articles a using (article_id) group by 1, 2
), c_colour as (
    select m.cix, a.colour_group_code, count(*) as n
    from mine m join articles a using (article_id) group by 1, 2
)
select k.*,
       coalesce(ui.ui_count, 0) as ui_count, coalesce(ui.ui_quantity, 0) as ui_quantity,
       ui.ui_days_since, ui.ui_interval, ui.ui_days_since / nullif(ui.ui_interval, 0) as ui_cycle,
       coalesce(ct.n, 0) as same_type_count, coalesce(cc.n, 0) as same_colour_count,
       coalesce(i.pop_1w, 0) as pop_1w, coalesce(i.pop_4w, 0) as pop_4w, coalesce(i.pop_12w, 0) as pop_12w,
       (coalesce(i.pop_1w, 0) + 1.0) / (coalesce(i.pop_4w, 0) / 4.0 + 1.0) as pop_trend,
       coalesce(i.item_buyers, 0) as item_buyers, i.item_repeat_rate, i.item_price, i.item_age_days,
       a.product_type_no, a.colour_group_code, a.index_group_no, a.garment_group_no,
       c.age, coalesce(cu.c_count, 0) as c_count, coalesce(cu.c_count_4w, 0) as c_count_4w,
       coalesce(cu.c_distinct, 0) as c_distinct, cu.c_days_since, cu.c_price,
       i.item_price / nullif(cu.c_price, 0) as price_ratio, cu.c_repeat_share
from k
left join ui on ui.cix = k.cix and ui.article_id = k.article_id
left join {items} i on i.article_id = k.article_id
left join articles a on a.article_id = k.article_id
left join customers c on c.cix = k.cix
left join cust cu on cu.cix = k.cix
left join c_type ct on ct.cix = k.cix and ct.product_type_no = a.product_type_no
left join c_colour cc on cc.cix = k.cix and cc.colour_group_code = a.colour_group_code
order by k.cix, k.article_id  -- = customer id order
"""


_ITEMS_SQL = """
with ac as (  -- one (article, customer) aggregate feeds every article feature
    select article_id, cix, count(*) as n,
           count(*) filter (where t_dat >= $cutoff - to_days(7)) as n_1w,
           count(*) filter (where t_dat >= $cutoff - to_days(28)) as n_4w,
           count(*) filter (where t_dat >= $cutoff - to_days(84)) as n_12w,
           sum(price) as spend, min(t_dat) as first_day
    from purchases where t_dat < $cutoff group by 1, 2
)
-- sums of integers are HUGEINT in DuckDB, which reach pandas as Python objects: cast them
select article_id, sum(n_1w)::bigint as pop_1w, sum(n_4w)::bigint as pop_4w, sum(n_12w)::bigint as pop_12w,
       count(*) as item_buyers,
       sum(spend) / sum(n) as item_price, date_diff('day', min(first_day), $cutoff) as item_age_days,
       avg(case when n > 1 then 1.0 else 0.0 end) as item_repeat_rate
from ac group by 1
"""


def item_features(log: PurchaseLog, cutoff) -> str:
    """The article features as of ``cutoff``, as a table in the log built once per cut-off (they read
    every purchase before it; every chunk of customers reuses them); returns the table's name."""
    table = f"item_features_{pd.Timestamp(cutoff):%Y%m%d}"
    if table not in log.tables():
        log.con.execute(f"create temp table {table} as {_ITEMS_SQL}", {"cutoff": pd.Timestamp(cutoff).date()})
    return table


def candidate_features(log: PurchaseLog, pool: pd.DataFrame, cutoff) -> pd.DataFrame:
    """``pool`` (``candidates.pool.union``'s frame) with every column of FEATURES, as of ``cutoff``;
    rows sorted by customer then article."""
    items = item_features(log, cutoff)
    absent = [c for c in SOURCE_FEATURES if c not in pool.columns]  # a pool built before a source existed
    log.register("cands", pool.assign(**{c: np.nan for c in absent}) if absent else pool)
    # Through Arrow: DuckDB's own pandas conversion was several times slower on large chunks.
    frame = log.con.execute(_SQL.format(items=items), {"cutoff": pd.Timestamp(cutoff).date()}).arrow().to_pandas()
    if len(frame) != len(pool):
        unknown = set(pool["customer_id"]) - set(log.customer_ids(frame["cix"].unique()))
        raise ValueError(f"{len(unknown):,} customer(s) of the candidates are not in the purchase log,"
                         f" e.g. {sorted(unknown)[:3]}")
    frame.insert(0, "customer_id", log.customer_ids(frame.pop("cix").to_numpy()))
    missing = [c for c in FEATURES if c not in frame.columns]
    if missing:
        raise ValueError(f"feature query lacks {missing}")
    numeric = {c: "float32" for c in FEATURES}
    return frame.astype(numeric)


def with_labels(features: pd.DataFrame, labels: pd.DataFrame) -> pd.DataFrame:
    """``features`` with ``label`` = 1 where the customer bought the article in the label window."""
    bought = labels[["customer_id", "article_id"]].drop_duplicates().assign(label=1)
    out = features.merge(bought, on=["customer_id", "article_id"], how="left")
    return out.assign(label=out["label"].fillna(0).astype("int8"))
