"""Reads the three H&M Kaggle CSVs (articles.csv, customers.csv, transactions_train.csv) in chunks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from recs_assets.ingest.schema import ARTICLES, CUSTOMERS, TRANSACTIONS, RawTable
from recs_assets.ingest.validation import RawDataError, check_columns

HM_FILES: dict[str, RawTable] = {
    "customers.csv": CUSTOMERS,
    "articles.csv": ARTICLES,
    "transactions_train.csv": TRANSACTIONS,
}


def read_hm_csv(
    directory: str | Path, chunk_rows: int = 1_000_000
) -> Iterator[tuple[RawTable, str, pd.DataFrame]]:
    """Yield ``(table, file path, raw string chunk)`` for each file, customers and articles first.

    Every file is checked to exist and to have the expected header before any rows are read, so a
    missing or misnamed file fails before anything is staged.
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise RawDataError(f"{directory}: H&M CSV directory does not exist")
    for filename, table in HM_FILES.items():
        path = directory / filename
        if not path.is_file():
            raise RawDataError(f"{path}: file is missing (expected {sorted(HM_FILES)} in {directory})")
        try:
            header = pd.read_csv(path, nrows=0)
        except pd.errors.EmptyDataError:
            raise RawDataError(f"{path}: file is empty (no header, no rows)") from None
        check_columns(table, list(header.columns), str(path))
    for filename, table in HM_FILES.items():
        path = directory / filename
        # Strings in, typed by the shared validation: one place parses and reports bad values.
        reader = pd.read_csv(path, dtype=str, chunksize=chunk_rows, keep_default_na=True)
        for chunk in reader:
            yield table, str(path), chunk


def write_hm_csv(directory: str | Path, generator) -> Path:
    """Write a synthetic generator's tables as the three Kaggle CSVs (for tests and benchmarks)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    generator.articles.to_csv(directory / "articles.csv", index=False)
    for name, frames in (("customers.csv", generator.customers()), ("transactions_train.csv", generator.transactions())):
        with open(directory / name, "w", newline="") as out:
            for i, frame in enumerate(frames):
                if "t_dat" in frame:
                    frame = frame.assign(t_dat=frame["t_dat"].dt.strftime("%Y-%m-%d"))
                frame.to_csv(out, index=False, header=i == 0)
    return directory
