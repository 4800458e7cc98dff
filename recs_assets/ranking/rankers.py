"""Rankers behind one interface: fit on labelled candidate groups (one group per customer and
window), score candidates, report feature importance, save and load.

Two kinds: ``lightgbm`` (``LGBMRanker``, LambdaRank, early-stopped on held-out customers) and
``merlin`` (Merlin Models' DLRM, a binary classifier over the same features). Both see only
FEATURES; ids never reach a model.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd

from recs_assets.ranking.compiled import COMPILE_MIN_ROWS, compile_lightgbm
from recs_assets.ranking.features import FEATURES


class Ranker(Protocol):
    kind: str
    params: dict

    def fit(self, train: pd.DataFrame, valid: pd.DataFrame) -> "Ranker": ...
    def score(self, frame: pd.DataFrame) -> np.ndarray: ...
    def importance(self) -> dict[str, float]: ...
    def save(self, out_dir: str | Path) -> None: ...


def _groups(frame: pd.DataFrame) -> np.ndarray:
    """Sizes of consecutive (window, customer) groups; ``frame`` must be sorted by them."""
    keys = frame["window"].astype(str) + "|" + frame["customer_id"].astype(str)
    change = np.r_[True, keys.to_numpy()[1:] != keys.to_numpy()[:-1]]
    return np.diff(np.r_[np.flatnonzero(change), len(frame)])


def with_positives(frame: pd.DataFrame) -> pd.DataFrame:
    """Only the groups (window, customer) with at least one bought candidate: the others carry no
    ranking signal for LambdaRank."""
    has = frame.groupby(["window", "customer_id"])["label"].transform("max") > 0
    return frame[has].sort_values(["window", "customer_id"], kind="stable").reset_index(drop=True)


@dataclass
class LightGBMRanker:
    params: dict = field(default_factory=dict)
    kind: str = "lightgbm"
    model: object = None
    best_iteration: int = 0

    DEFAULTS = {"objective": "lambdarank", "n_estimators": 400, "learning_rate": 0.05, "num_leaves": 31,
                "min_child_samples": 20, "colsample_bytree": 0.8, "subsample": 0.8, "subsample_freq": 1,
                "lambdarank_truncation_level": 20, "verbose": -1, "random_state": 7, "n_jobs": 2}

    def fit(self, train: pd.DataFrame, valid: pd.DataFrame) -> "LightGBMRanker":
        import lightgbm as lgb

        train, valid = with_positives(train), with_positives(valid)
        self.model = lgb.LGBMRanker(**{**self.DEFAULTS, **self.params})
        self.model.fit(
            train[FEATURES], train["label"], group=_groups(train),
            eval_X=(valid[FEATURES],), eval_y=(valid["label"],), eval_group=[_groups(valid)], eval_at=[12],
            callbacks=[lgb.early_stopping(30, verbose=False)],
        )
        self.best_iteration = int(self.model.best_iteration_ or self.model.n_estimators)
        return self

    def score(self, frame: pd.DataFrame) -> np.ndarray:
        return self.model.predict(frame[FEATURES], num_iteration=self.best_iteration)

    def importance(self) -> dict[str, float]:
        gains = self.model.booster_.feature_importance(importance_type="gain")
        total = gains.sum() or 1.0
        return {f: float(g / total) for f, g in sorted(zip(FEATURES, gains), key=lambda x: -x[1])}

    def save(self, out_dir: str | Path) -> None:
        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        self.model.booster_.save_model(str(out_dir / "lightgbm.txt"), num_iteration=self.best_iteration)
        (out_dir / "ranker.json").write_text(json.dumps({"kind": self.kind, "params": self.params,
                                                          "features": FEATURES}))


@dataclass
class _LoadedLightGBM:
    """A saved LightGBM ranker; from the first frame of ``compile_min_rows`` rows on it scores with the
    model compiled to C (``ranking.compiled``: same scores), else with LightGBM. ``engine`` says which."""
    booster: object
    params: dict
    model_file: Path | None = None
    compile_min_rows: int = COMPILE_MIN_ROWS
    kind: str = "lightgbm"
    engine: str = "lightgbm"
    compiled: object = None

    def score(self, frame: pd.DataFrame) -> np.ndarray:
        if self.compiled is None and self.engine == "lightgbm" and self.model_file is not None \
                and len(frame) >= self.compile_min_rows:
            try:
                self.compiled, self.engine = compile_lightgbm(self.model_file), "compiled (treelite)"
            except Exception as exc:  # e.g. no C compiler: LightGBM scores the same, slower
                self.engine = f"lightgbm (compile failed: {type(exc).__name__}: {exc})"
        if self.compiled is not None:
            return self.compiled.predict(frame[FEATURES].to_numpy(dtype=np.float32))
        return self.booster.predict(frame[FEATURES])


def load_ranker(in_dir: str | Path, compile_min_rows: int = COMPILE_MIN_ROWS):
    """A saved ranker, ready to ``score`` (a LightGBM one compiles itself for frames of
    ``compile_min_rows`` rows or more)."""
    in_dir = Path(in_dir)
    meta = json.loads((in_dir / "ranker.json").read_text())
    if meta["features"] != FEATURES:
        raise ValueError(f"ranker in {in_dir} was trained on other features; retrain it")
    if meta["kind"] == "lightgbm":
        import lightgbm as lgb

        model_file = in_dir / "lightgbm.txt"
        return _LoadedLightGBM(lgb.Booster(model_file=str(model_file)), meta["params"], model_file, compile_min_rows)
    if meta["kind"] == "merlin":
        from recs_assets.ranking.merlin_ranker import MerlinRanker

        return MerlinRanker.load(in_dir, meta["params"])
    raise ValueError(f"unknown ranker kind {meta['kind']!r} in {in_dir}")


def make_ranker(kind: str, params: dict | None = None) -> Ranker:
    if kind == "lightgbm":
        return LightGBMRanker(dict(params or {}))
    if kind == "merlin":
        from recs_assets.ranking.merlin_ranker import MerlinRanker

        return MerlinRanker(dict(params or {}))
    raise ValueError(f"ranker kind {kind!r} is not one of 'lightgbm', 'merlin'")
