"""Baselines scored beside the model on the same users and metrics."""

from __future__ import annotations

import pandas as pd


def popular_last_week(train: pd.DataFrame, k: int, days: int = 7) -> list:
    """The k most bought articles in the last ``days`` days of train (ties: lower article id first)."""
    last = pd.to_datetime(train["t_dat"]).max()
    recent = train[pd.to_datetime(train["t_dat"]) > last - pd.Timedelta(days=days)]
    counts = recent.groupby("article_id").size().reset_index(name="n")
    return counts.sort_values(["n", "article_id"], ascending=[False, True])["article_id"].head(k).tolist()
