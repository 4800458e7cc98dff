"""The warehouse the raw tables are loaded into: DuckDB locally (here), Snowflake in production
(``snowflake_warehouse``, imported only there because dagster-snowflake is slow to import).

Both load atomically through ``staged_load``: rows go into staging tables, whole-table checks run
against them, and only when everything passed do the staged tables replace the live ones in one step.
On any error the staging tables are dropped and the live tables stay exactly as they were. A load killed
outright (no chance to drop them) leaves its staging behind under a fixed prefix; the next full load of
the schema removes every table (DuckDB) or schema (Snowflake) with that prefix before it stages.
``staged_append`` is the same, except that publishing replaces only the live rows of this load_id
(delete + insert in one transaction): loading the same load twice leaves its rows there once.
"""

from __future__ import annotations

import os
import re
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Protocol

import pandas as pd
from dagster import ConfigurableResource
from pydantic import Field

SQL_TYPES = {
    "string": "VARCHAR",
    "int": "BIGINT",
    "float": "DOUBLE",
    "date": "DATE",
    "timestamp": "TIMESTAMP",
}


class StagedLoad(Protocol):
    """A load in progress: append rows to staged tables, query them, then commit or roll back."""

    def append(self, table: str, frame: pd.DataFrame) -> None: ...

    def qualified(self, table: str) -> str: ...

    def fetch_one(self, sql: str) -> tuple: ...


def safe_identifier(name: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise ValueError(f"not a plain SQL identifier: {name!r}")
    return name


def quoted_identifier(name: str) -> str:
    """``name`` as a quoted SQL identifier, exactly as stored (for names read back from the catalog)."""
    return '"' + name.replace('"', '""') + '"'


@contextmanager
def publish_or_discard(load):
    """Yield the load; publish it when the block succeeds, discard its staging on any error."""
    try:
        yield load
        load.publish()
    except BaseException:
        load.discard()
        raise


def create_table_sql(qualified: str, columns: dict[str, str], if_not_exists: bool = False,
                     or_replace: bool = False) -> str:
    # Unquoted on purpose: Snowflake then stores upper case, which dbt's unquoted names match.
    cols = ", ".join(f"{safe_identifier(c)} {SQL_TYPES[k]}" for c, k in columns.items())
    head = "create or replace table" if or_replace else f"create table{' if not exists' if if_not_exists else ''}"
    return f"{head} {qualified} ({cols})"


STAGING_PREFIX = "_staging_"  # DuckDB: every staging table's name starts so, whichever load made it


def staging_leftovers(con, schema: str) -> list[str]:
    """Staging tables in ``schema`` of a DuckDB connection (a killed load's, or one in progress)."""
    return [name for (name,) in con.execute(
        "select table_name from duckdb_tables() where schema_name = ? and starts_with(table_name, ?)",
        [schema, STAGING_PREFIX]).fetchall()]


class _DuckDBLoad:
    def __init__(
        self, con, schema: str, tables: dict[str, dict[str, str]], load_id: str, append: bool = False
    ) -> None:
        self.con, self.schema, self.tables = con, schema, tables
        self.load_id, self.append_only = load_id, append
        self.suffix = re.sub(r"\W", "_", load_id)[:40]
        if not append:
            # Loads killed outright left these under their own run ids, which no later load would reuse.
            # None is in progress: this connection is the file's only writer for the whole load.
            for name in staging_leftovers(con, schema):
                self.con.execute(f"drop table {schema}.{quoted_identifier(name)}")
        for table, columns in tables.items():  # an append retried after a kill finds its own: start afresh
            self.con.execute(create_table_sql(self.qualified(table), columns, or_replace=True))

    def qualified(self, table: str) -> str:
        return f"{self.schema}.{STAGING_PREFIX}{self.suffix}_{safe_identifier(table)}"

    def append(self, table: str, frame: pd.DataFrame) -> None:
        cols = ", ".join(self.tables[table])
        self.con.register("_chunk", frame)
        try:
            self.con.execute(f"insert into {self.qualified(table)} select {cols} from _chunk")
        finally:
            self.con.unregister("_chunk")

    def fetch_one(self, sql: str) -> tuple:
        return self.con.execute(sql).fetchone()

    def publish(self) -> None:
        # DuckDB DDL is transactional: all tables switch together, or none does.
        self.con.execute("begin transaction")
        try:
            for table, columns in self.tables.items():
                live = f"{self.schema}.{table}"
                if self.append_only:
                    self.con.execute(create_table_sql(live, columns, if_not_exists=True))
                    self.con.execute(f"delete from {live} where load_id = ?", [self.load_id])
                    self.con.execute(f"insert into {live} select * from {self.qualified(table)}")
                    self.con.execute(f"drop table {self.qualified(table)}")
                else:
                    self.con.execute(f"drop table if exists {live}")
                    self.con.execute(f"alter table {self.qualified(table)} rename to {table}")
            self.con.execute("commit")
        except BaseException:
            self.con.execute("rollback")
            raise

    def discard(self) -> None:
        for table in self.tables:
            self.con.execute(f"drop table if exists {self.qualified(table)}")


class Warehouse(ConfigurableResource):
    """What assets need of a warehouse; DuckDB and Snowflake implement it."""

    def staged_load(
        self, schema: str, tables: dict[str, dict[str, str]], load_id: str | None = None
    ) -> AbstractContextManager[StagedLoad]:
        raise NotImplementedError

    def staged_append(
        self, schema: str, tables: dict[str, dict[str, str]], load_id: str
    ) -> AbstractContextManager[StagedLoad]:
        """Like ``staged_load``, but publishing replaces only this load_id's rows in the live tables."""
        raise NotImplementedError

    def query(self, sql: str) -> pd.DataFrame:
        raise NotImplementedError

    def query_arrow(self, sql: str):
        """The result as a ``pyarrow.Table``: columnar strings, several times smaller than pandas objects."""
        import pyarrow as pa

        return pa.Table.from_pandas(self.query(sql), preserve_index=False)

    def describe(self) -> str:
        raise NotImplementedError

    def dbt_vars(self) -> dict[str, str]:
        raise NotImplementedError

    def has_table(self, schema: str, table: str) -> bool:
        """Whether ``schema.table`` exists (a table written only once something happened, e.g. a landed file)."""
        schema, table = safe_identifier(schema), safe_identifier(table)
        found = self.query("select count(*) as n from information_schema.tables where lower(table_schema) ="
                           f" '{schema.lower()}' and lower(table_name) = '{table.lower()}'")
        return int(found.iloc[0, 0]) > 0

    def table_stats(self, schema: str, table: str) -> tuple[int, list[tuple[str, str]]]:
        """Row count and (column, type) pairs of a table, with portable SQL."""
        schema, table = safe_identifier(schema), safe_identifier(table)
        count = self.query(f"select count(*) as n from {schema}.{table}").iloc[0, 0]
        columns = self.query(
            "select column_name, data_type from information_schema.columns "
            f"where lower(table_schema) = '{schema.lower()}' and lower(table_name) = '{table.lower()}' "
            "order by ordinal_position"
        )
        return int(count), [(str(c), str(t)) for c, t in columns.itertuples(index=False)]


def duckdb_memory_config() -> dict:
    """memory_limit (``RECS_DUCKDB_MEMORY_LIMIT``, default 3GB) and a temp folder to spill to."""
    return {"memory_limit": os.environ.get("RECS_DUCKDB_MEMORY_LIMIT", "3GB"),
            "temp_directory": tempfile.gettempdir() + "/recs_duckdb_spill"}


class DuckDBWarehouse(Warehouse):
    """A DuckDB file. One writer at a time: connections are opened per call and closed at once."""

    path: str = Field(description="Path of the DuckDB database file.")

    def connect(self, read_only: bool = False):
        import duckdb

        if not read_only:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            return duckdb.connect(self.path)
        # Reads run beside the pipeline's other work: DuckDB's default limit (80 % of RAM) let one query
        # over H&M's purchases take most of the machine; bounded, large operators spill to the temp folder.
        return duckdb.connect(self.path, read_only=True, config=duckdb_memory_config())

    @contextmanager
    def staged_load(
        self, schema: str, tables: dict[str, dict[str, str]], load_id: str | None = None
    ) -> Iterator[StagedLoad]:
        """Stage ``tables`` (name -> {column: logical type}); publish all on success, none on error."""
        con = self.connect()
        try:
            con.execute(f"create schema if not exists {safe_identifier(schema)}")
            with publish_or_discard(_DuckDBLoad(con, schema, tables, load_id or uuid.uuid4().hex)) as load:
                yield load
        finally:
            con.close()

    @contextmanager
    def staged_append(
        self, schema: str, tables: dict[str, dict[str, str]], load_id: str
    ) -> Iterator[StagedLoad]:
        con = self.connect()
        try:
            con.execute(f"create schema if not exists {safe_identifier(schema)}")
            with publish_or_discard(_DuckDBLoad(con, schema, tables, load_id, append=True)) as load:
                yield load
        finally:
            con.close()

    def query(self, sql: str) -> pd.DataFrame:
        con = self.connect(read_only=True)
        try:
            return con.execute(sql).df()
        finally:
            con.close()

    def query_arrow(self, sql: str):
        con = self.connect(read_only=True)
        try:
            return con.execute(sql).arrow()
        finally:
            con.close()

    def has_table(self, schema: str, table: str) -> bool:
        return Path(self.path).exists() and super().has_table(schema, table)

    def describe(self) -> str:
        return f"duckdb:{self.path}"

    def dbt_vars(self) -> dict[str, str]:
        """What dbt needs to reach this warehouse (the profile reads ``duckdb_path``)."""
        return {"duckdb_path": self.path}
