"""The Merlin Models kind of ranker: DLRM, a binary classifier of "bought in the label week" over the
same candidate features (TensorFlow and Merlin imported inside: slow imports).

Continuous features are standardised with train statistics, NaN (a source that did not propose the
pair, a pair never bought) becomes 0 plus a 0/1 "present" column; the article's categorical codes
get embeddings. Early stopping keeps the epoch with the best holdout loss.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from recs_assets.ranking.features import FEATURES

CATEGORICAL = ["product_type_no", "colour_group_code", "index_group_no", "garment_group_no"]
CONTINUOUS = [f for f in FEATURES if f not in CATEGORICAL]
HASH_BUCKETS = 1024  # categorical codes are hashed into this many embedding rows


@dataclass
class MerlinRanker:
    params: dict = field(default_factory=dict)
    kind: str = "merlin"
    model: object = None
    stats: dict = field(default_factory=dict)

    DEFAULTS = {"epochs": 3, "learning_rate": 0.005, "batch_size": 4096, "embedding_dim": 16, "seed": 7}

    def _frame(self, frame: pd.DataFrame, label: bool) -> pd.DataFrame:
        out = {}
        for c in CONTINUOUS:
            values = frame[c].to_numpy(dtype="float64")
            present = ~np.isnan(values)
            mean, std = self.stats[c]
            out[c] = np.where(present, (values - mean) / std, 0.0).astype("float32")
            out[f"{c}_present"] = present.astype("float32")
        for c in CATEGORICAL:
            out[c] = (np.nan_to_num(frame[c].to_numpy(dtype="float64"), nan=-1).astype("int64") % HASH_BUCKETS)
        if label:
            out["label"] = frame["label"].to_numpy(dtype="float32")
        return pd.DataFrame(out)

    def _schema(self, label: bool):
        from merlin.schema import ColumnSchema, Schema, Tags

        columns = [ColumnSchema(c, tags=[Tags.CONTINUOUS], dtype=np.float32)
                   for base in CONTINUOUS for c in (base, f"{base}_present")]
        columns += [ColumnSchema(c, tags=[Tags.CATEGORICAL, Tags.ITEM], dtype=np.int64,
                                 properties={"domain": {"min": 0, "max": HASH_BUCKETS - 1, "name": c}})
                    for c in CATEGORICAL]
        if label:
            columns.append(ColumnSchema("label", tags=[Tags.TARGET, Tags.BINARY_CLASSIFICATION], dtype=np.float32))
        return Schema(columns)

    def _dataset(self, frame: pd.DataFrame, label: bool):
        import merlin.io

        return merlin.io.Dataset(self._frame(frame, label), schema=self._schema(label), cpu=True)

    def fit(self, train: pd.DataFrame, valid: pd.DataFrame) -> "MerlinRanker":
        import merlin.models.tf as mm
        import tensorflow as tf

        p = {**self.DEFAULTS, **self.params}
        tf.keras.utils.set_random_seed(p["seed"])
        for c in CONTINUOUS:
            values = train[c].to_numpy(dtype="float64")
            mean = float(np.nanmean(values)) if np.isfinite(values).any() else 0.0
            std = float(np.nanstd(values)) if np.isfinite(values).any() else 1.0
            self.stats[c] = (mean, std if std > 0 else 1.0)
        train_ds, valid_ds = self._dataset(train, True), self._dataset(valid, True)
        dim = p["embedding_dim"]
        self.model = mm.DLRMModel(
            train_ds.schema, embedding_dim=dim, bottom_block=mm.MLPBlock([64, dim]),
            top_block=mm.MLPBlock([64, 32]), prediction_tasks=mm.BinaryOutput("label"),
        )
        self.model.compile(optimizer=tf.keras.optimizers.legacy.Adam(p["learning_rate"]))
        stop = tf.keras.callbacks.EarlyStopping(monitor="val_loss", patience=1, restore_best_weights=True)
        self.model.fit(mm.Loader(train_ds, batch_size=p["batch_size"], shuffle=True), epochs=p["epochs"],
                       validation_data=mm.Loader(valid_ds, batch_size=p["batch_size"], shuffle=False),
                       callbacks=[stop], verbose=0)
        return self

    def score(self, frame: pd.DataFrame) -> np.ndarray:
        import merlin.models.tf as mm

        loader = mm.Loader(self._dataset(frame, False), batch_size=self.params.get("batch_size", 4096), shuffle=False)
        return np.asarray(self.model.predict(loader, verbose=0)).reshape(-1)[: len(frame)]

    def importance(self) -> dict[str, float]:
        """Not computed for this kind (no cheap equivalent of LightGBM's gain); empty."""
        return {}

    def save(self, out_dir: str | Path) -> None:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        self.model.save(str(out_dir / "dlrm"))
        (out_dir / "ranker.json").write_text(json.dumps({"kind": self.kind, "params": self.params,
                                                          "features": FEATURES, "stats": self.stats}))

    @classmethod
    def load(cls, in_dir: str | Path, params: dict) -> "MerlinRanker":
        import merlin.models.tf  # noqa: F401  (registers Merlin's layers)
        import tensorflow as tf

        in_dir = Path(in_dir)
        meta = json.loads((in_dir / "ranker.json").read_text())
        ranker = cls(params, stats={k: tuple(v) for k, v in meta["stats"].items()})
        ranker.model = tf.keras.models.load_model(str(in_dir / "dlrm"))
        return ranker
