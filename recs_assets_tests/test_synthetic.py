"""The synthetic generator: deterministic, H&M-shaped, and carrying learnable structure."""

from __future__ import annotations

import pandas as pd
import pytest

from recs_assets.ingest.schema import ARTICLES, CUSTOMERS, TRANSACTIONS
from recs_assets.ingest.synthetic import SyntheticGenerator, SyntheticSpec
from recs_assets.ingest.validation import normalize_chunk

SPEC = SyntheticSpec(scale=0.005, seed=7, customers_per_block=2_000)


@pytest.fixture(scope="module")
def data():
    g = SyntheticGenerator(SPEC)
    return g.articles, pd.concat(g.customers(), ignore_index=True), pd.concat(g.transactions(), ignore_index=True)


def test_same_seed_gives_identical_data(data):
    g = SyntheticGenerator(SPEC)
    again = (g.articles, pd.concat(g.customers(), ignore_index=True), pd.concat(g.transactions(), ignore_index=True))
    for first, second in zip(data, again):
        pd.testing.assert_frame_equal(first, second)


def test_other_seed_gives_other_data(data):
    other = SyntheticGenerator(SyntheticSpec(scale=0.005, seed=8, customers_per_block=2_000))
    tx = next(other.transactions())
    assert not tx["article_id"].head(100).equals(data[2]["article_id"].head(100))


def test_tables_have_hm_columns_and_pass_validation(data):
    articles, customers, transactions = data
    for table, frame in ((ARTICLES, articles), (CUSTOMERS, customers), (TRANSACTIONS, transactions)):
        assert list(frame.columns) == list(table.columns)
        normalize_chunk(table, frame, "synthetic", "load", pd.Timestamp("2020-01-01"))
    assert articles["article_id"].is_unique and customers["customer_id"].is_unique
    assert transactions["customer_id"].isin(customers["customer_id"]).all()
    assert transactions["article_id"].isin(articles["article_id"]).all()
    assert (transactions["price"] > 0).all()


def test_sizes_follow_scale(data):
    articles, customers, transactions = data
    assert len(customers) == SPEC.n_customers == round(1_371_980 * 0.005)
    assert len(articles) == SPEC.n_articles
    per_customer = len(transactions) / len(customers)
    assert 15 < per_customer < 35  # H&M: about 23 lines per customer


def test_streams_in_blocks_of_bounded_size():
    g = SyntheticGenerator(SyntheticSpec(scale=0.003, customers_per_block=1_000))
    blocks = list(g.customers())
    assert len(blocks) == SyntheticSpec(scale=0.003).n_customers // 1_000 + 1
    assert max(len(b) for b in blocks) <= 1_000


def test_popularity_is_heavy_tailed(data):
    articles, _, transactions = data
    counts = transactions["article_id"].value_counts()
    top_share = counts.head(len(articles) // 100).sum() / len(transactions)
    assert top_share > 0.10  # the top 1% of articles sell >10x their uniform share
    assert counts.iloc[0] > 20 * counts.median()


def test_age_groups_buy_different_things(data):
    _, customers, transactions = data
    tx = transactions.merge(customers[["customer_id", "age"]], on="customer_id")
    articles = data[0].set_index("article_id")
    tx["type"] = articles.loc[tx["article_id"], "product_type_name"].to_numpy()
    young = tx.loc[tx["age"] < 25, "type"].value_counts(normalize=True)
    old = tx.loc[tx["age"] > 50, "type"].value_counts(normalize=True)
    total_variation = 0.5 * young.subtract(old, fill_value=0).abs().sum()
    assert total_variation > 0.1


def test_customers_repeat_purchases(data):
    tx = data[2].drop_duplicates().sort_values("t_dat", kind="stable")
    first_days = tx.groupby(["customer_id", "article_id"])["t_dat"].transform("min")
    repeat_share = (tx["t_dat"] > first_days).mean()
    assert repeat_share > 0.1


def test_seasonality_moves_swimwear_to_summer(data):
    articles, _, transactions = data
    swim = set(articles.loc[articles["product_group_name"] == "Swimwear", "article_id"])
    month = transactions["t_dat"].dt.month
    is_swim = transactions["article_id"].isin(swim)
    assert is_swim[month == 6].mean() > 2 * is_swim[month == 12].mean()


def test_about_two_years_of_dates(data):
    days = data[2]["t_dat"]
    assert days.min() == pd.Timestamp("2018-09-20")
    assert 700 <= (days.max() - days.min()).days <= 734


def test_prices_are_per_article(data):
    articles, _, transactions = data
    base = transactions.groupby("article_id")["price"].max()
    spread = transactions.groupby("article_id")["price"].min() / base
    assert (spread >= 0.69).all()  # only the sale discount varies an article's price
    assert base.nunique() > len(articles) // 2


def test_rejects_nonpositive_scale():
    with pytest.raises(ValueError, match="scale"):
        SyntheticSpec(scale=0)


def test_the_week_after_follows_the_history():
    generator = SyntheticGenerator(SyntheticSpec(scale=0.001, seed=4))
    history = pd.concat(list(generator.transactions()), ignore_index=True)
    week = pd.concat(list(generator.week_after()), ignore_index=True)
    again = pd.concat(list(SyntheticGenerator(SyntheticSpec(scale=0.001, seed=4)).week_after()), ignore_index=True)
    pd.testing.assert_frame_equal(week, again)  # deterministic
    last = history["t_dat"].max()
    assert week["t_dat"].min() == last + pd.Timedelta(days=1) and week["t_dat"].max() == last + pd.Timedelta(days=7)
    assert set(week["customer_id"]) <= set(history["customer_id"])
    assert set(week["article_id"]) <= set(generator.articles["article_id"])
    normalize_chunk(TRANSACTIONS, week, "week.csv", "w", pd.Timestamp("2020-09-30"))  # a valid transactions file
    # about as many purchases as a week of the history, and as many of them re-buys of what was bought before
    weekly = len(history[history["t_dat"] > last - pd.Timedelta(days=7)])
    assert 0.5 * weekly < len(week) < 1.5 * weekly
    before = set(zip(history["customer_id"], history["article_id"]))
    rebought = sum(pair in before for pair in zip(week["customer_id"], week["article_id"])) / len(week)
    tail = history[history["t_dat"] > last - pd.Timedelta(days=7)]
    earlier = set(zip(*history[history["t_dat"] <= last - pd.Timedelta(days=7)][["customer_id", "article_id"]].T.values))
    tail_rebought = sum(pair in earlier for pair in zip(tail["customer_id"], tail["article_id"])) / len(tail)
    assert abs(rebought - tail_rebought) < 0.2
