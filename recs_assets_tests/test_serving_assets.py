"""Top-k for every customer from the gated best model, then published to the cache: end to end."""

from __future__ import annotations

import pytest
from dagster import materialize

from recs_assets.serving.cache import SQLiteCache
from recs_assets_tests.helpers import all_assets, metadata

SERVING = ["evaluation", "recommendations", "served_recommendations"]


@pytest.fixture(scope="module")
def served(trained_pipeline, tmp_path_factory):
    p = trained_pipeline
    cache = SQLiteCache(path=str(tmp_path_factory.mktemp("serving") / "cache.sqlite"))
    resources = {**p["resources"], "cache": cache}
    first = materialize(all_assets(), selection=SERVING, resources=resources, instance=p["instance"])
    again = materialize(all_assets(), selection=["served_recommendations"], resources=resources, instance=p["instance"])
    return {"first": first, "again": again, "cache": cache, **p}


def test_every_known_customer_gets_k_items(served):
    warehouse = served["resources"]["warehouse"]
    train = warehouse.query("select customer_id, article_id from marts.train_transactions")
    meta = metadata(served["first"], "recommendations")
    assert meta["users"] == train["customer_id"].nunique() and meta["k"] == 12
    cache = served["cache"]
    some_user = train["customer_id"].iloc[0]
    record = cache.get(some_user)
    assert len(record["items"]) == 12 and len(set(record["items"])) == 12
    assert set(record["items"]) <= set(train["article_id"])  # candidates: the catalogue seen in training
    assert record["scores"] == sorted(record["scores"], reverse=True)


def test_publish_is_recorded_and_republishing_is_idempotent(served):
    first = metadata(served["first"], "served_recommendations")
    again = metadata(served["again"], "served_recommendations")
    assert first["rows"] == metadata(served["first"], "recommendations")["users"]
    assert again["already_current"] is True and again["version"] == first["version"]
    assert served["cache"].current_version() == first["version"]


def test_unknown_users_get_last_weeks_best_sellers(served):
    warehouse = served["resources"]["warehouse"]
    train = warehouse.query("select t_dat, article_id from marts.train_transactions")
    from recs_assets.evaluation.baselines import popular_last_week

    assert served["cache"].fallback()["items"] == popular_last_week(train, 12)


def test_exclude_purchased_removes_bought_items(served):
    from recs_assets.features.workflow import load_workflow, read_transformed
    from recs_assets.serving.topk_for_users import recommend_all

    store, warehouse = served["resources"]["model_store"], served["resources"]["warehouse"]
    best = served["best"].output_for_node("best_model")
    [workflow_key] = [p.relative_to(store.root).as_posix() for p in (store.local_path("workflows").iterdir())]
    train = warehouse.query("select * from marts.train_transactions")
    workflow_dir = store.local_path(workflow_key)
    [features] = list(store.local_path("features").iterdir())
    recs = recommend_all(store.local_path(best["model_key"]), load_workflow(workflow_dir), workflow_dir,
                         read_transformed(features / "train"), train, k=12, exclude_purchased=True, block_size=50)
    bought = train.groupby("customer_id")["article_id"].agg(set)
    overlap = [len(set(items) & bought[c]) for c, items in zip(recs["customer_id"], recs["items"])]
    assert max(overlap) == 0
    assert len(recs) == train["customer_id"].nunique()
