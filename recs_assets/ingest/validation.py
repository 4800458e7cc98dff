"""Checks raw input and turns it into typed frames, with errors that name file, column, count and example.

Per-chunk checks (columns, parsing, nulls, negative prices, empty input) run here in Python as data
streams in; checks that need whole tables (duplicate keys, unknown customers/articles) run as SQL in
the warehouse against the staged tables (see ``cross_table_problems``), so they scale with the warehouse.
"""

from __future__ import annotations

import pandas as pd

from recs_assets.ingest.schema import RawTable

_EXAMPLES = 3


class RawDataError(ValueError):
    """Raw input that must not be loaded. The message names what is wrong and where."""


def _examples(values: pd.Series) -> str:
    return ", ".join(repr(v) for v in values.head(_EXAMPLES).tolist())


def check_columns(table: RawTable, columns: list[str], origin: str) -> None:
    """Fail when a required column is missing, listing what the file has instead."""
    missing = [c for c in table.columns if c not in columns]
    if missing:
        extra = [c for c in columns if c not in table.columns]
        hint = f"; columns present but not expected: {extra}" if extra else ""
        raise RawDataError(f"{origin}: missing column(s) {missing} for {table.name}{hint}")


def _parse(column: str, kind: str, values: pd.Series, origin: str) -> pd.Series:
    if kind == "string":
        return values.astype("string")
    if kind == "date":
        if pd.api.types.is_datetime64_any_dtype(values):
            parsed = values
        else:
            parsed = pd.to_datetime(values, errors="coerce", format="%Y-%m-%d")
    else:
        parsed = pd.to_numeric(values, errors="coerce")
    bad = parsed.isna() & values.notna()
    if bad.any():
        what = "dates (want YYYY-MM-DD)" if kind == "date" else f"{kind} numbers"
        raise RawDataError(
            f"{origin}: column {column!r} has {int(bad.sum())} value(s) that are not {what}, "
            f"e.g. {_examples(values[bad])}"
        )
    if kind == "int":
        if parsed.notna().all() and (parsed % 1 == 0).all():
            return parsed.astype("int64")
        fractional = parsed.notna() & (parsed % 1 != 0)
        if fractional.any():
            raise RawDataError(
                f"{origin}: column {column!r} has {int(fractional.sum())} non-integer value(s), "
                f"e.g. {_examples(values[fractional])}"
            )
        return parsed.astype("Int64")
    if kind == "date":
        return parsed.dt.normalize().astype("datetime64[ns]")
    return parsed.astype("float64")


def normalize_chunk(
    table: RawTable, frame: pd.DataFrame, origin: str, load_id: str, loaded_at: pd.Timestamp
) -> pd.DataFrame:
    """Return ``frame`` with exactly the table's columns, typed, plus load metadata; or raise.

    ``origin`` names where the rows came from (a file path, a generator) for error messages.
    """
    check_columns(table, list(frame.columns), origin)
    out = pd.DataFrame(
        {col: _parse(col, kind, frame[col], origin) for col, kind in table.columns.items()}
    )
    for col in table.not_null:
        nulls = out[col].isna()
        if nulls.any():
            first_row = int(nulls.to_numpy().nonzero()[0][0])
            raise RawDataError(
                f"{origin}: column {col!r} has {int(nulls.sum())} empty value(s) "
                f"(first at data row {first_row + 1} of this chunk)"
            )
    if "price" in out:
        negative = out["price"] < 0
        if negative.any():
            raise RawDataError(
                f"{origin}: column 'price' has {int(negative.sum())} negative value(s), "
                f"e.g. {_examples(out.loc[negative, 'price'])}"
            )
    out["load_id"] = load_id
    out["loaded_at"] = loaded_at
    return out


def orphans_sql(child: str, key: str, parent: str) -> str:
    """``(count, example)`` of rows of ``child`` whose ``key`` is missing from ``parent`` (portable SQL)."""
    return (
        f"select count(*), min(cast(t.{key} as varchar)) from {child} t "
        f"left join {parent} p on t.{key} = p.{key} where p.{key} is null"
    )


def cross_table_problems(staged: dict[str, str]) -> list[tuple[str, str]]:
    """SQL queries, one per whole-table rule, each returning one row ``(problem_count, example)``.

    ``staged`` maps raw table names to the qualified staged table holding this load's rows. The
    queries are portable SQL (DuckDB and Snowflake). Returns ``(description, sql)`` pairs.
    """
    c, a, t = staged["raw_customers"], staged["raw_articles"], staged["raw_transactions"]

    def duplicates(table: str, key: str) -> str:
        return (
            f"select count(*), min(k) from (select {key} as k from {table} "
            f"group by {key} having count(*) > 1) d"
        )

    return [
        ("raw_customers: duplicate customer_id values", duplicates(c, "customer_id")),
        ("raw_articles: duplicate article_id values", duplicates(a, "article_id")),
        ("raw_transactions: rows whose customer_id is not in customers", orphans_sql(t, "customer_id", c)),
        ("raw_transactions: rows whose article_id is not in articles", orphans_sql(t, "article_id", a)),
    ]
