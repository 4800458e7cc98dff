"""The ranked top-k for every customer, from every purchase up to the last day, published to the
cache: end to end on a trained two-tower, candidates and ranker."""

from __future__ import annotations

import pandas as pd
import pytest
from dagster import materialize

from recs_assets.resources.promotion_policy import PromotionPolicy
from recs_assets.serving.cache import SQLiteCache
from recs_assets_tests.helpers import all_assets, metadata

SERVING = ["evaluation", "recommendations", "served_recommendations"]
# Serving mechanics are under test here, not model quality (the gate has its own tests): a gate that
# reports without refusing, so the ranker's lists are always published.
OPEN_GATE = PromotionPolicy(enforce=False, max_mred={})


@pytest.fixture(scope="module")
def served(staged_pipeline, tmp_path_factory):
    p = staged_pipeline
    cache = SQLiteCache(path=str(tmp_path_factory.mktemp("serving") / "cache.sqlite"))
    resources = {**p["resources"], "cache": cache, "promotion": OPEN_GATE}
    first = materialize(all_assets(), selection=SERVING, resources=resources, instance=p["instance"])
    again = materialize(all_assets(), selection=["served_recommendations"], resources=resources, instance=p["instance"])
    return {"first": first, "again": again, "cache": cache, **p}


def _purchases(served) -> pd.DataFrame:
    return served["resources"]["warehouse"].query("select customer_id, article_id, t_dat from marts.transactions_dedup")


def test_every_customer_with_a_purchase_gets_k_items(served):
    purchases = _purchases(served)
    meta = metadata(served["first"], "recommendations")
    assert meta["users"] == purchases["customer_id"].nunique() and meta["k"] == 12
    for customer in purchases["customer_id"].drop_duplicates().sample(20, random_state=0):
        record = served["cache"].get(customer)
        assert len(record["items"]) == 12 and len(set(record["items"])) == 12
        assert record["scores"] == sorted(record["scores"], reverse=True)


def test_serving_uses_purchases_after_the_train_split(served):
    warehouse = served["resources"]["warehouse"]
    bounds = warehouse.query("select * from marts.split_boundaries").iloc[0]
    purchases = _purchases(served)
    meta = metadata(served["first"], "recommendations")
    assert meta["data_through"] == str(pd.Timestamp(bounds["last_date"]).date())
    # customers whose first purchase is in the validation or test weeks: unknown to train, yet served
    first = purchases.groupby("customer_id")["t_dat"].min()
    late = first[pd.to_datetime(first) >= pd.Timestamp(bounds["validation_start"])].index
    assert len(late) > 0
    assert all(served["cache"].get(c) is not None for c in late[:20])
    # the fallback is the best sellers of the last week of data, not of train
    last = pd.to_datetime(purchases["t_dat"])
    week = purchases[last > last.max() - pd.Timedelta(days=7)]
    counts = week.groupby("article_id").size().reset_index(name="n").sort_values(["n", "article_id"],
                                                                                   ascending=[False, True])
    assert served["cache"].fallback()["items"] == counts["article_id"].head(12).tolist()


def test_publish_is_recorded_and_republishing_is_idempotent(served):
    first = metadata(served["first"], "served_recommendations")
    again = metadata(served["again"], "served_recommendations")
    assert first["rows"] == metadata(served["first"], "recommendations")["users"]
    assert again["already_current"] is True and again["version"] == first["version"]
    assert served["cache"].current_version() == first["version"]


def test_exclude_purchased_removes_everything_bought(served, tmp_path):
    p = served
    run = {"ops": {"recommendations": {"config": {"exclude_purchased": True}}}}
    result = materialize(all_assets(), selection=["recommendations"], resources={**p["resources"], "promotion": OPEN_GATE},
                         instance=p["instance"], run_config=run)
    value = result.output_for_node("recommendations")
    recs = pd.read_parquet(p["resources"]["model_store"].local_path(value.key) / "recommendations.parquet")
    bought = _purchases(served).groupby("customer_id")["article_id"].agg(set)
    assert max(len(set(items) & bought.get(c, set())) for c, items in zip(recs["customer_id"], recs["items"])) == 0
    assert len(recs) == len(bought)
