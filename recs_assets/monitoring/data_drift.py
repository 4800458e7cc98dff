"""Data drift of purchase loads: is a load like the ones before it?

A load is profiled with a handful of aggregate queries in the warehouse (plain, portable SQL: DuckDB
locally, Snowflake in production; no rows leave the warehouse) and the profiles are compared with
small pure functions:

- **rows per day**: rows over the calendar days the load spans, as a ratio to the reference's;
- **price**: population stability index (PSI) over the reference's price deciles;
- **quantity**: PSI of items per basket (one customer's lines on one day; a purchase line is one item);
- **channel mix**: PSI over sales channels, with each channel's share shown;
- **unknown customers and articles**: share of purchase lines whose customer or article is not in
  ``raw_customers``/``raw_articles``. The loaders refuse such lines, so the share only grows when a raw
  reload replaces the catalogue under purchases that landed before it.

PSI = sum over bins of (current share - reference share) * ln(current share / reference share); by the
usual reading below 0.1 is stable and above 0.25 a real shift. The checks that use these are in
``load_checks``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta

import pandas as pd

from recs_assets.ingest.schema import ARTICLES, CUSTOMERS, LANDED_TRANSACTIONS, LANDING_SCHEMA, RAW_SCHEMA, TRANSACTIONS

# An empty bin on one side would make PSI infinite: shares are floored at this (the usual choice).
PSI_FLOOR = 1e-4
PRICE_QUANTILES = tuple(q / 10 for q in range(1, 10))
# Items per basket, binned: large baskets are rare, so they share a bin.
BASKET_BINS = ("1", "2", "3", "4-5", "6-9", "10+")


# --- pure math ---------------------------------------------------------------------------------------

def shares(counts: Sequence[float]) -> list[float]:
    """Each count's share of the total; all zeros when the total is zero."""
    total = float(sum(counts))
    if any(c < 0 for c in counts):
        raise ValueError(f"counts must not be negative: {list(counts)}")
    return [c / total if total else 0.0 for c in counts]


def psi(reference: Sequence[float], current: Sequence[float], floor: float = PSI_FLOOR) -> float:
    """Population stability index of two histograms over the same bins (counts or shares)."""
    if len(reference) != len(current):
        raise ValueError(f"histograms over different bins: {len(reference)} reference bins, {len(current)} current")
    if not reference:
        raise ValueError("histograms without bins")
    ref = [max(s, floor) for s in shares(reference)]
    cur = [max(s, floor) for s in shares(current)]
    return float(sum((c - r) * math.log(c / r) for r, c in zip(ref, cur)))


def aligned(reference: Mapping[str, float], current: Mapping[str, float]) -> tuple[list[str], list[float], list[float]]:
    """Two categorical histograms over the union of their categories (missing ones count 0)."""
    keys = sorted(set(reference) | set(current))
    return keys, [reference.get(k, 0) for k in keys], [current.get(k, 0) for k in keys]


def rows_per_day(rows: int, days: int) -> float:
    return rows / days if days > 0 else 0.0


def ratio(current: float, reference: float) -> float:
    """current / reference; infinite when only the reference is zero, 1 when both are."""
    if reference == 0:
        return 1.0 if current == 0 else math.inf
    return current / reference


# --- profiles ----------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LoadProfile:
    """What is compared of a set of purchase lines; ``price_counts`` are over ``price_edges``' bins
    (bin i holds prices in [edge i-1, edge i), the first and last bins are open)."""

    rows: int
    days: int  # calendar days from the first purchase day to the last
    first_day: str | None
    last_day: str | None
    price_edges: tuple[float, ...]
    price_counts: tuple[int, ...]
    basket_counts: dict[str, int] = field(default_factory=dict)
    channel_counts: dict[str, int] = field(default_factory=dict)

    @property
    def rows_per_day(self) -> float:
        return rows_per_day(self.rows, self.days)

    def to_json(self) -> dict:
        return {**asdict(self), "price_edges": list(self.price_edges), "price_counts": list(self.price_counts)}

    @classmethod
    def from_json(cls, data: Mapping) -> LoadProfile:
        return cls(rows=int(data["rows"]), days=int(data["days"]), first_day=data.get("first_day"),
                   last_day=data.get("last_day"), price_edges=tuple(float(e) for e in data["price_edges"]),
                   price_counts=tuple(int(c) for c in data["price_counts"]),
                   basket_counts={str(k): int(v) for k, v in data.get("basket_counts", {}).items()},
                   channel_counts={str(k): int(v) for k, v in data.get("channel_counts", {}).items()})


@dataclass(frozen=True)
class Unknowns:
    """Purchase lines whose customer or article is missing from the raw tables."""

    rows: int
    customers: int
    articles: int

    @property
    def customer_share(self) -> float:
        return self.customers / self.rows if self.rows else 0.0

    @property
    def article_share(self) -> float:
        return self.articles / self.rows if self.rows else 0.0


@dataclass(frozen=True)
class DriftBounds:
    """When a load warns. Ratios are current / reference; PSI above its bound warns."""

    min_rows_per_day_ratio: float = 0.7
    max_rows_per_day_ratio: float = 1.5
    max_price_psi: float = 0.2
    max_basket_psi: float = 0.2
    max_channel_psi: float = 0.2
    max_unknown_customer_share: float = 0.01
    max_unknown_article_share: float = 0.01
    # Distributions of fewer lines than this are shown but not judged: PSI of a few lines is noise.
    min_rows: int = 200

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ValueError(f"drift bound {name}={value!r} must be a finite number >= 0")
        if self.min_rows_per_day_ratio > self.max_rows_per_day_ratio:
            raise ValueError(f"min_rows_per_day_ratio={self.min_rows_per_day_ratio} is above "
                             f"max_rows_per_day_ratio={self.max_rows_per_day_ratio}")


@dataclass(frozen=True)
class Figure:
    """One compared figure: the value judged, the bound, and whether it holds (None: not judged)."""

    name: str
    current: str
    reference: str
    value: float
    bound: str
    ok: bool | None


def _fmt(x: float) -> str:
    return "inf" if math.isinf(x) else f"{x:.4g}"


def _distribution(name: str, ref_counts, cur_counts, bound: float, enough: bool, labels=None) -> Figure:
    value = psi(ref_counts, cur_counts)
    def show(counts):
        pct = [f"{100 * s:.1f}%" for s in shares(counts)]
        return ", ".join(f"{k}: {p}" for k, p in zip(labels, pct)) if labels else f"{sum(counts)} lines"
    return Figure(f"{name} PSI", show(cur_counts), show(ref_counts), value, f"<= {bound}",
                  (value <= bound) if enough else None)


def compare(current: LoadProfile, reference: LoadProfile, bounds: DriftBounds) -> list[Figure]:
    """Rows per day and the three distributions; ``current`` must be binned on ``reference``'s price edges."""
    if tuple(current.price_edges) != tuple(reference.price_edges):
        raise ValueError("current and reference prices are binned on different edges: profile the current "
                         "load with the reference's price_edges")
    enough = current.rows >= bounds.min_rows and reference.rows >= bounds.min_rows
    change = ratio(current.rows_per_day, reference.rows_per_day)
    figures = [Figure(
        "rows per day", f"{current.rows_per_day:.1f} ({current.rows} over {current.days} days)",
        f"{reference.rows_per_day:.1f} ({reference.rows} over {reference.days} days)", change,
        f"{bounds.min_rows_per_day_ratio} .. {bounds.max_rows_per_day_ratio} x reference",
        bounds.min_rows_per_day_ratio <= change <= bounds.max_rows_per_day_ratio,
    )]
    figures.append(_distribution("price", reference.price_counts, current.price_counts, bounds.max_price_psi, enough))
    keys = list(BASKET_BINS) + sorted((set(current.basket_counts) | set(reference.basket_counts)) - set(BASKET_BINS))
    figures.append(_distribution("items per basket", [reference.basket_counts.get(k, 0) for k in keys],
                                 [current.basket_counts.get(k, 0) for k in keys], bounds.max_basket_psi, enough, keys))
    channels, ref, cur = aligned(reference.channel_counts, current.channel_counts)
    figures.append(_distribution("channel mix", ref, cur, bounds.max_channel_psi, enough,
                                 [f"channel {c}" for c in channels]))
    return figures


def unknown_figures(unknowns: Unknowns, bounds: DriftBounds, where: str) -> list[Figure]:
    return [
        Figure("unknown customers", f"{unknowns.customers} of {unknowns.rows} {where}", "-",
               unknowns.customer_share, f"<= {bounds.max_unknown_customer_share}",
               unknowns.customer_share <= bounds.max_unknown_customer_share),
        Figure("unknown articles", f"{unknowns.articles} of {unknowns.rows} {where}", "-",
               unknowns.article_share, f"<= {bounds.max_unknown_article_share}",
               unknowns.article_share <= bounds.max_unknown_article_share),
    ]


def markdown(figures: Sequence[Figure]) -> str:
    """The figures as a Markdown table (Dagster shows it in the check's metadata)."""
    verdict = {True: "ok", False: "**WARN**", None: "not judged (too few lines)"}
    lines = ["| figure | value | bound | this load | reference | |", "|---|---|---|---|---|---|"]
    for f in figures:
        lines.append(f"| {f.name} | {_fmt(f.value)} | {f.bound} | {f.current} | {f.reference} | {verdict[f.ok]} |")
    return "\n".join(lines)


# --- SQL: the profiles, computed in the warehouse ----------------------------------------------------

_COLUMNS = ", ".join(TRANSACTIONS.columns)  # t_dat, customer_id, article_id, price, sales_channel_id
RAW_PURCHASES = f"select {_COLUMNS} from {RAW_SCHEMA}.{TRANSACTIONS.name}"


def _literal(value: str) -> str:
    """A load id as a SQL string literal; ids are run ids and content hashes, so anything else is refused."""
    if not re.fullmatch(r"[A-Za-z0-9_.:-]{1,200}", value):
        raise ValueError(f"load id {value!r} is not a plain identifier")
    return f"'{value}'"


def landed_purchases(load_id: str | None = None, exclude_load_id: str | None = None) -> str:
    """Landed purchase lines: one load's, or every load's but one."""
    where = []
    if load_id is not None:
        where.append(f"load_id = {_literal(load_id)}")
    if exclude_load_id is not None:
        where.append(f"load_id <> {_literal(exclude_load_id)}")
    clause = f" where {' and '.join(where)}" if where else ""
    return f"select {_COLUMNS} from {LANDING_SCHEMA}.{LANDED_TRANSACTIONS.name}{clause}"


def has_landed_table(warehouse) -> bool:
    return warehouse.has_table(LANDING_SCHEMA, LANDED_TRANSACTIONS.name)


def all_purchases(warehouse, exclude_load_id: str | None = None) -> str:
    """Every purchase line the marts read (raw plus landed), optionally without one landed load."""
    if not has_landed_table(warehouse):
        return RAW_PURCHASES
    return f"{RAW_PURCHASES} union all {landed_purchases(exclude_load_id=exclude_load_id)}"


def between(source: str, start: date, end: date) -> str:
    """The lines of ``source`` with start <= t_dat < end."""
    return (f"select * from ({source}) w "
            f"where t_dat >= date '{start.isoformat()}' and t_dat < date '{end.isoformat()}'")


def _day(value) -> str | None:
    """A day as ISO text; None for the NULL of an empty source (NaT/NaN/None)."""
    if value is None or pd.isna(value):
        return None
    return date.fromisoformat(str(value)[:10]).isoformat()


def day_span(warehouse, source: str) -> tuple[int, str | None, str | None]:
    """(lines, first day, last day) of ``source``."""
    row = warehouse.query(f"select count(*) as n, min(t_dat) as first_day, max(t_dat) as last_day from ({source}) s")
    n, first, last = row.iloc[0]
    return int(n), _day(first), _day(last)


def price_deciles(warehouse, source: str) -> tuple[float, ...]:
    """The distinct price deciles of ``source`` (ties collapse: fewer, wider bins)."""
    picks = ", ".join(f"percentile_cont({q}) within group (order by price) as q{i}"
                      for i, q in enumerate(PRICE_QUANTILES))
    row = warehouse.query(f"select {picks} from ({source}) s").iloc[0]
    return tuple(sorted({float(v) for v in row if v is not None and not math.isnan(float(v))}))


def profile(warehouse, source: str, price_edges: Sequence[float] | None = None) -> LoadProfile:
    """Profile the purchase lines of ``source`` (a SELECT of the transaction columns); prices are binned on
    ``price_edges`` (to compare with a reference), by default on the source's own deciles."""
    rows, first, last = day_span(warehouse, source)
    days = (date.fromisoformat(last) - date.fromisoformat(first)).days + 1 if rows and first and last else 0
    edges = tuple(price_edges) if price_edges is not None else (price_deciles(warehouse, source) if rows else ())
    cases = " ".join(f"when price < {float(e)!r} then {i}" for i, e in enumerate(edges))
    bin_of = f"case {cases} else {len(edges)} end" if edges else "0"
    counts = [0] * (len(edges) + 1)
    binned = warehouse.query(f"select {bin_of} as bin, count(*) as n from ({source}) s group by 1")
    for b, n in binned.itertuples(index=False):
        counts[int(b)] = int(n)
    basket = ("case when n = 1 then '1' when n = 2 then '2' when n = 3 then '3' when n <= 5 then '4-5' "
              "when n <= 9 then '6-9' else '10+' end")
    baskets = warehouse.query(
        f"select {basket} as bin, count(*) as baskets from "
        f"(select customer_id, t_dat, count(*) as n from ({source}) s group by customer_id, t_dat) b group by 1")
    channels = warehouse.query(
        f"select cast(sales_channel_id as varchar) as channel, count(*) as n from ({source}) s group by 1")
    return LoadProfile(
        rows=rows, days=days, first_day=first, last_day=last, price_edges=edges, price_counts=tuple(counts),
        basket_counts={str(b): int(n) for b, n in baskets.itertuples(index=False)},
        channel_counts={str(c): int(n) for c, n in channels.itertuples(index=False)},
    )


def unknowns(warehouse, source: str) -> Unknowns:
    """How many lines of ``source`` name a customer or article missing from the raw tables (keys are
    unique there, so the left joins keep one row per line)."""
    row = warehouse.query(
        "select count(*) as n, count(*) - count(c.customer_id) as customers, "
        "count(*) - count(a.article_id) as articles "
        f"from ({source}) s "
        f"left join {RAW_SCHEMA}.{CUSTOMERS.name} c on c.customer_id = s.customer_id "
        f"left join {RAW_SCHEMA}.{ARTICLES.name} a on a.article_id = s.article_id").iloc[0]
    return Unknowns(rows=int(row.iloc[0]), customers=int(row.iloc[1]), articles=int(row.iloc[2]))


def weeks_before(day: str, weeks: int) -> tuple[date, date]:
    """[start, end) of the ``weeks`` whole weeks ending the day before ``day``."""
    end = date.fromisoformat(day)
    return end - timedelta(days=7 * weeks), end


def last_week(last_day: str) -> tuple[date, date]:
    """[start, end) of the seven days ending on ``last_day``."""
    end = date.fromisoformat(last_day) + timedelta(days=1)
    return end - timedelta(days=7), end
