"""The candidate stage for every cut-off (pure): who gets candidates, from which source, and how
much of what they bought next the candidates cover."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from recs_assets.candidates.generators import COLUMNS, SourceSizes, sql_candidates
from recs_assets.candidates.pool import candidate_recall, union
from recs_assets.candidates.purchase_log import PurchaseLog
from recs_assets.candidates.windows import Cutoffs

# Retrieval is used only where its model never saw the label week: the two-tower is trained on
# train (before the validation week), so its candidates exist from the validation cut-off on.
RETRIEVAL_WINDOWS = ("validation", "test", "serve")


def window_targets(log: PurchaseLog, cuts: Cutoffs) -> dict[str, pd.Series]:
    """Customers that get candidates at each cut-off: the label week's buyers (known or new) for
    fitting, validation and test; at ``serve``, every customer with a purchase."""
    out = {name: pd.Series(log.buyers(cut, cuts.label_days)["customer_id"].unique(), dtype=object)
           for name, cut in cuts.all().items() if name != "serve"}
    out["serve"] = log.customers_before(cuts.serve).astype(object)
    return out


def window_labels(log: PurchaseLog, cuts: Cutoffs) -> dict[str, pd.DataFrame]:
    """(customer_id, article_id) bought in each labelled window."""
    return {name: log.buyers(cut, cuts.label_days) for name, cut in cuts.all().items() if name != "serve"}


RetrievalFn = Callable[[str, pd.Series, object], pd.DataFrame]


def generate(
    log: PurchaseLog, cuts: Cutoffs, targets: dict[str, pd.Series], retrieval: RetrievalFn | None,
    sizes: SourceSizes = SourceSizes(),
) -> dict[str, pd.DataFrame]:
    """Window name → every source's candidates (COLUMNS). ``retrieval(name, customers, cutoff)``
    returns the retrieval source's rows for the windows in RETRIEVAL_WINDOWS."""
    out = {}
    for name, cut in cuts.all().items():
        frames = [sql_candidates(log, targets[name], cut, sizes)]
        if retrieval is not None and name in RETRIEVAL_WINDOWS:
            frames.append(retrieval(name, targets[name], cut)[COLUMNS])
        out[name] = pd.concat(frames, ignore_index=True)
    return out


def pools_and_recall(
    candidates: dict[str, pd.DataFrame], labels: dict[str, pd.DataFrame]
) -> tuple[dict[str, pd.DataFrame], dict[str, dict[str, float]]]:
    """Window → union of its candidates, and window → candidate recall (labelled windows only)."""
    pools = {name: union(frame) for name, frame in candidates.items()}
    recall = {name: candidate_recall(candidates[name], labels[name]) for name in labels}
    return pools, recall
