"""The candidate stage for every cut-off (pure): who gets candidates, from which source, in chunks of
customers that bound memory at any scale, and how much of what they bought next the candidates cover."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import pandas as pd

from recs_assets.candidates.generators import COLUMNS, SourceSizes, sql_candidates
from recs_assets.candidates.purchase_log import PurchaseLog
from recs_assets.candidates.windows import Cutoffs

# Retrieval is used only where its model never saw the label week: the two-tower is trained on
# train (before the validation week), so its candidates exist from the validation cut-off on.
RETRIEVAL_WINDOWS = ("validation", "test", "serve")
# Windows the ranker learns from or is chosen on; only these may be sampled (test and serve never are).
FITTING = ("fit_", "validation")


def sample(customers: pd.Series, cap: int | None) -> pd.Series:
    """At most ``cap`` customers, the same ones on every run: those with the smallest hash of their id."""
    customers = pd.Series(pd.unique(pd.Series(customers)), dtype=object)
    if cap is None or len(customers) <= cap:
        return customers
    order = np.argsort(pd.util.hash_pandas_object(customers, index=False).to_numpy(), kind="stable")
    return customers.iloc[np.sort(order[:cap])].reset_index(drop=True)


def window_targets(log: PurchaseLog, cuts: Cutoffs, max_fit_customers: int | None = None) -> dict[str, pd.Series]:
    """Customers that get candidates at each cut-off: the label week's buyers (known or new) for
    fitting, validation and test; at ``serve``, every customer with a purchase. The fitting windows
    (fit weeks and validation) keep at most ``max_fit_customers`` of them (a deterministic sample);
    test and serve keep everyone. Each in customer id order: a chunk of them is then a narrow range of
    the purchase log, which is stored in that order."""
    out = {}
    for name, cut in cuts.all().items():
        if name == "serve":
            customers = log.customers_before(cut)  # already in id order (sorting every customer's id again is slow)
        else:
            customers = pd.Series(log.buyers(cut, cuts.label_days)["customer_id"].unique())
            customers = sample(customers, max_fit_customers) if name.startswith(FITTING) else customers
            customers = customers.sort_values(ignore_index=True)
        out[name] = customers.astype(object)
    return out


def window_labels(log: PurchaseLog, cuts: Cutoffs, targets: dict[str, pd.Series] | None = None) -> dict[str, pd.DataFrame]:
    """(customer_id, article_id) bought in each labelled window (by ``targets``' customers when given)."""
    out = {}
    for name, cut in cuts.all().items():
        if name != "serve":
            labels = log.buyers(cut, cuts.label_days)
            out[name] = labels if targets is None else labels[labels["customer_id"].isin(set(targets[name]))]
    return out


def chunked(customers: pd.Series, size: int) -> list[pd.Series]:
    """Consecutive slices of at most ``size`` customers (one, possibly empty, when there are none)."""
    customers = pd.Series(customers).reset_index(drop=True)
    return [customers.iloc[i:i + size] for i in range(0, len(customers), size)] or [customers]


RetrievalFn = Callable[[str, pd.Series, object], pd.DataFrame]


def generate(
    log: PurchaseLog, cuts: Cutoffs, targets: dict[str, pd.Series], retrieval: RetrievalFn | None,
    sizes: SourceSizes = SourceSizes(), chunk_customers: int = 50_000, table: str = "found",
    every_window: RetrievalFn | None = None,
) -> Iterator[tuple[str, int, str]]:
    """(window, part, name of the table in ``log`` holding every source's candidates (COLUMNS) for one
    chunk of the window's customers); the table is replaced by the next chunk. ``retrieval(name,
    customers, cutoff)`` returns the retrieval source's rows for the windows in RETRIEVAL_WINDOWS,
    ``every_window`` (same call) a source's rows for every window (e.g. ALS, fitted at each cut-off)."""
    for name, cut in cuts.all().items():
        for part, customers in enumerate(chunked(targets[name], chunk_customers)):
            sql_candidates(log, customers, cut, sizes, into=table)
            found = [every_window] if every_window is not None else []
            found += [retrieval] if retrieval is not None and name in RETRIEVAL_WINDOWS else []
            for source in found:
                log.register("retrieved", source(name, customers, cut)[COLUMNS])
                log.con.execute(f"insert into {table} select {', '.join(COLUMNS)} from retrieved")
            yield name, part, table
