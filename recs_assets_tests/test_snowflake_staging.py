"""A full load on Snowflake (fakesnow) removes the stage schemas that killed loads left, and only those:
an append's stage (one per landed file, possibly in progress beside it) stays."""

from __future__ import annotations

import pytest
from snowflake.connector.errors import ProgrammingError

from recs_assets.ingest.load import load_raw
from recs_assets.ingest.sources import RawSource
from recs_assets_tests.test_raw_load import TINY
from recs_assets_tests.test_snowflake_warehouse import _schemas, snowflake  # noqa: F401


def test_a_full_load_drops_the_stage_a_killed_full_load_left_and_no_append_stage(snowflake):  # noqa: F811
    with snowflake.snowflake.get_connection() as conn:  # as runs killed while staging leave them
        cur = conn.cursor()
        for stage in ("raw_load_run_killed_1", "raw_load_run_killed_2", "landing_load_week_1"):
            cur.execute(f"create schema {stage}")
            cur.execute(f"create table {stage}.raw_customers (junk int)")
    assert {"raw_load_run_killed_1", "raw_load_run_killed_2", "landing_load_week_1"} <= set(_schemas(snowflake))
    with pytest.raises(ProgrammingError, match="swap"):  # the emulator stops every full load at its swap
        load_raw(snowflake, RawSource(scale=TINY.scale, seed=TINY.seed).chunks(), "next")
    assert [s for s in _schemas(snowflake) if "_load_" in s] == ["landing_load_week_1"]
