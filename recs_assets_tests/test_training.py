"""Features and training through Dagster on tiny synthetic data: real NVTabular, real Merlin models."""

from __future__ import annotations

import glob
import json
import os

import numpy as np
import pandas as pd
import pytest

from recs_assets.core.topk import top_k
from recs_assets.features.workflow import OOV_INDEX, load_workflow, prepare_features, read_transformed
from recs_assets.training.grid import GRID, Hyperparameters
from recs_assets.training.selection import comparison_table, select_best
from recs_assets_tests.helpers import TRAINED
from recs_assets_tests.helpers import metadata as _metadata


def _artifacts(pattern: str) -> list[str]:
    """The artifact folders matching ``pattern`` in a local model store (a key is a link to its current
    version's folder, and both match: each counted once)."""
    return sorted({os.path.realpath(p) for p in glob.glob(pattern)})


@pytest.fixture(scope="module")
def pipeline(trained_pipeline):
    return trained_pipeline


def test_workflow_is_fit_on_train_rows_only(pipeline):
    warehouse, store = pipeline["resources"]["warehouse"], pipeline["resources"]["model_store"]
    train = warehouse.query("select * from marts.train_transactions")
    held_out = warehouse.query(
        "select * from marts.validation_transactions union all select * from marts.test_transactions"
    )
    [workflow_dir] = _artifacts(f"{store.root}/workflows/*")
    vocab = pd.read_parquet(f"{workflow_dir}/workflow/categories/unique.article_id.parquet")
    assert set(vocab["article_id"].dropna()) == set(train["article_id"])
    users = pd.read_parquet(f"{workflow_dir}/workflow/categories/unique.customer_id.parquet")
    assert set(users["customer_id"].dropna()) == set(train["customer_id"])
    # Average prices are the train-only ones; with held-out rows they would differ for some items.
    stats = pd.read_parquet(f"{workflow_dir}/workflow/categories/cat_stats.article_id.parquet")
    train_mean = train.groupby("article_id")["price"].mean()
    all_mean = pd.concat([train, held_out]).groupby("article_id")["price"].mean().loc[train_mean.index]
    assert ((all_mean - train_mean) / train_mean).abs().max() > 1e-3, "fixture cannot tell the fits apart"
    got = stats.set_index("article_id")["article_id_price_mean"].loc[train_mean.index]
    np.testing.assert_allclose(got.to_numpy(), train_mean.to_numpy(), rtol=1e-6)  # stored as float32


def test_unseen_values_map_to_out_of_vocabulary(pipeline):
    warehouse, store = pipeline["resources"]["warehouse"], pipeline["resources"]["model_store"]
    import nvtabular as nvt

    [workflow_dir] = _artifacts(f"{store.root}/workflows/*")
    rows = warehouse.query("select * from marts.test_transactions limit 2")
    rows.loc[0, "article_id"] = 999_999_999
    rows.loc[1, "customer_id"] = "never-seen"
    rows.loc[1, "postal_code"] = "no-such-postcode"
    out = load_workflow(workflow_dir).transform(nvt.Dataset(prepare_features(rows), cpu=True)).to_ddf().compute()
    assert out.loc[0, "article_id"] == OOV_INDEX
    assert out.loc[1, "customer_id"] == OOV_INDEX and out.loc[1, "postal_code"] == OOV_INDEX


def test_transformed_splits_carry_a_merlin_schema(pipeline):
    store = pipeline["resources"]["model_store"]
    from merlin.schema import Tags

    [features] = _artifacts(f"{store.root}/features/*")
    train = read_transformed(f"{features}/train")
    assert train.schema.select_by_tag(Tags.USER_ID).column_names == ["customer_id"]
    assert train.schema.select_by_tag(Tags.ITEM_ID).column_names == ["article_id"]
    assert "purchase_month" in train.schema.select_by_tag(Tags.CONTEXT).column_names
    assert "article_id_price_mean" in train.schema.select_by_tag(Tags.ITEM).column_names


def test_each_partition_trains_and_records_metrics(pipeline):
    for key, result in pipeline["trained"].items():
        assert result.success
        meta = _metadata(result, "trained_model")
        assert meta["hyperparameters"]["learning_rate"] == next(p for p in GRID if p.key == key).learning_rate
        assert meta["examples_per_second"] > 0 and meta["train_seconds"] > 0
        losses = meta["loss_per_epoch"]
        assert losses[-1] < losses[0], f"{key}: loss did not move, the model learned nothing"
        # better than chance: chance recall@12 is about 12 / number of candidate items
        assert meta["recall_at_12"] > 2 * 12 / meta["candidate_items"]


def test_wandb_offline_runs_are_written(pipeline):
    runs = glob.glob(f"{pipeline['root']}/wandb/offline-run-*")
    assert len(runs) >= len(TRAINED) + 1  # one per partition and the comparison
    meta = _metadata(pipeline["trained"][TRAINED[0]], "trained_model")
    assert "offline-run-" in meta["wandb"]


def test_best_model_links_the_comparison_report_saved_beside_the_offline_runs(pipeline):
    import json

    meta = _metadata(pipeline["best"], "best_model")
    saved = json.loads(open(meta["wandb_report"]).read())
    assert meta["wandb_report"].startswith(str(pipeline["root"])) and saved["spec"]["best"] == meta["best_partition"]
    grid = next(b for b in saved["definition"]["blocks"] if b["type"] == "PanelGrid")
    [runs] = grid["runsets"]
    assert runs["filters"] == f"Config('features') == '{saved['spec']['features']}'"
    assert saved["spec"]["features"] == meta["features"]


def test_comparison_report_shows_the_metric_per_partition_and_per_hyperparameter():
    from recs_assets.training.report import ReportSpec, build_report, definition

    spec = ReportSpec(project="p", entity="", features="features/abc", metric="recall_at_12",
                      params=("learning_rate", "batch_size"), best="lr0.01-bs1024", reason="highest recall_at_12")
    report = definition(build_report(spec))
    kinds = [b["type"] for b in report["blocks"]]
    assert kinds == ["H1", "P", "PanelGrid"] and "lr0.01-bs1024" in report["blocks"][1]["text"]
    panels = {p["type"]: p for p in report["blocks"][2]["panels"]}
    assert set(panels) == {"BarPlot", "ParallelCoordinatesPlot", "ScatterPlot", "RunComparer"}
    assert [p for p in report["blocks"][2]["panels"] if p["type"] == "ScatterPlot"].__len__() == 2
    columns = json.dumps(panels["ParallelCoordinatesPlot"]["columns"])
    assert all(name in columns for name in ("learning_rate", "batch_size", "recall_at_12"))


def test_best_model_picks_highest_validation_metric(pipeline):
    meta = _metadata(pipeline["best"], "best_model")
    recalls = {k: _metadata(r, "trained_model")["recall_at_12"] for k, r in pipeline["trained"].items()}
    assert meta["best_partition"] == max(recalls, key=recalls.get)
    assert meta["partitions_compared"] == 2
    assert meta["partitions_missing"] == [] and len(GRID) == 2
    assert "(best)" in meta["comparison"]


def test_reloaded_model_reproduces_recorded_metrics(pipeline):
    from recs_assets.retrieval import load_towers
    from recs_assets.training.two_tower import evaluate

    store = pipeline["resources"]["model_store"]
    meta = _metadata(pipeline["trained"][TRAINED[0]], "trained_model")
    [features] = _artifacts(f"{store.root}/features/*")
    towers = load_towers(meta["model_uri"])
    train, valid = read_transformed(f"{features}/train"), read_transformed(f"{features}/validation")

    class Model:  # what evaluate() needs of a model: its two encoders
        query_encoder, candidate_encoder = towers.query, towers.candidate

    again = evaluate(Model(), train, valid, k=12)
    assert again["recall_at_12"] == pytest.approx(meta["recall_at_12"], abs=1e-9)
    assert again["ndcg_at_12"] == pytest.approx(meta["ndcg_at_12"], abs=1e-9)


def test_same_seed_same_model_and_reload_gives_same_top_k(pipeline, tmp_path):
    from recs_assets.retrieval import Towers, item_embeddings, load_towers, query_embeddings, rank
    from recs_assets.training.two_tower import save_model, train_two_tower

    store = pipeline["resources"]["model_store"]
    [features] = _artifacts(f"{store.root}/features/*")
    train, valid = read_transformed(f"{features}/train"), read_transformed(f"{features}/validation")
    params = Hyperparameters(learning_rate=0.01, batch_size=2048, epochs=1)
    first, second, other = (train_two_tower(train, params, seed=seed) for seed in (3, 3, 4))
    assert first.history["loss"] == second.history["loss"]
    saved = {name: save_model(run.model, tmp_path / name) for name, run in
             (("first", first), ("second", second), ("other", other))}
    assert saved["first"] == saved["second"] != saved["other"]  # the weights name the model: another one, a new key

    live = Towers.of(first.model)
    item_ids, items = item_embeddings(live.candidate, train)
    user_ids, users = query_embeddings(live.query, valid)
    expected, _ = top_k(users, items, 12)
    reloaded = load_towers(tmp_path / "first")
    item_ids2, items2 = item_embeddings(reloaded.candidate, train)
    user_ids2, users2 = query_embeddings(reloaded.query, valid)
    np.testing.assert_array_equal(item_ids, item_ids2)
    np.testing.assert_array_equal(user_ids, user_ids2)
    np.testing.assert_array_equal(top_k(users2, items2, 12)[0], expected)
    ranked = rank(reloaded, train, valid, 12)  # the one retrieval path gives the same lists
    np.testing.assert_array_equal(ranked.users, user_ids)
    np.testing.assert_array_equal(ranked.items, item_ids[expected])


def test_select_best_on_crafted_metrics():
    from recs_assets.artifacts import ModelRef, TrainedModel

    results = {
        "b": {"recall_at_12": 0.30},
        "a": {"recall_at_12": 0.30},  # tie: alphabetical first wins
        "c": {"recall_at_12": float("nan")},
        "d": {"ndcg_at_12": 0.9},  # lacks the metric
        "e": {"recall_at_12": 0.10},
    }
    best, reason = select_best(results, "recall_at_12")
    assert best == "a"
    assert "0.3000 of 3 partitions" in reason and "runner-up 0.3000" in reason
    assert select_best({"x": {"m": 1.0}}, "m")[1].endswith("the only candidate")
    with pytest.raises(ValueError, match="no trained partition has metric 'missing'"):
        select_best(results, "missing")
    models = {k: TrainedModel(ModelRef("f", k, ""), {"lr": 0.01}, 42, m, 1.5, 100.0, 0.1, "") for k, m in results.items()}
    table = comparison_table(models, "a")
    assert "**a** (best)" in table and "| 0.3000 |" in table and "| 0.01 |" in table


def _adam_steps(optimizer, batches, rows=40, dim=3):
    """An embedding table and a dense weight after Adam steps on lookups of ``batches`` (row ids)."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    table = tf.Variable(rng.normal(size=(rows, dim)).astype("float32"))
    dense = tf.Variable(rng.normal(size=(dim,)).astype("float32"))
    for batch in batches:
        with tf.GradientTape() as tape:
            looked_up = tf.gather(table, batch)  # a sparse gradient, like an embedding lookup's
            loss = tf.reduce_sum((looked_up * dense) ** 2 * np.arange(1, len(batch) + 1)[:, None])
        optimizer.apply_gradients(zip(tape.gradient(loss, [table, dense]), [table, dense]))
    return table.numpy(), dense.numpy()


def test_lazy_adam_is_adam_on_the_rows_in_the_batch_and_leaves_the_others():
    import tensorflow as tf

    from recs_assets.training.lazy_adam import lazy_adam

    every_row = [np.arange(40)] * 4
    adam, lazy = _adam_steps(tf.keras.optimizers.legacy.Adam(0.01), every_row), _adam_steps(lazy_adam(0.01), every_row)
    np.testing.assert_allclose(lazy[0], adam[0], rtol=1e-6)  # every row in every batch: Adam's result
    np.testing.assert_allclose(lazy[1], adam[1], rtol=1e-6)

    some_rows = [np.array([1, 2, 2, 7]), np.array([7, 9])]  # a repeated row: its gradients add up
    first, _ = _adam_steps(lazy_adam(0.01), some_rows[:1])
    both, _ = _adam_steps(lazy_adam(0.01), some_rows)
    untouched = np.setdiff1d(np.arange(40), [7, 9])  # by the second batch
    np.testing.assert_array_equal(both[untouched], first[untouched])
    assert not np.allclose(both[[7, 9]], first[[7, 9]])
    dense_first, _ = _adam_steps(tf.keras.optimizers.legacy.Adam(0.01), some_rows[:1])
    dense_both, _ = _adam_steps(tf.keras.optimizers.legacy.Adam(0.01), some_rows)
    assert not np.allclose(dense_both[[1, 2]], dense_first[[1, 2]])  # legacy Adam moves them on momentum
