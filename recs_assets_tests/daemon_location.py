"""A code location for the daemon restart test: the real landing sensor, ingest job and landed-file
asset with this environment's resources, and nothing that automation would start training."""

from dagster import Definitions

from recs_assets.automation.sensors import ingest_landed_file, landing_sensor
from recs_assets.environment import build_resources
from recs_assets.ingest.landed_assets import landed_transactions

defs = Definitions(assets=[landed_transactions], jobs=[ingest_landed_file], sensors=[landing_sensor],
                   resources=build_resources())
