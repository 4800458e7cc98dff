"""What assets hand each other: typed references to stored artifacts, their model-store keys, and the
rules about which artifacts go together.

Every artifact lives in the model store under a key built here and nowhere else. The features are named
by the fingerprint of the train split the workflow was fit on; a transformed split and a model carry
that fingerprint, so whether a model understands the current features (its item and user ids come from
one workflow's vocabulary) is a comparison of two fields, not of path strings.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np


def workflow_key(features: str) -> str:
    return f"workflows/{features}"


def split_key(features: str, split: str) -> str:
    return f"features/{features}/{split}"


def model_key(features: str, partition: str, weights: str = "") -> str:
    """A trained model's key: its features, its partition and, when known, its weights' fingerprint, so a
    retrained model (another optimiser, seed or code; the same data) never takes an earlier one's key."""
    return f"models/{features}/{partition}" + (f"/{weights}" if weights else "")


def weights_fingerprint(arrays) -> str:
    """A digest of a model's weights (numpy arrays, in the model's own order: values, shapes and dtypes):
    equal for equal weights, whatever run or machine produced them. (The saved files are not a fingerprint:
    TensorFlow writes the layers' run-specific names into the checkpoint.)"""
    digest = hashlib.sha1()
    for array in arrays:
        array = np.ascontiguousarray(array)
        digest.update(f"{array.dtype.str}{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()[:12]


@dataclass(frozen=True)
class WorkflowRef:
    """The NVTabular workflow fit on one train split."""

    fingerprint: str  # of the train split's rows
    uri: str
    fit_rows: int

    @property
    def key(self) -> str:
        return workflow_key(self.fingerprint)


@dataclass(frozen=True)
class SplitRef:
    """One split transformed by a workflow (parquet + Merlin schema)."""

    features: str  # the workflow's fingerprint
    split: str
    uri: str
    rows: int

    @property
    def key(self) -> str:
        return split_key(self.features, self.split)


@dataclass(frozen=True)
class ModelRef:
    """One trained two-tower model (one hyperparameter partition) and the features it was trained on."""

    features: str
    partition: str
    uri: str
    weights: str = ""  # weights_fingerprint of the towers' weights ("" in references written before it)

    @property
    def key(self) -> str:
        return model_key(self.features, self.partition, self.weights)

    @property
    def workflow_key(self) -> str:
        return workflow_key(self.features)


@dataclass(frozen=True)
class TrainedModel:
    """A model with what it was trained with and how it scored on validation (``trained_model``'s value;
    ``best_model`` adds why it was chosen)."""

    model: ModelRef
    params: dict[str, Any]
    seed: int
    metrics: dict[str, float]
    train_seconds: float
    examples_per_second: float
    final_loss: float
    wandb: str
    reason: str = ""  # best_model: why this partition
    metric: str = ""  # best_model: the metric it was chosen by

    def to_json(self) -> dict[str, Any]:
        """Plain JSON (the materialization's ``summary`` metadata, which best_model reads back)."""
        return asdict(self)

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> TrainedModel:
        return cls(**{**value, "model": ModelRef(**value["model"])})

    def chosen(self, reason: str, metric: str) -> TrainedModel:
        return replace(self, reason=reason, metric=metric)


def features_mismatch(model: ModelRef, workflow: WorkflowRef) -> str | None:
    """Why ``model`` cannot be used with the current features, or None when it can: a model only
    understands the item/user ids of the workflow it was trained on."""
    if model.features == workflow.fingerprint:
        return None
    return (f"model {model.key} was trained on features {model.workflow_key}, but the current features are"
            f" {workflow.key}: retrain (trained_model, then best_model) first")


@dataclass(frozen=True)
class CandidatesRef:
    """Every source's candidates at every cut-off (one folder per cut-off, one file per customer chunk)."""

    key: str
    uri: str
    windows: dict[str, str]  # window name -> cut-off day (ISO)
    label_days: int
    recall: dict[str, dict[str, float]]
    model: ModelRef  # the retrieval model
    parts: dict[str, int]  # window -> chunks
    source: str = ""  # set on the per-source outputs


def pool_folder(window: str) -> str:
    """The folder, inside a pool's artifact, of one cut-off's candidates."""
    return f"pool_{window}"


def candidates_key(purchases: str, settings: str, model: ModelRef) -> str:
    """A pool's key: the purchases it was built from, every setting that changes its rows, the model."""
    digest = hashlib.sha1(settings.encode()).hexdigest()[:8]
    return f"candidates/{purchases}-{digest}-{model.key.replace('/', '_')}"


@dataclass(frozen=True)
class RankerRef:
    """A learned ranker fitted on one candidate pool."""

    key: str
    uri: str
    kind: str
    params: dict[str, Any]
    candidates_key: str
    holdout_map: float
    input_order_map: float


def ranker_key(candidates: CandidatesRef, kind: str, settings: str) -> str:
    """New candidates or new settings, new version."""
    return f"rankers/{candidates.key.split('/', 1)[1]}/{kind}-{settings}"


def ranker_mismatch(ranker: RankerRef, candidates: CandidatesRef) -> str | None:
    """Why ``ranker`` cannot score ``candidates`` (fitted on another pool), or None when it can."""
    if ranker.candidates_key == candidates.key:
        return None
    return (f"ranker {ranker.key} was fitted on candidates {ranker.candidates_key}, not the current"
            f" {candidates.key}: materialize ranker first")


@dataclass(frozen=True)
class Gate:
    passed: bool
    reasons: list[str]
    strongest_baseline: str
    lift: float
    lift_interval: tuple[float, float] = (float("nan"), float("nan"))  # 95 % paired bootstrap of the lift
    difference_interval: tuple[float, float] = (float("nan"), float("nan"))  # of served − strongest


@dataclass(frozen=True)
class EvaluationRef:
    """The test week's verdict on one ranker: every list's metrics, the gate, RecList's report."""

    lists: dict[str, dict[str, float]]
    modelled_customers: dict[str, dict[str, float]]
    mred: dict[str, Any]
    slices: dict[str, Any]
    candidate_recall: dict[str, float]
    gate: Gate
    k: int
    ranker_key: str
    model_key: str
    report_uri: str
    test_buyers: int
    modelled_buyers: int
    baseline_settings: dict[str, dict] | None = None  # baseline → settings chosen on validation (None: older value)

    def approves(self, ranker: RankerRef) -> str | None:
        """Why ``ranker`` may not be served on this evaluation, or None when it may."""
        if self.gate.passed and self.ranker_key == ranker.key:
            return None
        return (f"ranker {ranker.key} has not passed the promotion gate (last evaluation: {self.ranker_key},"
                f" passed={self.gate.passed}); not publishing")


def evaluation_key(ranker: RankerRef) -> str:
    """Where the RecList report of ``ranker``'s evaluation is kept."""
    return f"evaluation/{ranker.key}"


@dataclass(frozen=True)
class RecommendationsRef:
    """Top-k for every known customer: one version of the cache's contents."""

    key: str
    uri: str
    version: str
    model_version: str  # the ranker's key
    k: int
    fallback: list[str]
    users: int
    serve_day: str
    list_name: str = "ranker"  # what the lists are: "ranker", or the baseline's name when it was published instead
    why: str = ""  # why this list (the gate's verdict)
    # For monitoring (defaults: values written before these existed)
    baseline_name: str = ""  # the strongest baseline on the evaluation week; its lists sit beside these
    purchases: int = 0  # purchases the lists were computed from
    evaluation_map: float | None = None  # this list's MAP@k on the evaluation week
    baseline_evaluation_map: float | None = None



def recommendations_key(version: str) -> str:
    return f"recommendations/{version}"


@dataclass(frozen=True)
class Choice:
    """One baseline's settings chosen on the validation week, with every setting tried."""

    settings: dict
    validation_map: float
    tried: list[dict] = field(default_factory=list)  # {"settings", "validation_map", "seconds"}


@dataclass(frozen=True)
class TunedBaselines:
    """Baseline name → its choice; how the search ran."""

    choices: dict[str, Choice]
    validation_cutoff: str
    validation_buyers: int
    k: int
    seconds: float
    skipped: list[str] = field(default_factory=list)  # settings left untried when the budget ran out

    def to_json(self) -> dict:
        return asdict(self)
