"""Snowflake as the raw-data warehouse, through dagster-snowflake's ``SnowflakeResource``.

Same contract as ``DuckDBWarehouse.staged_load``: stage, check, then publish with one
``ALTER SCHEMA ... SWAP WITH`` so readers see all old raw tables or all new ones. Appends
(``staged_append``) replace one load_id's rows with a delete + insert in one transaction.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pandas as pd
from dagster_snowflake import SnowflakeResource

from recs_assets.resources.warehouse import (
    StagedLoad,
    Warehouse,
    create_table_sql,
    publish_or_discard,
    quoted_identifier,
    safe_identifier,
)


def stage_prefix(schema: str) -> str:
    """Every stage schema of loads into ``schema`` is named so, followed by the load id."""
    return f"{schema}_load_".upper()


def stage_leftovers(cur, schema: str) -> list[str]:
    """The stage schemas of loads into ``schema`` that exist now (killed loads', or one in progress)."""
    cur.execute("select schema_name from information_schema.schemata")
    return [name for (name,) in cur.fetchall() if name.upper().startswith(stage_prefix(schema))]


class _SnowflakeLoad:
    def __init__(
        self, conn, schema: str, tables: dict[str, dict[str, str]], load_id: str, append: bool = False
    ) -> None:
        self.conn, self.schema, self.tables = conn, schema, tables
        self.load_id, self.append_only = load_id, append
        suffix = re.sub(r"\W", "_", load_id)[:40]
        self.stage_schema = f"{stage_prefix(schema)}{suffix}".upper()
        with conn.cursor() as cur:
            if not append:
                # Full loads killed outright left their stage under their own run ids, which no later load
                # would reuse. Appends stage beside each other (one per landed file) and keep theirs.
                for name in stage_leftovers(cur, schema):
                    cur.execute(f"drop schema if exists {quoted_identifier(name)} cascade")
            # a killed run's staging: start afresh (two statements: the emulator cannot replace a schema with tables)
            cur.execute(f"drop schema if exists {self.stage_schema} cascade")
            cur.execute(f"create schema {self.stage_schema}")
            for table, columns in tables.items():
                cur.execute(create_table_sql(self.qualified(table), columns))

    def qualified(self, table: str) -> str:
        return f"{self.stage_schema}.{safe_identifier(table)}"

    def append(self, table: str, frame: pd.DataFrame) -> None:
        from snowflake.connector.pandas_tools import write_pandas

        columns = list(self.tables[table])
        write_pandas(
            self.conn,
            frame[columns].rename(columns=str.upper),
            table_name=table.upper(),
            schema=self.stage_schema,
            quote_identifiers=False,
            use_logical_type=True,
        )

    def fetch_one(self, sql: str) -> tuple:
        with self.conn.cursor() as cur:
            return cur.execute(sql).fetchone()

    def publish(self) -> None:
        if self.append_only:
            return self._publish_append()
        # One statement swaps the whole raw schema: readers see all old tables or all new ones.
        with self.conn.cursor() as cur:
            cur.execute(f"create schema if not exists {self.schema}")
            cur.execute(f"alter schema {self.schema} swap with {self.stage_schema}")
            # now holds the previous tables; "if exists": a load started meanwhile may have swept it
            cur.execute(f"drop schema if exists {self.stage_schema} cascade")

    def _publish_append(self) -> None:
        with self.conn.cursor() as cur:
            cur.execute(f"create schema if not exists {self.schema}")
            # DDL commits any open transaction in Snowflake: every create before ``begin``
            for table, columns in self.tables.items():
                cur.execute(create_table_sql(f"{self.schema}.{table}", columns, if_not_exists=True))
            cur.execute("begin")
            try:
                for table in self.tables:
                    live = f"{self.schema}.{table}"
                    cur.execute(f"delete from {live} where load_id = %s", (self.load_id,))
                    cur.execute(f"insert into {live} select * from {self.qualified(table)}")
                cur.execute("commit")
            except BaseException:
                cur.execute("rollback")
                raise
            cur.execute(f"drop schema {self.stage_schema} cascade")  # cascade: Snowflake's default, said aloud

    def discard(self) -> None:
        with self.conn.cursor() as cur:
            cur.execute(f"drop schema if exists {self.stage_schema} cascade")


class SnowflakeWarehouse(Warehouse):
    """Snowflake through dagster-snowflake's resource; the raw schema is replaced by a schema swap.

    The raw schema must hold only the raw tables (dbt builds into other schemas), since the swap
    replaces the schema as a whole; schemas named ``<schema>_LOAD_*`` are the loader's stages, and a full
    load drops every one it finds before it stages (a killed load's). One full load at a time: a second
    started meanwhile drops the first one's stage, and the first then fails instead of publishing.
    """

    snowflake: SnowflakeResource

    @contextmanager
    def staged_load(
        self, schema: str, tables: dict[str, dict[str, str]], load_id: str | None = None
    ) -> Iterator[StagedLoad]:
        with self.snowflake.get_connection() as conn:
            load = _SnowflakeLoad(conn, safe_identifier(schema), tables, load_id or uuid.uuid4().hex)
            with publish_or_discard(load):
                yield load

    @contextmanager
    def staged_append(
        self, schema: str, tables: dict[str, dict[str, str]], load_id: str
    ) -> Iterator[StagedLoad]:
        with self.snowflake.get_connection() as conn:
            load = _SnowflakeLoad(conn, safe_identifier(schema), tables, load_id, append=True)
            with publish_or_discard(load):
                yield load

    def query(self, sql: str) -> pd.DataFrame:
        with self.snowflake.get_connection() as conn:
            with conn.cursor() as cur:
                return cur.execute(sql).fetch_pandas_all()

    def query_arrow(self, sql: str):
        with self.snowflake.get_connection() as conn:
            with conn.cursor() as cur:
                return cur.execute(sql).fetch_arrow_all()

    def describe(self) -> str:
        return f"snowflake:{self.snowflake.account}/{self.snowflake.database}"

    def dbt_vars(self) -> dict[str, str]:
        """dbt reaches Snowflake through its own profile (the same SNOWFLAKE_* env vars)."""
        return {}
