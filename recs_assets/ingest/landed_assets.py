"""``landed_transactions``: one run appends one transaction file from the landing zone (requested by
the landing sensor), with the loaders' validation; a bad file is quarantined and the run fails."""

from dagster import AssetExecutionContext, Config, Failure, MaterializeResult, MetadataValue, asset
from pydantic import Field

from recs_assets.automation.landing_zone import LandedFile, LandedFileChanged, LandingZone
from recs_assets.ingest.append import append_transactions, read_transaction_file
from recs_assets.ingest.schema import LANDED_TRANSACTIONS, LANDING_SCHEMA
from recs_assets.ingest.validation import RawDataError
from recs_assets.resources.warehouse import Warehouse


class LandedFileConfig(Config):
    """The file to append, as the landing sensor saw it."""

    name: str = Field(description="File name inside the landing zone.")
    fingerprint: str = Field(description="Content hash (sha256, or a single-part S3 ETag: MD5); names the load.")
    size: int = Field(0, ge=0)


@asset(group_name="raw", kinds={"python"}, tags={"recs_assets/feed": "landing"})
def landed_transactions(
    context: AssetExecutionContext, config: LandedFileConfig, warehouse: Warehouse, landing: LandingZone
) -> MaterializeResult:
    """Purchase lines appended after the initial load, one landed file per materialization; the
    staging model unions them with raw_transactions."""
    file = LandedFile(config.name, config.fingerprint, config.size)
    try:
        content = landing.read_verified(file)
    except LandedFileChanged as err:
        raise Failure(str(err), metadata={"file": file.name, "fingerprint": file.fingerprint}) from None
    except (FileNotFoundError, OSError) as err:
        raise Failure(f"{file.name} is no longer in {landing.describe()} ({err}); nothing was loaded") from None
    try:
        summary = append_transactions(warehouse, file.name, read_transaction_file(file.name, content), file.load_id)
    except RawDataError as err:
        where = landing.quarantine(file, str(err))
        raise Failure(
            description=f"{err}. The file was moved to {where}.",
            metadata={"file": file.name, "quarantined_to": where, "problem": str(err)},
        ) from None
    archived = landing.archive(file)
    total, _ = warehouse.table_stats(LANDING_SCHEMA, LANDED_TRANSACTIONS.name)
    context.log.info(f"appended {summary['rows']} rows from {file.name}; archived to {archived}")
    return MaterializeResult(
        metadata={
            "file": file.name,
            "fingerprint": file.fingerprint,
            "load_id": file.load_id,
            "rows_appended": summary["rows"],
            "customers": summary["customers"],
            "articles": summary["articles"],
            "days": f"{summary['first_day']} .. {summary['last_day']}",
            "archived_to": archived,
            "dagster/row_count": total,
            "dagster/table_name": summary["table"],
            "landing_zone": MetadataValue.text(landing.describe()),
        }
    )
