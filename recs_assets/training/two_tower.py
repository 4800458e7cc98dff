"""Merlin ``TwoTowerModelV2`` on transformed splits: train, embed, evaluate, save, reload.

Recipe that learns on CPU: Adam (legacy optimizer; by default with lazy updates
of the embedding rows, ``lazy_adam``), in-batch negatives with
a logQ popularity correction in training, towers ``InputBlockV2 → MLP(hidden…, embedding_dim)``.
Evaluation is honest: every validation user is scored against every item seen in training
(``recs_assets.retrieval.rank``, the one retrieval path). Towers are reloaded with ``retrieval.load_towers``.
TensorFlow and Merlin are imported inside the functions (slow imports).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from recs_assets.core.metrics import K, bought_sets, ndcg_at_k, recall_at_k
from recs_assets.features.workflow import ITEM_ID, USER_ID
from recs_assets.retrieval import Towers, rank
from recs_assets.training.grid import Hyperparameters
from recs_assets.training.lazy_adam import lazy_adam


@dataclass
class TrainResult:
    model: object
    history: dict[str, list[float]]
    seconds: float
    examples: int

    @property
    def examples_per_second(self) -> float:
        return self.examples / self.seconds if self.seconds else float("nan")


def _tower(schema, params: Hyperparameters):
    import merlin.models.tf as mm

    return mm.Encoder(
        mm.InputBlockV2(schema),
        mm.MLPBlock([*params.hidden_dims, params.embedding_dim], no_activation_last_layer=True),
    )


def item_counts(train_ds) -> np.ndarray:
    """Purchases per encoded item id over train, sized to the item id's cardinality (+1 smoothing)."""
    cardinality = train_ds.schema[ITEM_ID].int_domain.max + 1
    ids = train_ds.to_ddf()[ITEM_ID].compute().to_numpy()
    return np.bincount(ids, minlength=cardinality).astype("float32") + 1.0


def train_two_tower(
    train_ds,
    params: Hyperparameters,
    seed: int,
    on_epoch_end: Callable[[int, dict], None] | None = None,
    on_progress: Callable[[int, int, float], None] | None = None,
    progress_seconds: float = 30.0,
) -> TrainResult:
    """Fit a two-tower model; ``on_epoch_end(epoch, logs)`` is called after every epoch and
    ``on_progress(batches_done, batches_total, seconds)`` at most every ``progress_seconds``."""
    import merlin.models.tf as mm
    import tensorflow as tf
    from merlin.models.tf.transforms.bias import PopularityLogitsCorrection
    from merlin.schema import Tags

    tf.keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
    schema = train_ds.schema
    item_schema = schema.select_by_tag(Tags.ITEM)
    query, candidate = _tower(schema.select_by_tag(Tags.USER), params), _tower(item_schema, params)
    extra = {}
    if params.logq_correction:
        extra = {"post": PopularityLogitsCorrection(item_counts(train_ds), schema=item_schema),
                 "store_negative_ids": True}
    model = mm.TwoTowerModelV2(query, candidate, **extra)
    adam = lazy_adam if params.lazy_adam else tf.keras.optimizers.legacy.Adam
    optimizer = adam(params.learning_rate)
    model.compile(optimizer=optimizer, metrics=[])

    loader = mm.Loader(train_ds, batch_size=params.batch_size, shuffle=True)
    rows = int(train_ds.to_ddf().shape[0].compute())
    total = -(-rows // params.batch_size) * params.epochs

    class _Report(tf.keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.done, self.last = 0, time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            self.done += 1
            now = time.perf_counter()
            if on_progress and now - self.last >= progress_seconds:
                self.last = now
                on_progress(self.done, total, now - start)

        def on_epoch_end(self, epoch, logs=None):
            if on_epoch_end:
                on_epoch_end(epoch, {k: float(v) for k, v in (logs or {}).items()})

    start = time.perf_counter()
    history = model.fit(loader, epochs=params.epochs, verbose=0, callbacks=[_Report()])
    seconds = time.perf_counter() - start
    examples = rows * params.epochs
    return TrainResult(model, {k: [float(x) for x in v] for k, v in history.history.items()}, seconds, examples)


def relevant_items(split_ds, user_ids: np.ndarray) -> list[set]:
    """Per user (in ``user_ids`` order), the set of encoded items bought in the split."""
    frame = split_ds.to_ddf()[[USER_ID, ITEM_ID]].compute()
    bought = bought_sets(frame, USER_ID, ITEM_ID)
    return [bought.get(u, set()) for u in user_ids]


def evaluate(model, train_ds, eval_ds, k: int = K) -> dict[str, float]:
    """Recall@k and NDCG@k of every eval user against every item seen in training."""
    ranked = rank(Towers.of(model), train_ds, eval_ds, k)
    relevant = relevant_items(eval_ds, ranked.users)
    return {
        f"recall_at_{k}": recall_at_k(ranked.items, relevant, k),
        f"ndcg_at_{k}": ndcg_at_k(ranked.items, relevant, k),
        "eval_users": float(len(ranked.users)),
        "candidate_items": float(len(ranked.catalogue_ids)),
    }


def save_model(model, out_dir: str | Path) -> str:
    """Save the towers (what serving needs) under ``out_dir/query_tower`` and ``candidate_tower``;
    returns the fingerprint of their weights (``artifacts.weights_fingerprint``), which names the model."""
    from recs_assets.artifacts import weights_fingerprint

    out_dir = Path(out_dir)
    model.query_encoder.save(str(out_dir / "query_tower"))
    model.candidate_encoder.save(str(out_dir / "candidate_tower"))
    return weights_fingerprint(w.numpy() for w in [*model.query_encoder.weights, *model.candidate_encoder.weights])
