"""The dbt models as assets: staging and marts, raw tables upstream, dbt tests as asset checks.

Run config becomes dbt vars, and the vars become SQL: every one is validated here before dbt starts (a
date is parsed and handed on as YYYY-MM-DD, an integer is an integer), and the models read them through
``dbt_project/macros/checked_vars.sql``, which checks them again and renders only the parsed value."""

import json
import re
from collections.abc import Mapping
from datetime import date
from typing import Any

from dagster import AssetExecutionContext, AssetKey, Config, Failure, Output, TableColumn, TableSchema
from dagster_dbt import DagsterDbtTranslator, DbtCliResource, dbt_assets
from pydantic import Field, ValidationInfo, field_validator

from recs_assets.resources.warehouse import Warehouse
from recs_assets.transform.project import dbt_project


class MartsTranslator(DagsterDbtTranslator):
    """Models keyed by name and grouped by folder (staging, marts); sources map to the raw assets."""

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> AssetKey:
        if dbt_resource_props["resource_type"] == "source":
            return super().get_asset_key(dbt_resource_props)
        return AssetKey(dbt_resource_props["name"])

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        if dbt_resource_props["resource_type"] == "source":
            return "raw"
        fqn = dbt_resource_props.get("fqn", [])
        return fqn[1] if len(fqn) > 2 else "marts"


# A longer history keeps helping the two-tower, but its cost grows with the rows (docs/benchmarks.md, "How
# much history the two-tower learns from"); the window is a budget of purchases, not of weeks, so that it
# means the same cost at every scale: all history at small scales, the last few weeks at H&M's size.
TRAIN_MAX_ROWS = 1_000_000


def iso_day(value: str, what: str) -> str:
    """``value`` (YYYY-MM-DD, or YYYY-M-D) as the canonical YYYY-MM-DD, else ValueError naming ``what``
    and the value: only a string built from the parsed date goes on to SQL."""
    found = re.fullmatch(r"([0-9]{4})-([0-9]{1,2})-([0-9]{1,2})", value.strip())
    try:
        if found is None:
            raise ValueError
        return date(*map(int, found.groups())).isoformat()
    except ValueError:
        raise ValueError(f"{what}={value!r} is not a date (want YYYY-MM-DD, e.g. 2020-09-15)") from None


class MartsConfig(Config):
    """dbt vars for the marts; see dbt_project.yml for their meaning. The dates are strings in run config
    (Dagster's config has no date type) and are parsed on the way in."""

    min_customer_purchases: int = Field(2, ge=1)
    split_days: int = Field(7, ge=1)
    validation_start: str | None = Field(None, description="YYYY-MM-DD; overrides split_days")
    test_start: str | None = Field(None, description="YYYY-MM-DD; overrides split_days")
    train_weeks: int | None = Field(
        None, ge=1, description="The two-tower's train split: this many weeks before validation (overrides"
        " train_max_rows).")
    train_max_rows: int | None = Field(
        TRAIN_MAX_ROWS, ge=1, description="Else: the most recent whole weeks with at most this many purchases"
        " (at least one week; None: all history). Bounds training time at any scale.")

    @field_validator("validation_start", "test_start")
    @classmethod
    def _canonical_day(cls, value: str | None, info: ValidationInfo) -> str | None:
        # An empty string meant "not set" to the dbt model (a falsy var): saved run configs keep that meaning.
        if value is None or not value.strip():
            return None
        return iso_day(value, f"dbt_marts config {info.field_name}")


@dbt_assets(
    manifest=dbt_project.manifest_path,
    project=dbt_project,
    dagster_dbt_translator=MartsTranslator(),
)
def dbt_marts(
    context: AssetExecutionContext, dbt: DbtCliResource, warehouse: Warehouse, config: MartsConfig
):
    """``dbt build`` of the selected models: each model runs, then its tests, as dbt orders them."""
    dbt_vars = {**config.model_dump(), **warehouse.dbt_vars()}
    invocation = dbt.cli(
        ["build", "--vars", json.dumps(dbt_vars)], context=context, raise_on_error=False
    )
    # Table stats are read after dbt exits: a DuckDB file has one writer, and dbt holds it meanwhile.
    events = list(invocation.stream())
    nodes = invocation.manifest["nodes"]
    for event in events:
        if isinstance(event, Output) and "unique_id" in event.metadata:
            node = nodes[event.metadata["unique_id"].value]
            event = event.with_metadata({**event.metadata, **_table_metadata(warehouse, node)})
        yield event
    # What did build is reported above; a failed model or test then fails the step.
    if not invocation.is_successful():
        raise Failure(f"dbt build failed: {invocation.get_error()}")


def _table_metadata(warehouse: Warehouse, node: Mapping[str, Any]) -> dict[str, Any]:
    schema, table = node["schema"], node.get("alias") or node["name"]
    rows, columns = warehouse.table_stats(schema, table)
    return {
        "dagster/row_count": rows,
        "dagster/table_name": f"{schema}.{table}",
        "dagster/column_schema": TableSchema(columns=[TableColumn(c, t) for c, t in columns]),
    }
