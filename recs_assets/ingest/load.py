"""Loads a source's chunks into the warehouse's raw schema: validate, stage, check, publish atomically."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable

import pandas as pd

from recs_assets.ingest.schema import RAW_SCHEMA, RAW_TABLES
from recs_assets.ingest.validation import RawDataError, cross_table_problems, normalize_chunk
from recs_assets.ingest.sources import Chunk

log = logging.getLogger(__name__)


def load_raw(warehouse, chunks: Iterable[Chunk], load_id: str) -> dict[str, int]:
    """Load all raw tables or none; return rows loaded per table.

    ``warehouse`` is any resource with ``staged_load`` (DuckDB or Snowflake). Raises
    ``RawDataError`` naming the file/column/count when the input is bad; the live tables then stay
    as they were.
    """
    loaded_at = pd.Timestamp.now(tz="UTC").tz_localize(None)
    rows: Counter[str] = Counter()
    origins: dict[str, set[str]] = {t.name: set() for t in RAW_TABLES}
    tables = {t.name: t.all_columns for t in RAW_TABLES}
    with warehouse.staged_load(RAW_SCHEMA, tables, load_id) as load:
        for table, origin, frame in chunks:
            origins[table.name].add(origin)
            if frame.empty:
                continue
            load.append(table.name, normalize_chunk(table, frame, origin, load_id, loaded_at))
            rows[table.name] += len(frame)
            log.info("staged %s rows of %s from %s (total %s)", len(frame), table.name, origin, rows[table.name])
        for table in RAW_TABLES:
            if rows[table.name] == 0:
                where = ", ".join(sorted(origins[table.name])) or "the source"
                raise RawDataError(f"{where}: no rows for {table.name} (empty file?)")
        staged = {t.name: load.qualified(t.name) for t in RAW_TABLES}
        for description, sql in cross_table_problems(staged):
            count, example = load.fetch_one(sql)
            if count:
                raise RawDataError(f"{description}: {count} (e.g. {example!r}); nothing was loaded")
    return dict(rows)
