"""Appends one landed transaction file: parsed and checked with the loaders' rules, then published atomically.

Rows carry the file's load id; publishing deletes that load id's rows and inserts the new ones in one
transaction, so loading the same file twice (a retried run) leaves its rows there exactly once.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import PurePosixPath

import pandas as pd

from recs_assets.ingest.schema import ARTICLES, CUSTOMERS, LANDED_TRANSACTIONS, LANDING_SCHEMA, RAW_SCHEMA
from recs_assets.ingest.validation import RawDataError, check_columns, normalize_chunk, orphans_sql

READERS = {".csv": "csv", ".parquet": "parquet"}


def read_transaction_file(name: str, content: bytes) -> pd.DataFrame:
    """Parse a landed file (CSV with H&M's transactions header, or Parquet) into raw string/typed columns."""
    kind = READERS.get(PurePosixPath(name).suffix.lower())
    if kind is None:
        raise RawDataError(f"{name}: unsupported file type (want one of {sorted(READERS)})")
    if not content:
        raise RawDataError(f"{name}: file is empty (no header, no rows)")
    try:
        if kind == "csv":
            frame = pd.read_csv(io.BytesIO(content), dtype=str, keep_default_na=True)
        else:
            frame = pd.read_parquet(io.BytesIO(content))
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError, ValueError) as err:
        raise RawDataError(f"{name}: cannot be read as {kind}: {err}") from None
    check_columns(LANDED_TRANSACTIONS, list(frame.columns), name)
    if frame.empty:
        raise RawDataError(f"{name}: header only, no transaction rows")
    return frame


def orphan_problems(staged: str) -> list[tuple[str, str]]:
    """SQL (count, example) per rule that needs the live raw tables: every customer and article must exist."""
    return [
        (f"rows whose {key} is not in {parent.name}", orphans_sql(staged, key, f"{RAW_SCHEMA}.{parent.name}"))
        for key, parent in (("customer_id", CUSTOMERS), ("article_id", ARTICLES))
    ]


@dataclass(frozen=True)
class AppendSummary:
    """What one landed file added."""

    rows: int
    customers: int
    articles: int
    first_day: str
    last_day: str
    table: str


def append_transactions(warehouse, name: str, frame: pd.DataFrame, load_id: str) -> AppendSummary:
    """Validate ``frame`` (from file ``name``) and publish it under ``load_id``; return a summary.

    Raises ``RawDataError`` naming the file, column, count and an example; nothing is then written.
    """
    loaded_at = pd.Timestamp.now(tz="UTC").tz_localize(None)
    rows = normalize_chunk(LANDED_TRANSACTIONS, frame, name, load_id, loaded_at)
    table = LANDED_TRANSACTIONS.name
    with warehouse.staged_append(LANDING_SCHEMA, {table: LANDED_TRANSACTIONS.all_columns}, load_id) as load:
        load.append(table, rows)
        for description, sql in orphan_problems(load.qualified(table)):
            count, example = load.fetch_one(sql)
            if count:
                raise RawDataError(f"{name}: {count} {description} (e.g. {example!r}); nothing was loaded")
    return AppendSummary(
        rows=len(rows),
        customers=int(rows["customer_id"].nunique()),
        articles=int(rows["article_id"].nunique()),
        first_day=rows["t_dat"].min().date().isoformat(),
        last_day=rows["t_dat"].max().date().isoformat(),
        table=f"{LANDING_SCHEMA}.{table}",
    )
