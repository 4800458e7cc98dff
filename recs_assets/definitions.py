"""The one place that assembles assets, checks and resources into the code location."""

from __future__ import annotations

from dagster import Definitions

from recs_assets.environment import build_resources
from recs_assets.ingest.assets import raw_tables
from recs_assets.transform.assets import dbt_marts

defs = Definitions(assets=[raw_tables, dbt_marts], resources=build_resources())
