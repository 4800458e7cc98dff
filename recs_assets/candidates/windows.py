"""The cut-off days of the multi-stage recommender (pure).

Features are always computed from purchases strictly before a cut-off, and labels are the purchases
of the ``label_days`` that follow it:

* ``fit``: weekly windows inside train, oldest first, then the validation week (cut-off =
  validation start). The ranker is fitted on them and selected on held-out customers of the
  validation week.
* ``test``: cut-off = test start, labels = the test week (scored once, never tuned on).
* ``serve``: the day after the last day of data: what is published uses every purchase.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import pandas as pd


@dataclass(frozen=True)
class Cutoffs:
    fit: tuple[date, ...]
    validation: date
    test: date
    serve: date
    label_days: int

    def all(self) -> dict[str, date]:
        """Name → cut-off, e.g. ``fit_2020-09-08``, ``validation``, ``test``, ``serve``."""
        named = {f"fit_{d.isoformat()}": d for d in self.fit}
        return {**named, "validation": self.validation, "test": self.test, "serve": self.serve}


def _day(value) -> date:
    return pd.Timestamp(value).date()


def cutoffs(validation_start, test_start, last_date, fit_weeks: int = 3) -> Cutoffs:
    """Cut-offs from the split boundaries. ``fit_weeks`` label windows before the validation week
    (each ``label_days`` long, ending where the next starts)."""
    validation, test, last = _day(validation_start), _day(test_start), _day(last_date)
    if not validation < test <= last:
        raise ValueError(f"split boundaries out of order: validation {validation}, test {test}, last {last}")
    label_days = (test - validation).days
    fit = tuple(validation - timedelta(days=label_days * j) for j in range(fit_weeks, 0, -1))
    return Cutoffs(fit, validation, test, last + timedelta(days=1), label_days)
