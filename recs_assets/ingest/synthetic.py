"""Deterministic synthetic purchase data with H&M's schema, at any scale, streamed in chunks.

The world it simulates has structure a model can learn and a popularity ranking cannot fully capture:

* **popularity** follows a power law over articles (Zipf exponent ``popularity_exponent``);
* **taste segments**: each customer belongs to one hidden segment with its own preferences over
  product types, colours and price level;
* **age effects**: a customer's segment depends on age (segments have a centre age), and so does
  the online share of purchases;
* **repeat purchases**: a share of purchases (``repeat_rate``) re-buys an article the customer bought
  before; at 0 nobody buys the same article twice (chance re-draws are dropped);
* **seasonality**: overall traffic and each product type follow the calendar (swimwear in June,
  coats in December) over about two years of dates;
* **prices** per article (from its product type), with occasional sale prices.

Article probability for segment ``s`` in month ``m`` is proportional to
``popularity_i * type_pref[s, type_i] * season[type_i, m] * colour_pref[s, colour_i] * price_i**beta_s``.
Sampling goes type-first then article-within-type, so it costs O(types) per event plus a binary search.

Customers are generated in fixed blocks, each from its own seeded random stream, so memory does not
grow with the scale and a block's output does not depend on how many blocks there are.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from recs_assets.ingest.catalogue_vocab import (
    COLOURS,
    GRAPHICAL_APPEARANCES,
    INDEXES,
    NAME_WORDS,
    PRODUCT_TYPES,
)

HM_CUSTOMERS = 1_371_980
HM_ARTICLES = 105_542
HM_TRANSACTIONS = 31_788_324


@dataclass(frozen=True)
class SyntheticSpec:
    """What to generate. ``scale=1.0`` is H&M's size; the counts have small floors for tiny scales."""

    scale: float = 0.01
    seed: int = 42
    n_segments: int = 12
    popularity_exponent: float = 1.05
    repeat_rate: float = 0.2
    duplicate_rate: float = 0.04
    start_date: str = "2018-09-20"
    days: int = 734
    customers_per_block: int = 20_000  # bounds memory: ~0.5M events per block

    def __post_init__(self) -> None:
        if not self.scale > 0:
            raise ValueError(f"scale must be positive, got {self.scale}")
        if self.days < 28:
            raise ValueError(f"days must be at least 28 (4 weeks) to split, got {self.days}")

    @property
    def n_customers(self) -> int:
        return max(200, round(HM_CUSTOMERS * self.scale))

    @property
    def n_articles(self) -> int:
        return max(150, round(HM_ARTICLES * self.scale))

    @property
    def mean_purchases(self) -> float:
        return HM_TRANSACTIONS / HM_CUSTOMERS

    @property
    def n_blocks(self) -> int:
        return -(-self.n_customers // self.customers_per_block)


def _hex_id(seed: int, kind: str, index: np.ndarray) -> list[str]:
    return [hashlib.sha256(f"{seed}:{kind}:{i}".encode()).hexdigest() for i in index]


class SyntheticGenerator:
    """Builds the catalogue and segments once; streams customers and transactions block by block."""

    def __init__(self, spec: SyntheticSpec) -> None:
        self.spec = spec
        self._rng = np.random.default_rng([spec.seed, 0])
        self._days = pd.date_range(spec.start_date, periods=spec.days, freq="D")
        self._build_segments()
        self._build_day_weights()

    # ---- catalogue ---------------------------------------------------------------------------
    @cached_property
    def articles(self) -> pd.DataFrame:
        """The article table (one row per article), H&M columns."""
        return self._catalogue[0]

    @cached_property
    def _catalogue(self) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(articles, type index, colour index, popularity, price) per article."""
        rng = np.random.default_rng([self.spec.seed, 1])
        n = self.spec.n_articles
        n_types = len(PRODUCT_TYPES)
        # Products carry type, index, section, graphics; articles are colour variants of products.
        n_products = max(1, int(n / 1.6))
        type_weights = rng.dirichlet(np.full(n_types, 2.0))
        product_type = rng.choice(n_types, size=n_products, p=type_weights)
        product_type[:n_types] = np.arange(n_types)[: min(n_types, n_products)]  # every type exists
        product_of_article = np.sort(
            np.concatenate([np.arange(n_products), rng.integers(0, n_products, n - n_products)])
        )
        starts = np.r_[0, np.flatnonzero(np.diff(product_of_article)) + 1]
        variant = np.arange(n) - np.repeat(starts, np.diff(np.r_[starts, n]))  # 0, 1, ... per product
        product_code = 108_775 + product_of_article * 7
        t = product_type[product_of_article]
        index_choice = rng.integers(0, len(INDEXES), n_products)[product_of_article]
        colour_freq = np.array([c[3] for c in COLOURS])
        colour = rng.choice(len(COLOURS), size=n, p=colour_freq / colour_freq.sum())
        graphics = rng.choice(len(GRAPHICAL_APPEARANCES), size=n_products, p=_geometric(7))
        base_price = np.array([p[4] for p in PRODUCT_TYPES])[t]
        price = np.round(base_price * rng.lognormal(0.0, 0.35, n_products)[product_of_article], 6)
        section = np.array(
            [INDEXES[i][2][k % len(INDEXES[i][2])] for i, k in zip(index_choice, product_of_article)]
        )
        name_word = rng.integers(0, len(NAME_WORDS), n_products)[product_of_article]
        articles = pd.DataFrame(
            {
                "article_id": product_code * 1000 + 10 + variant,
                "product_code": product_code,
                "prod_name": [f"{NAME_WORDS[w]} {PRODUCT_TYPES[k][1]}" for w, k in zip(name_word, t)],
                "product_type_no": np.array([p[0] for p in PRODUCT_TYPES])[t],
                "product_type_name": np.array([p[1] for p in PRODUCT_TYPES])[t],
                "product_group_name": np.array([p[2] for p in PRODUCT_TYPES])[t],
                "graphical_appearance_no": np.array(GRAPHICAL_APPEARANCES)[graphics[product_of_article]],
                "colour_group_code": np.array([c[0] for c in COLOURS])[colour],
                "perceived_colour_value_id": np.array([c[1] for c in COLOURS])[colour],
                "perceived_colour_master_id": np.array([c[2] for c in COLOURS])[colour],
                "department_no": 1000 + np.array([p[0] for p in PRODUCT_TYPES])[t] * 10 + index_choice,
                "index_code": np.array([ix[0] for ix in INDEXES])[index_choice],
                "index_group_no": np.array([ix[1] for ix in INDEXES])[index_choice],
                "section_no": section,
                "garment_group_no": np.array([p[3] for p in PRODUCT_TYPES])[t],
            }
        )
        # Power-law popularity over a random ranking of the articles.
        rank = rng.permutation(n) + 1
        popularity = rank.astype(float) ** -self.spec.popularity_exponent
        return articles, t, colour, popularity, price

    # ---- segments and calendar -----------------------------------------------------------------
    def _build_segments(self) -> None:
        rng = np.random.default_rng([self.spec.seed, 2])
        s, n_types = self.spec.n_segments, len(PRODUCT_TYPES)
        self.segment_age = np.sort(rng.uniform(18, 65, s))
        self.segment_prior = rng.dirichlet(np.full(s, 5.0))
        self.type_pref = rng.dirichlet(np.full(n_types, 0.35), size=s)
        self.colour_pref = rng.dirichlet(np.full(len(COLOURS), 0.5), size=s)
        self.price_beta = rng.uniform(-1.0, 0.5, s)
        # Younger segments buy online more often.
        self.online_share = np.clip(0.75 - (self.segment_age - 18) / 80, 0.1, 0.9)

    def _build_day_weights(self) -> None:
        doy = self._days.dayofyear.to_numpy()
        trend = np.linspace(1.0, 1.25, len(doy))
        yearly = 1 + 0.25 * np.cos(2 * np.pi * (doy - 180) / 365)  # summer peak
        sale = 1 + 1.5 * ((self._days.month == 11) & (self._days.day >= 22) & (self._days.day <= 30))
        weights = trend * yearly * sale
        self._day_cdf = np.cumsum(weights) / weights.sum()
        self._season = self._season_on(self._days)

    @cached_property
    def _segment_article_cdf(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Per segment, cumulative article weights with articles ordered by type.

        Returns (order, cum[s, n], type_start[n_types], type_mass[s, n_types]).
        """
        _, t, colour, popularity, price = self._catalogue
        order = np.argsort(t, kind="stable")
        weights = (
            popularity[None, order]
            * self.colour_pref[:, colour[order]]
            * price[None, order] ** self.price_beta[:, None]
        )
        cum = np.cumsum(weights, axis=1)
        n_types = len(PRODUCT_TYPES)
        type_start = np.searchsorted(t[order], np.arange(n_types), side="left")
        type_end = np.searchsorted(t[order], np.arange(n_types), side="right")
        before = np.where(type_start > 0, cum[:, np.maximum(type_start - 1, 0)], 0.0)
        type_mass = cum[:, np.maximum(type_end - 1, 0)] - before
        type_mass[:, type_end == type_start] = 0.0
        return order, cum, before, type_mass

    # ---- customers ------------------------------------------------------------------------------
    def _block(self, block: int) -> dict[str, np.ndarray]:
        """Hidden and visible attributes of one block of customers, from the block's own stream."""
        spec = self.spec
        rng = np.random.default_rng([spec.seed, 100, block])
        first = block * spec.customers_per_block
        n = min(spec.customers_per_block, spec.n_customers - first)
        young = rng.random(n) < 0.55
        age = np.where(young, rng.normal(24, 4, n), rng.normal(50, 10, n)).clip(16, 99).round()
        logits = np.log(self.segment_prior)[None, :] - (age[:, None] - self.segment_age) ** 2 / (
            2 * 10.0**2
        )
        probs = np.exp(logits - logits.max(axis=1, keepdims=True))
        probs /= probs.sum(axis=1, keepdims=True)
        segment = (rng.random(n)[:, None] > np.cumsum(probs, axis=1)).sum(axis=1)
        segment = np.minimum(segment, spec.n_segments - 1)
        extra = rng.negative_binomial(0.6, 0.6 / (0.6 + spec.mean_purchases - 1), n)
        return {
            "index": np.arange(first, first + n),
            "age": age,
            "segment": segment,
            "purchases": 1 + extra,
            "rng_state": rng,  # continue the same stream for this block's transactions
        }

    def customers(self) -> Iterator[pd.DataFrame]:
        """Customer rows, one frame per block."""
        for block in range(self.spec.n_blocks):
            b = self._block(block)
            rng = np.random.default_rng([self.spec.seed, 200, block])
            n = len(b["index"])
            fn = rng.random(n) < 0.35
            status = rng.choice(
                np.array(["ACTIVE", "PRE-CREATE", "LEFT CLUB", None], dtype=object),
                size=n,
                p=[0.93, 0.06, 0.003, 0.007],
            )
            news = np.where(fn, "Regularly", "NONE").astype(object)
            news[rng.random(n) < 0.002] = "Monthly"
            news[rng.random(n) < 0.01] = None
            n_postal = max(10, self.spec.n_customers // 4)
            postal = np.minimum(rng.zipf(1.3, n), n_postal) - 1
            age = b["age"].astype(float)
            age[rng.random(n) < 0.01] = np.nan
            yield pd.DataFrame(
                {
                    "customer_id": _hex_id(self.spec.seed, "customer", b["index"]),
                    "FN": np.where(fn, 1.0, np.nan),
                    "Active": np.where(fn & (rng.random(n) < 0.97), 1.0, np.nan),
                    "club_member_status": status,
                    "fashion_news_frequency": news,
                    "age": age,
                    "postal_code": _hex_id(self.spec.seed, "postal", postal),
                }
            )

    # ---- transactions -------------------------------------------------------------------------
    def transactions(self) -> Iterator[pd.DataFrame]:
        """Transaction rows, one frame per customer block (not in date order, like a raw extract)."""
        for block in range(self.spec.n_blocks):
            yield self._block_transactions(block)

    def _block_transactions(self, block: int) -> pd.DataFrame:
        b = self._block(block)
        rng: np.random.Generator = b["rng_state"]
        spec = self.spec
        counts = b["purchases"]
        cust = np.repeat(np.arange(len(counts)), counts)
        n_events = len(cust)
        # Visits: purchases come in baskets of about three items on one day and channel.
        visits_per_customer = np.maximum(1, np.round(counts / 3)).astype(np.int64)
        visit_offset = np.r_[0, np.cumsum(visits_per_customer)[:-1]]
        visit_day = np.searchsorted(self._day_cdf, rng.random(visits_per_customer.sum()))
        visit_day = np.minimum(visit_day, spec.days - 1)
        segment = b["segment"]
        visit_customer = np.repeat(np.arange(len(counts)), visits_per_customer)
        visit_online = rng.random(len(visit_day)) < self.online_share[segment[visit_customer]]
        visit = visit_offset[cust] + (rng.random(n_events) * visits_per_customer[cust]).astype(np.int64)
        day = visit_day[visit]
        seg = segment[cust]

        article_idx = self._sample_articles(rng, seg, day)
        # Order each customer's events by day so that repeats look back in time.
        order = np.lexsort((day, cust))
        cust, day, seg, visit, article_idx = (x[order] for x in (cust, day, seg, visit, article_idx))
        article_idx = _apply_repeats(rng, cust, day, article_idx, spec.repeat_rate)
        if spec.repeat_rate == 0:  # nobody buys an article twice: drop chance re-draws of one already bought
            first = ~pd.DataFrame({"c": cust, "a": article_idx}).duplicated().to_numpy()
            cust, day, seg, visit, article_idx = (x[first] for x in (cust, day, seg, visit, article_idx))
            n_events = len(cust)

        articles, *_ = self._catalogue
        price = self._catalogue[4][article_idx] * np.where(rng.random(n_events) < 0.15, 0.7, 1.0)
        frame = pd.DataFrame(
            {
                "t_dat": self._days[day],
                "customer_id": np.asarray(_hex_id(spec.seed, "customer", b["index"]), dtype=object)[cust],
                "article_id": articles["article_id"].to_numpy()[article_idx],
                "price": np.round(price, 6),
                "sales_channel_id": np.where(visit_online[visit], 2, 1),
            }
        )
        duplicated = frame[rng.random(n_events) < spec.duplicate_rate]  # two units: two rows
        return pd.concat([frame, duplicated], ignore_index=True)

    def week_after(self) -> Iterator[pd.DataFrame]:
        """Purchases of the 7 days after the generated ones, one frame per customer block: the same
        customers, tastes and seasons, each customer visiting at the rate of their own history, and
        re-buying (at ``repeat_rate``) articles their generated history really holds."""
        spec = self.spec
        dates = pd.date_range(self._days[-1] + pd.Timedelta(days=1), periods=7, freq="D")
        season = self._season_on(dates)
        articles, *_ = self._catalogue
        for block in range(spec.n_blocks):
            b, history = self._block(block), self._block_transactions(block)
            rng = np.random.default_rng([spec.seed, 300, block])
            visits = rng.poisson(np.maximum(1, np.round(b["purchases"] / 3)) * 7 / spec.days)
            visit_customer = np.repeat(np.arange(len(visits)), visits)
            basket = 1 + rng.poisson(2, len(visit_customer))
            cust = np.repeat(visit_customer, basket)
            day = np.repeat(rng.integers(0, 7, len(visit_customer)), basket)
            online = np.repeat(rng.random(len(visit_customer)) < self.online_share[b["segment"][visit_customer]], basket)
            article_idx = self._sample_articles(rng, b["segment"][cust], day, season)
            ids = np.asarray(_hex_id(spec.seed, "customer", b["index"]), dtype=object)
            bought = history.assign(c=pd.Index(ids).get_indexer(history["customer_id"]),
                                    a=pd.Index(articles["article_id"]).get_indexer(history["article_id"]))
            bought = bought.sort_values("c", kind="stable")
            starts = np.searchsorted(bought["c"].to_numpy(), np.arange(len(ids) + 1))
            owned = np.diff(starts)[cust]
            repeat = (rng.random(len(cust)) < spec.repeat_rate) & (owned > 0)
            pick = starts[cust[repeat]] + (rng.random(int(repeat.sum())) * owned[repeat]).astype(np.int64)
            article_idx[repeat] = bought["a"].to_numpy()[pick]
            price = self._catalogue[4][article_idx] * np.where(rng.random(len(cust)) < 0.15, 0.7, 1.0)
            yield pd.DataFrame({
                "t_dat": dates[day], "customer_id": ids[cust], "article_id": articles["article_id"].to_numpy()[article_idx],
                "price": np.round(price, 6), "sales_channel_id": np.where(online, 2, 1),
            })

    def _season_on(self, dates: pd.DatetimeIndex) -> np.ndarray:
        """season[type, day] for ``dates``: each product type's multiplier on each day."""
        doy = dates.dayofyear.to_numpy()
        peak = np.array([p[5] if p[5] is not None else 0 for p in PRODUCT_TYPES])
        amp = np.array([p[6] for p in PRODUCT_TYPES])
        return 1 + amp[:, None] * np.cos(2 * np.pi * (doy[None, :] - peak[:, None]) / 365)

    def _sample_articles(self, rng: np.random.Generator, seg: np.ndarray, day: np.ndarray,
                         season: np.ndarray | None = None) -> np.ndarray:
        order, cum, before, type_mass = self._segment_article_cdf
        season = self._season if season is None else season
        type_w = self.type_pref[seg] * season[:, day].T * type_mass[seg]
        type_cdf = np.cumsum(type_w, axis=1)
        u = rng.random(len(seg)) * type_cdf[:, -1]
        chosen_type = np.minimum((u[:, None] > type_cdf).sum(axis=1), type_cdf.shape[1] - 1)
        target = before[seg, chosen_type] + rng.random(len(seg)) * type_mass[seg, chosen_type]
        pos = np.empty(len(seg), dtype=np.int64)
        for s in np.unique(seg):
            rows = seg == s
            pos[rows] = np.searchsorted(cum[s], target[rows], side="right")
        return order[np.minimum(pos, len(order) - 1)]


def _geometric(k: int) -> np.ndarray:
    p = 0.5 ** np.arange(k)
    return p / p.sum()


def _apply_repeats(
    rng: np.random.Generator, cust: np.ndarray, day: np.ndarray, article: np.ndarray, rate: float
) -> np.ndarray:
    """Turn a share of events into re-purchases of an article the same customer bought on an earlier day.

    Events must be sorted by (customer, day). A repeat copies a uniformly chosen earlier *fresh*
    (non-repeat) event of that customer, so every repeat names an article really bought before.
    """
    n = len(cust)
    if n == 0:
        return article
    cust_start = np.r_[0, np.flatnonzero(np.diff(cust)) + 1]
    start_of = np.repeat(cust_start, np.diff(np.r_[cust_start, n]))
    # Earlier fresh events only count when on an earlier day than this event.
    want_repeat = rng.random(n) < rate
    fresh = ~want_repeat
    fresh_cum = np.cumsum(fresh)  # fresh events up to and including i
    fresh_before_cust = np.where(start_of > 0, fresh_cum[start_of - 1], 0)
    # Fresh events of this customer on days strictly before day[i]: first index of this (cust, day).
    first_same_day = np.r_[0, np.flatnonzero((np.diff(cust) != 0) | (np.diff(day) != 0)) + 1]
    first_of = np.repeat(first_same_day, np.diff(np.r_[first_same_day, n]))
    fresh_earlier = np.where(first_of > 0, fresh_cum[first_of - 1], 0) - fresh_before_cust
    fresh_earlier = np.where(first_of > start_of, fresh_earlier, 0)
    repeat = want_repeat & (fresh_earlier > 0)
    fresh_positions = np.flatnonzero(fresh)
    pick = fresh_before_cust + (rng.random(n) * fresh_earlier).astype(np.int64)
    out = article.copy()
    out[repeat] = article[fresh_positions[pick[repeat]]]
    return out
